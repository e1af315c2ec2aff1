# The two commands: `make demo` (the main job) and `make test` (every test).
# Both install what is missing (scripts/setup.sh), build incrementally, and are idempotent.
.PHONY: all setup build test demo format clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@bash scripts/build.sh

test: build
	@bash scripts/test.sh

demo: build
	@bash scripts/demo.sh

format:
	git ls-files '*.h' '*.cc' '*.cu' '*.cuh' | xargs clang-format -i

clean:
	rm -rf build
