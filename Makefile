# The README's two commands: `make demo` and `make check`.  Both install
# the Debian packages they need first (scripts/deps).
BUILD ?= build

.PHONY: all deps build check demo fuzz clean lab-up lab-down

all: build

deps:
	@scripts/deps

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

check: deps
	scripts/check

demo: build
	scripts/demo

# Every libFuzzer harness of tests/fuzz for FUZZ_SECONDS each (default 60),
# under ASan + UBSan, in build-fuzz (Debian's clang).
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

# The local lab (docs/lab.md), as root.
lab-up: build
	LAB_BUILD=$(CURDIR)/$(BUILD) lab/up

lab-down:
	lab/down

clean:
	rm -rf build build-san build-fuzz
