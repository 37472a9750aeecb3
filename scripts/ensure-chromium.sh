#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (never a downloaded build).
set -euo pipefail
path="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$path" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x "$path" ] && exit 0
fi
echo "ensure-chromium: no Chromium at $path. Install it (sudo apt-get install chromium) or set \
CHROMIUM_PATH to a Chromium binary." >&2
exit 1
