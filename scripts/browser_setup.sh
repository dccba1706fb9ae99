#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/browser/).
# Installs it with apt-get only when it is missing; Playwright's own browser download is never
# used (it fetches builds from outside the package registries). Exits 0 when chromium runs,
# non-zero with the reason on stderr otherwise: scripts/test.sh then skips the browser tests
# and says so. `make test` calls it; alone: ./scripts/browser_setup.sh
set -uo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

works() { "$CHROMIUM" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; }

if [ -x "$CHROMIUM" ] && works; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no $CHROMIUM and no apt-get to install it" >&2; exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "no $CHROMIUM, and installing it needs root (apt-get install -y chromium)" >&2; exit 1
fi
echo "== installing Debian's chromium for the browser tests (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/dev/null 2>&1; then
  echo "apt-get update failed" >&2; exit 1
fi
if ! apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1; then
  echo "apt-get install chromium failed" >&2; exit 1
fi
if [ -x "$CHROMIUM" ] && works; then
  exit 0
fi
echo "$CHROMIUM installed but does not start" >&2
exit 1
