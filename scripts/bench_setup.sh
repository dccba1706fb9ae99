#!/usr/bin/env bash
# Makes sure wrk (the HTTP load generator of bench/run.py) is installed. Installs it with apt-get
# only when it is missing, as scripts/browser_setup.sh does for chromium. Without wrk the bench
# falls back to a Python load generator whose req/s are not comparable, so `make bench` calls this
# first; when wrk cannot be installed it says why on stderr and exits non-zero (the bench then
# warns and uses the fallback). Alone: ./scripts/bench_setup.sh
set -uo pipefail
. "$(dirname "$0")/apt_install.sh"

# `wrk --version` exits 1 after printing its version (and usage), so "runs" = it names itself.
works() {
  command -v wrk >/dev/null 2>&1 || return 1
  local out
  out="$(wrk --version 2>&1 || true)"
  [[ "$out" == wrk\ * ]]
}

works && exit 0
apt_install "the bench" wrk || exit 1
works || { echo "wrk installed but does not run" >&2; exit 1; }
