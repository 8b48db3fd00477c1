# FusionLens: the two commands a new user needs.
#   make run   install missing Debian packages, build, open the app on its built-in demo
#   make test  the same, then the whole test suite through ctest
#   make check the fast loop while developing: build, then every test but the fuzzers and the
#              sanitized GUI monkey (labels fuzz, monkey)
#   make core  the core-only configuration (no Qt: FL_BUILD_GUI=OFF) into build-core/
#   make figures  the docs' comparison figure of the trained modules, headless, from its spec
#              (docs/examples/trained-modules.spec.json -> PDF, statistics, PNG; docs/figures.md)
#   make bench the modules' timings against the seeds' code and the reference (bench/results.md)
#   make bench-interaction  the window's input -> pixels latency and cold start (bench/results.md)
PRESET ?= release
JOBS ?= $(shell nproc)

.PHONY: all deps configure build run test check core cli clean bench bench-interaction format figures

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake --preset $(PRESET)

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

run: build
	@bash scripts/run-gui.sh

test: build
	@ctest --preset $(PRESET) -j $(JOBS)

check: build
	@ctest --preset $(PRESET) -j $(JOBS) -LE 'fuzz|monkey'

core: deps
	@cmake --preset core
	@cmake --build --preset core -j $(JOBS)

figures: build
	@bash scripts/figures.sh

bench: build
	@bash bench/run_bench.sh

# The window's input -> pixels latency and cold start (bench/interaction.cpp); writes the
# Interaction section of bench/results.md, which `make bench` keeps.
bench-interaction: build
	@/usr/bin/python3 bench/interaction.py

format:
	@clang-format -i $$(git ls-files '*.h' '*.cpp')

clean:
	@rm -rf build build-core
