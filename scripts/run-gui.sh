#!/usr/bin/env bash
# Opens the FusionLens window on its built-in demo; explains what to do without a display.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" && "${QT_QPA_PLATFORM:-}" != offscreen ]]; then
  echo "fusionlens: no display found (DISPLAY and WAYLAND_DISPLAY are unset)." >&2
  echo "  Run it under a virtual display:  xvfb-run -s '-screen 0 1600x1000x24' make run" >&2
  echo "  or use the headless CLI:         build/bin/fusionlens-cli --help" >&2
  exit 1
fi
exec build/bin/fusionlens --demo "$@"
