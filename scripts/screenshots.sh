#!/usr/bin/env bash
# Writes docs/screenshots/*.png: one screenshot of each view, taken by the app itself
# (--screenshot grabs the window after the first result) under a virtual X display.
# Usage: scripts/screenshots.sh [OUTDIR]   (needs build/bin/fusionlens and xvfb-run)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots}
mkdir -p "$out"
app=build/bin/fusionlens
img=resources/images
export XDG_CONFIG_HOME=$(mktemp -d)   # a fresh window layout, not the user's
shot() {
  local name=$1; shift
  echo "screenshot: $name"
  xvfb-run -a -s '-screen 0 1600x1000x24' "$app" --screenshot "$out/$name.png" "$@"
}
shot demo-cbam-spatial        --demo
shot aff-gate-channel         --module aff --show probe.weight --channel 5 "$img/fruits.jpg"
shot aff-gate-two-frames       --module aff --show probe.weight "$img/rubberwhale1.png" "$img/rubberwhale2.png"
shot eca-channel-bars         --module eca --show probe.channel_weight --channel 12 "$img/butterfly.jpg"
shot msf-scale-weights        --module msf --show probe.scale_weights "$img/fruits.jpg"
shot osra-attention-query     --module osra --show probe.attention --query 20,12 --features filterbank:channels=64,stride=8 "$img/squirrel_cls.jpg"
shot cmgm-attention-query     --module cmgm --show probe.attention --query 30,20 --features filterbank:channels=64,stride=16 "$img/aloeL.jpg" "$img/aloeGT.png"
shot cafm-cross-matrix        --module cafm --show probe.cross --features filterbank:channels=32,stride=4 "$img/rubberwhale1.png" "$img/rubberwhale2.png"
shot safm-modulation-pca      --module safm --show probe.modulation "$img/butterfly.jpg"
echo "wrote $out"
