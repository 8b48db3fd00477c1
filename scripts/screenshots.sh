#!/usr/bin/env bash
# Writes docs/screenshots/*.png: one screenshot of each view, taken by the app itself
# (--screenshot grabs the window after the first result and any attention rows it asked
# for) under a virtual X display of 1600x1000, the size of a small laptop screen.
# Usage: scripts/screenshots.sh [OUTDIR]   (needs build/bin/fusionlens and xvfb-run)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots}
mkdir -p "$out"
app=build/bin/fusionlens
img=resources/images
shot() {
  local name=$1; shift
  echo "screenshot: $name"
  # A fresh window layout and settings for each picture, not the user's.
  local config
  config=$(mktemp -d)
  XDG_CONFIG_HOME=$config xvfb-run -a -s '-screen 0 1600x1000x24' "$app" --screenshot "$out/$name.png" "$@"
  rm -rf "$config"
}
# The first thing a new user sees, with the default layout.
shot demo-cbam-spatial        --demo
# One view each; the Compare dock is hidden so the view has the room (View > Compare).
one() { shot "$@" --hide-dock compare; }
one aff-gate-channel          --module aff --show probe.weight --channel 5 "$img/fruits.jpg"
one aff-gate-two-frames       --module aff --show probe.weight "$img/rubberwhale1.png" "$img/rubberwhale2.png"
one eca-channel-bars          --module eca --show probe.channel_weight --channel 12 "$img/butterfly.jpg"
# Seeded scale weights stay close to 1/4 (MSF's exactly): MFE on min-max shows the differences.
one mfe-scale-weights         --module mfe --show probe.scale_weights --scale minmax "$img/fruits.jpg"
one osra-attention-query      --module osra --show probe.attention --query 20,12 --features filterbank:channels=64,stride=8 "$img/squirrel_cls.jpg"
one cmgm-attention-query      --module cmgm --show probe.attention --query 30,20 --features filterbank:channels=64,stride=16 "$img/aloeL.jpg" "$img/aloeGT.png"
# Over the memory budget: the matrix is withheld and the clicked query's row computed alone.
one cmgm-attention-on-demand  --module cmgm --show probe.attention --query 40,20 --memory 512M --features filterbank:channels=64,stride=8 "$img/fruits.jpg"
one cafm-cross-matrix         --module cafm --show probe.cross --features filterbank:channels=32,stride=4 "$img/rubberwhale1.png" "$img/rubberwhale2.png"
one safm-modulation-pca       --module safm --show probe.modulation "$img/butterfly.jpg"
# The Compare dock, opened from the example session (docs/examples/aff-iaff-cafm.flsession).
shot compare-aff-iaff-cafm    docs/examples/aff-iaff-cafm.flsession
# One trained network's attention at two depths (stride 2 and 4) over a garment, as Compare
# columns (docs/examples/cbam-2depth.flsession, resources/demo/cbam-2depth.pt).
shot cbam-two-depths          docs/examples/cbam-2depth.flsession
# Exported figures, rendered headless from the example spec as a user would (docs/figures.md),
# the PDF's page turned into a PNG by poppler for the docs.
cli=build/bin/fusionlens-cli
tmp=$(mktemp -d)
echo "figure: figure-aff-iaff-cafm (PDF page)"
"$cli" render docs/examples/aff-iaff-cafm.spec.json --out "$tmp/figure.pdf" --quiet
pdftoppm -png -r 200 -singlefile "$tmp/figure.pdf" "$out/figure-aff-iaff-cafm-pdf"
echo "figure: figure-two-rows (PNG export)"
"$cli" render docs/examples/channel-modules.spec.json --out "$tmp/rows.png" --quiet
cp "$tmp/rows.png" "$out/figure-two-rows.png"
rm -rf "$tmp"
echo "wrote $out"
