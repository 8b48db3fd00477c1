#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address) into their own build
# directory and runs each for SECONDS (default 15), seeded from tests/data/bad/ and good
# samples (make_seeds.py). Exit 1 when a fuzzer finds a crash, leak of control, timeout or
# oversized allocation; the reproducer is left in $BUILD/fuzz-artifacts/. docs/fuzzing.md.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS] [READER...]     READER: npy safetensors zip pickle
# Environment: FL_FUZZ_BUILD_DIR (default <repo>/build-fuzz), FL_FUZZ_JOBS (default 2).
set -euo pipefail

SECS=${1:-15}
shift || true
READERS=("$@")
[[ ${#READERS[@]} -eq 0 ]] && READERS=(npy safetensors zip pickle)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${FL_FUZZ_BUILD_DIR:-$SRC/build-fuzz}
JOBS=${FL_FUZZ_JOBS:-2}

if ! command -v clang++ >/dev/null; then
  echo "run_fuzzers: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
if [[ ! -f "$BUILD/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFL_BUILD_GUI=OFF -DFL_BUILD_TESTS=OFF -DFL_BUILD_FUZZERS=ON \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer" >/dev/null
fi
targets=()
for r in "${READERS[@]}"; do targets+=("fuzz_$r"); done
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"

/usr/bin/python3 "$SRC/tests/fuzz/make_seeds.py" "$BUILD/fuzz-seeds"
mkdir -p "$BUILD/fuzz-artifacts"
# LibTorch is not instrumented: its own allocations and exit-time state are not ours to judge.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:alloc_dealloc_mismatch=0}
status=0
for r in "${READERS[@]}"; do
  corpus="$BUILD/fuzz-corpus/$r"
  mkdir -p "$corpus"
  echo "== fuzz_$r for ${SECS}s"
  # -malloc_limit_mb: one allocation above it is a finding (a size trusted before checking).
  if ! OMP_NUM_THREADS=1 "$BUILD/bin/fuzz_$r" -max_total_time="$SECS" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$BUILD/fuzz-artifacts/$r-" "$corpus" "$BUILD/fuzz-seeds/$r" \
      >"$BUILD/fuzz-$r.log" 2>&1; then
    echo "fuzz_$r FAILED; see $BUILD/fuzz-$r.log and $BUILD/fuzz-artifacts/" >&2
    tail -40 "$BUILD/fuzz-$r.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$BUILD/fuzz-$r.log" | tail -2
  fi
done
exit $status
