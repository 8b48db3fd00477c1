#!/usr/bin/env bash
# Regenerates the documentation's comparison figure of the trained demo modules, headless,
# from its spec (docs/figures.md): `make figures`. Writes
#   docs/examples/trained-modules.pdf         the figure (vector text, 300 dpi heatmaps)
#   docs/examples/trained-modules.stats.csv   its statistics (entropy, Gini, Spearman, IoU)
#   docs/screenshots/figure-trained-modules.png  the same spec as a PNG, shown in docs/figures.md
# The spec pins the SHA-256 of the garment, the trained weights and stems: if
# resources/demo/ was retrained, render refuses (exit 2) until the spec's hashes are updated.
set -euo pipefail
cd "$(dirname "$0")/.."
cli="${FL_CLI:-build/bin/fusionlens-cli}"
spec=docs/examples/trained-modules.spec.json
if [[ ! -x "$cli" ]]; then
  echo "figures: $cli is missing: build first (make build)" >&2
  exit 2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$cli" render "$spec" --out "$tmp/trained-modules.pdf" --quiet
"$cli" render "$spec" --out "$tmp/trained-modules.png" --quiet
cp "$tmp/trained-modules.pdf" docs/examples/trained-modules.pdf
cp "$tmp/trained-modules.pdf.stats.csv" docs/examples/trained-modules.stats.csv
cp "$tmp/trained-modules.png" docs/screenshots/figure-trained-modules.png
echo "wrote docs/examples/trained-modules.pdf, docs/examples/trained-modules.stats.csv," \
  "docs/screenshots/figure-trained-modules.png"
