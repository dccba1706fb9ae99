#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/browser/).
# Installs it with apt-get only when it is missing; Playwright's own browser download is never
# used (it fetches builds from outside the package registries). Exits 0 when chromium runs,
# non-zero with the reason on stderr otherwise: scripts/test.sh then skips the browser tests
# and says so. `make test` calls it; alone: ./scripts/browser_setup.sh
set -uo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
. "$(dirname "$0")/apt_install.sh"

works() { "$CHROMIUM" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; }

[ -x "$CHROMIUM" ] && works && exit 0
apt_install "the browser tests" chromium fonts-dejavu-core || exit 1
[ -x "$CHROMIUM" ] && works && exit 0
echo "$CHROMIUM installed but does not start" >&2
exit 1
