#!/usr/bin/env bash
# Create the virtual environment ($1) with a Python 3.11 or newer.
set -euo pipefail
venv="${1:-.venv}"
if [ -x "$venv/bin/python" ]; then
  exit 0
fi
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "ensure-python: creating $venv with $("$candidate" --version)"
    if ! "$candidate" -m venv "$venv"; then
      echo "ensure-python: '$candidate -m venv' failed; on Debian/Ubuntu install python3-venv" >&2
      exit 1
    fi
    exit 0
  fi
done
echo "ensure-python: Python 3.11 or newer is needed (install python3.11 and python3-venv)" >&2
exit 1
