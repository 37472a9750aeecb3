#!/usr/bin/env bash
# Make sure the openssl command is installed: the STARTTLS tests make their certificate with it.
set -euo pipefail
if command -v openssl >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-openssl: installing Debian's openssl"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  command -v openssl >/dev/null 2>&1 && exit 0
fi
echo "ensure-openssl: no openssl command. Install it (sudo apt-get install openssl)." >&2
exit 1
