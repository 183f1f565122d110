#!/usr/bin/env bash
# What `make setup`, `make test` and `make demo` need, checked in a few seconds before any of
# them starts (not after minutes of tests): a python3 >= 3.11 with venv and pip, and (for a
# first install and the layer build) PyPI reachable through pip. No python3.12, no Docker,
# no AWS account. Prints one line per missing thing and exits 1.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
need_network="${1:-}"
missing=0
say() { echo "prereqs: $*" >&2; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  say "no $PYTHON on PATH: install Python 3.11 or newer (or make PYTHON=/path/to/python3)"
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  say "$PYTHON is $("$PYTHON" -V 2>&1); Python 3.11 or newer is needed"
  missing=1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  say "$PYTHON has no venv/ensurepip (Debian/Ubuntu: apt-get install python3-venv)"
  missing=1
fi
if [ "$need_network" = "--network" ]; then
  # One small binary-only download for the Lambda platform: proves the index answers and that
  # pip can fetch the layer's aarch64/3.12 wheels from here.
  probe="$(mktemp -d)"
  if ! "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux2014_aarch64 --python-version 3.12 --implementation cp -d "$probe" "tzdata" \
      >/dev/null 2>&1; then
    say "pip cannot download from the package index (PyPI or PIP_INDEX_URL): the layer build needs it"
    missing=1
  fi
  rm -rf "$probe"
fi
[ "$missing" = 0 ] && echo "prereqs: ok ($("$PYTHON" -V 2>&1))"
exit "$missing"
