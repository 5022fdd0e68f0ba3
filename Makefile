# The README's two commands: `make demo` and `make check`.  Both install
# the Debian packages they need first (scripts/deps).
BUILD ?= build

.PHONY: all deps build check demo clean

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

clean:
	rm -rf build build-san
