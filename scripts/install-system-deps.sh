#!/usr/bin/env bash
# Debian packages the test suite needs: Chromium for the browser tests (never a browser download), clamd for
# the malware-scan tests (they start it themselves with a tiny signature file: no signature download).
# With --bench: also what the benchmarks use to build their evaluation sets.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/clamd ] || need+=(clamav-daemon)
if [ "${1:-}" = "--bench" ]; then
  command -v fluidsynth >/dev/null || need+=(fluidsynth)
  [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need+=(fluid-soundfont-gm)
  command -v espeak-ng >/dev/null || need+=(espeak-ng)
fi
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "Please install as root: apt-get install -y ${need[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
