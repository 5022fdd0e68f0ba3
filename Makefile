# The README's two commands: `make demo` and `make check`.  Both install
# the Debian packages they need first (scripts/deps).
BUILD ?= build

.PHONY: all deps build check demo clean lab-up lab-down

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

# The local lab (docs/lab.md), as root.
lab-up: build
	LAB_BUILD=$(CURDIR)/$(BUILD) lab/up

lab-down:
	lab/down

clean:
	rm -rf build build-san
