#!/usr/bin/env bash
# Installs the Debian 12 packages FusionLens needs, only those that are missing.
# Called by `make run` and `make test`; safe to run again.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev python3-torch python3-numpy python3-pil libopenblas0-openmp
  libopencv-dev nlohmann-json3-dev zlib1g-dev
  qt6-base-dev qt6-base-dev-tools libqcustomplot-dev qt6-svg-dev libqt6svg6
  libgl-dev libglx-dev
  libgtest-dev googletest
  xvfb xauth fonts-dejavu-core

  poppler-utils git
  # scripts/gen_colormaps.py (regenerating the colormap tables), GUI click-through checks
  python3-matplotlib xdotool
  clang libclang-rt-14-dev
  # Fashion-MNIST: scripts/train_demo.py and the demo-network accuracy tests (tests/demo)
  dataset-fashion-mnist
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: missing Debian packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-deps: run as root, or install them: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
