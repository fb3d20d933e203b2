# ustack: a thin front for CMake and CTest. See README.md.
#
#   make          build (optimised, with debug info) in build/
#   make check    build, then run every test: the normal build, the ASan+UBSan build (which also
#                 runs each fuzz target briefly)
#   make demo     build and show what ustack does
#   make bench    benchmarks side by side with their baselines; writes docs/benchmarks.md
#   make soak     long runs: connection churn with flat memory, 1 GiB interop transfers
#   make fuzz     long fuzz runs (in build-fuzz: ASan+UBSan, assertions, -O2): FUZZ_SECONDS
#                 and/or FUZZ_RUNS per target (default 600 s),
#                 FUZZ_JOBS at a time (default nproc), each as FUZZ_PROCS processes sharing the
#                 runs (default 1), FUZZ_TARGETS (default all); corpus grows
#                 in place; prints a table of executions, exec/s, corpus and coverage per target
#   make install  headers, static and shared library, ustack.pc (PREFIX, default /usr/local)
#
# Missing Debian packages are installed by scripts/install-deps.sh when a target needs them.

BUILD        ?= build
ASAN_BUILD   ?= build-asan
FUZZ_BUILD   ?= build-fuzz
PREFIX       ?= /usr/local
FUZZ_SECONDS ?=
FUZZ_RUNS    ?=
FUZZ_JOBS    ?=
FUZZ_PROCS   ?=
FUZZ_TARGETS ?=
JOBS         ?= $(shell nproc)
CTEST_FLAGS  ?= --output-on-failure -j$(JOBS)

.PHONY: all build deps check check-build check-asan demo bench soak fuzz install clean

all: build

deps:
	@scripts/install-deps.sh --check >/dev/null || scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

$(ASAN_BUILD)/CMakeCache.txt: | deps
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DUST_FUZZ=ON -DUST_BENCH=OFF

# The long fuzz runs' build: the sanitizers and assertions of check-asan's, optimised (-O2 makes
# fuzz_stack about twice as fast).
$(FUZZ_BUILD)/CMakeCache.txt: | deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" -DUST_FUZZ=ON -DUST_BENCH=OFF

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

check-build: build
	cd $(BUILD) && ctest $(CTEST_FLAGS) -LE fuzz

check-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest $(CTEST_FLAGS)

check: check-build check-asan

demo: build
	scripts/demo.sh $(BUILD)

bench: build
	python3 bench/run.py --build $(BUILD)

soak: build
	scripts/soak.sh $(BUILD)

fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_targets
	scripts/fuzz.sh $(if $(FUZZ_SECONDS),-s $(FUZZ_SECONDS)) $(if $(FUZZ_RUNS),-r $(FUZZ_RUNS)) \
	    $(if $(FUZZ_JOBS),-j $(FUZZ_JOBS)) $(if $(FUZZ_PROCS),-p $(FUZZ_PROCS)) \
	    $(FUZZ_BUILD) $(FUZZ_TARGETS)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
