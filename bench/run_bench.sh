#!/usr/bin/env bash
# FusionLens vs the Python reference, every module, small and large inputs: writes
# bench/results.md (and bench/results.json). Called by `make bench` after the build.
#
#   FL_CLI=path/to/fusionlens-cli   the binary to time (default build/bin/fusionlens-cli)
#   BENCH_THREADS=1[,2]             thread counts (default 1)
#   BENCH_ARGS="--quick"            extra arguments for bench/compare.py (--quick, --modules a,b)
#
# Timings are only meaningful on a quiet machine: the script prints the load average first.
# About 3 minutes at low load on 2 cores (cmgm at 56x56 alone is about one minute).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

cli="${FL_CLI:-build/bin/fusionlens-cli}"
python=/usr/bin/python3  # Debian's interpreter with python3-torch 1.13; never the one on PATH

if [[ ! -x "$cli" ]]; then
  echo "run_bench.sh: $cli not found; build first (make build) or set FL_CLI" >&2
  exit 2
fi
if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "run_bench.sh: $python cannot import torch; install python3-torch (scripts/install-deps.sh)" >&2
  exit 2
fi

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
# The timed binary is a private copy, so a rebuild of build/ during the run cannot swap it.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -p "$cli" "$tmp/fusionlens-cli"

read -r -a extra <<< "${BENCH_ARGS:-}"
"$python" "$here/compare.py" --cli "$tmp/fusionlens-cli" --cli-label "$cli" \
  --threads "${BENCH_THREADS:-1}" "${extra[@]}"
