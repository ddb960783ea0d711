# Thin wrapper over CMake. 'make demo' and 'make test' work from a fresh
# Debian 12 clone: both install missing packages first (scripts/deps.sh).
BUILD ?= build

.PHONY: all deps build test sanitize demo bench bench-resp bench-ns clean format

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$$(nproc)

test: build
	@tests/run.sh $(BUILD)

# Every test tier again, built by clang with AddressSanitizer and
# UndefinedBehaviorSanitizer (servers and proxies too), then each fuzz
# target of tests/fuzz for FERRY_FUZZ_SECONDS (default 30).
SANITIZE_BUILD ?= build/sanitize
sanitize: deps
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_C_COMPILER=clang \
		-DFERRY_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(SANITIZE_BUILD) -j$$(nproc)
	@tests/run.sh $(SANITIZE_BUILD)

demo: build
	@scripts/demo.sh $(BUILD)

bench: build
	@$(BUILD)/bin/ferry bench

# redis-benchmark against ferry's Redis port, redis-server and redis-server
# behind a relay; options in BENCH_RESP_ARGS (scripts/bench-resp.sh --help).
bench-resp: build
	@scripts/bench-resp.sh --build $(BUILD) $(BENCH_RESP_ARGS)

# A server's instructions per namespace creation and login as namespaces
# grow (callgrind); options in BENCH_NS_ARGS (scripts/bench-ns.sh --help).
bench-ns: build
	@scripts/bench-ns.sh --build $(BUILD) $(BENCH_NS_ARGS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
