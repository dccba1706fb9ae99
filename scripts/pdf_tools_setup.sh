#!/usr/bin/env bash
# Makes sure poppler's pdftoppm is on PATH: the report tests write a generated PDF's first page as a
# PNG under test-artifacts/reports/ with it, so a report can be looked at as pages. Installs
# Debian's poppler-utils with apt-get only when it is missing. Exits 0 when pdftoppm runs,
# non-zero with the reason on stderr otherwise: the tests that need it then skip and say why.
set -uo pipefail
. "$(dirname "$0")/apt_install.sh"
works() { pdftoppm -v >/dev/null 2>&1; }
works && exit 0
apt_install "the report page images" poppler-utils || exit 1
works || { echo "pdftoppm does not run after installing poppler-utils" >&2; exit 1; }
