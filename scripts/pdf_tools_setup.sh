#!/usr/bin/env bash
# Makes sure poppler's pdftoppm is on PATH: the report tests write a generated PDF's first page as a
# PNG under test-artifacts/reports/ with it, so a report can be looked at as pages. Installs
# Debian's poppler-utils with apt-get only when it is missing. Exits 0 when pdftoppm runs,
# non-zero with the reason on stderr otherwise: the tests that need it then skip and say why.
set -uo pipefail
works() { pdftoppm -v >/dev/null 2>&1; }
if works; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no pdftoppm and no apt-get to install it" >&2; exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "no pdftoppm, and installing it needs root (apt-get install -y poppler-utils)" >&2; exit 1
fi
echo "== installing Debian's poppler-utils for the report page images (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || { echo "apt-get update failed" >&2; exit 1; }
  apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null 2>&1 || {
    echo "apt-get install poppler-utils failed" >&2; exit 1; }
fi
works || { echo "pdftoppm does not run after installing poppler-utils" >&2; exit 1; }
