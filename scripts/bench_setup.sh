#!/usr/bin/env bash
# Makes sure wrk (the HTTP load generator of bench/run.py) is installed. Installs it with apt-get
# only when it is missing, as scripts/browser_setup.sh does for chromium. Without wrk the bench
# falls back to a Python load generator whose req/s are not comparable, so `make bench` calls this
# first; when wrk cannot be installed it says why on stderr and exits non-zero (the bench then
# warns and uses the fallback). Alone: ./scripts/bench_setup.sh
set -uo pipefail

# `wrk --version` exits 1 after printing its version (and usage), so "runs" = it names itself.
works() {
  command -v wrk >/dev/null 2>&1 || return 1
  local out
  out="$(wrk --version 2>&1 || true)"
  [[ "$out" == wrk\ * ]]
}

if works; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no wrk and no apt-get to install it: install wrk (https://github.com/wg/wrk) for real bench figures" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "no wrk, and installing it needs root (apt-get install -y wrk)" >&2; exit 1
  fi
fi
echo "== installing wrk for the bench (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq >/dev/null 2>&1; then
  echo "apt-get update failed" >&2; exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1; then
  echo "apt-get install wrk failed" >&2; exit 1
fi
if works; then
  exit 0
fi
echo "wrk installed but does not run" >&2
exit 1
