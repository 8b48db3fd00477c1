#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into their own build directory and runs
# each for SECONDS (default 30), seeded by make_seeds.py (good files from numpy / torch, the
# hostile corpus tests/data/bad/, the constructions past findings needed). Exit 1 when a
# fuzzer finds a crash, a sanitizer report, a leak, a timeout or an oversized allocation;
# the reproducer is left in $BUILD/fuzz-artifacts/. See docs/fuzzing.md.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS] [TARGET...]   build (if needed), then run each target
#   tests/fuzz/run_fuzzers.sh --build-only            configure, build, write seeds; no fuzzing
#   tests/fuzz/run_fuzzers.sh --no-build SECONDS TARGET...   run already built targets
# TARGET: npy safetensors zip pickle checkpoint tensor_file (default: all).
# Environment: FL_FUZZ_BUILD_DIR (default <repo>/build/fuzz, where ctest builds them too),
# FL_FUZZ_JOBS (build parallelism, default 2), FL_FUZZ_MAX_LEN (default 65536).
# libFuzzer flags after `--` are passed to every target (they override the defaults below).
set -euo pipefail

ALL=(npy safetensors zip pickle checkpoint tensor_file image_header figure_spec)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${FL_FUZZ_BUILD_DIR:-$SRC/build/fuzz}
JOBS=${FL_FUZZ_JOBS:-2}
MAX_LEN=${FL_FUZZ_MAX_LEN:-65536}

build=1
run=1
case "${1:-}" in
  --build-only) run=0; shift ;;
  --no-build) build=0; shift ;;
esac
SECS=30
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then SECS=$1; shift; fi
TARGETS=()
while [[ $# -gt 0 && "$1" != "--" ]]; do TARGETS+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
EXTRA=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL[*]} " == *" $t "* ]] || { echo "run_fuzzers: unknown target '$t' (${ALL[*]})" >&2; exit 2; }
done

if [[ $build -eq 1 ]]; then
  if ! command -v clang++ >/dev/null; then
    echo "run_fuzzers: clang++ not found (apt-get install clang libclang-rt-14-dev;" \
         "scripts/install-deps.sh does)" >&2
    exit 1
  fi
  # The libFuzzer runtime is a separate Debian package; without it only the link fails.
  if [[ "$(clang++ -print-file-name=libclang_rt.fuzzer-$(uname -m).a)" != /* ]]; then
    echo "run_fuzzers: clang's libFuzzer runtime is missing (apt-get install" \
         "libclang-rt-$(clang++ -dumpversion | cut -d. -f1)-dev; scripts/install-deps.sh does)" >&2
    exit 1
  fi
  if [[ ! -f "$BUILD/build.ninja" ]]; then
    # Every translation unit gets ASan, UBSan (fatal: -fno-sanitize-recover) and coverage
    # (fuzzer-no-link); the fuzz targets add the libFuzzer driver (tests/fuzz/CMakeLists.txt).
    mkdir -p "$BUILD"
    CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DFL_BUILD_GUI=OFF -DFL_BUILD_TESTS=OFF -DFL_BUILD_FUZZERS=ON \
      -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
      >"$BUILD/configure.log" 2>&1 || { cat "$BUILD/configure.log" >&2; exit 1; }
  fi
  if [[ $run -eq 1 ]]; then
    names=(); for t in "${TARGETS[@]}"; do names+=("fuzz_$t"); done
  else
    names=(); for t in "${ALL[@]}"; do names+=("fuzz_$t"); done
  fi
  cmake --build "$BUILD" -j "$JOBS" --target "${names[@]}"
  /usr/bin/python3 "$SRC/tests/fuzz/make_seeds.py" "$BUILD/fuzz-seeds"
fi
[[ $run -eq 1 ]] || exit 0

mkdir -p "$BUILD/fuzz-artifacts"
# Leaks are findings too; LibTorch is not instrumented, so alloc/dealloc pairs across it are
# not ours to judge.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:alloc_dealloc_mismatch=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export OMP_NUM_THREADS=1
status=0
for t in "${TARGETS[@]}"; do
  bin="$BUILD/bin/fuzz_$t"
  [[ -x "$bin" ]] || { echo "run_fuzzers: $bin is not built (run with --build-only first)" >&2; exit 1; }
  corpus="$BUILD/fuzz-corpus/$t"
  mkdir -p "$corpus"
  log="$BUILD/fuzz-$t.log"
  echo "== fuzz_$t for ${SECS}s (log: $log)"
  # New inputs go to the first directory (kept: later runs continue from it); the seeds are
  # read only. -malloc_limit_mb: one allocation above it is a finding (a size trusted before
  # it was checked against the input). -timeout: one input running longer is a finding (30 s:
  # under ASan on a busy 2-core machine, seeds that hit the unpickler's object cap take 3-9 s).
  if ! "$bin" -max_total_time="$SECS" -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -max_len="$MAX_LEN" -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/$t-" \
      ${EXTRA[@]+"${EXTRA[@]}"} "$corpus" "$BUILD/fuzz-seeds/$t" >"$log" 2>&1; then
    echo "fuzz_$t FAILED; reproducer in $BUILD/fuzz-artifacts/, log $log:" >&2
    grep -v -E '^(#[0-9]+|INFO:|MS:|0x|\\|Base64)' "$log" | tail -60 >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|^#[0-9]+ +DONE" "$log" | tr '\n' ' '
    echo
  fi
done
exit $status
