# The commands people type. The build itself is CMake (+ Ninja) in build/.
#   make          build build/slicer
#   make test     install what is missing, then style checks, the suite, the
#                 suite again under ASan+UBSan, and valgrind on the unit tests
#   make demo     build and show slicer on an emulated default
#   make bench    build with optimisation and print the benchmark tables
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all build test demo bench deps format check clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)

test: deps
	@scripts/test.sh

demo: build
	@scripts/demo.sh $(BUILD)/slicer

bench: deps
	@cmake -S . -B $(BUILD)-bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD)-bench
	@scripts/bench.sh $(BUILD)-bench

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

check:
	@scripts/check-style.sh

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-bench
