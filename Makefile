# Thin wrapper over CMake. 'make demo' and 'make test' work from a fresh
# Debian 12 clone: both install missing packages first (scripts/deps.sh).
BUILD ?= build

.PHONY: all deps build test demo bench bench-resp clean format

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$$(nproc)

test: build
	@tests/run.sh $(BUILD)

demo: build
	@scripts/demo.sh $(BUILD)

bench: build
	@$(BUILD)/bin/ferry bench

# redis-benchmark against ferry's Redis port and redis-server; options in
# BENCH_RESP_ARGS (scripts/bench-resp.sh --help).
bench-resp: build
	@scripts/bench-resp.sh --build $(BUILD) $(BENCH_RESP_ARGS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
