#!/usr/bin/env bash
# `make chaos`: the fault rehearsal across hosts (scripts/chaos/chaos.py, docs-chaos.md).
# Needs root (network namespaces), iproute2, util-linux (unshare, runuser), PostgreSQL's server
# binaries (initdb, pg_ctl, postgres: PG_BIN, default /usr/lib/postgresql/15/bin) and redis-server.
# Missing Debian packages are installed with apt-get; where that cannot be done it says what is
# missing and exits 2. Whatever a run leaves (namespaces lqc-*, bridge lqc-br0, their processes,
# /tmp/lqc-chaos-*) is removed at its start and at its end, also on Ctrl-C or failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
export PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

if [ "$(id -u)" != 0 ]; then
  echo "chaos: needs root (ip netns, veth, a bridge); run it as root or with sudo" >&2; exit 2
fi
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
{ command -v unshare && command -v runuser; } >/dev/null 2>&1 || missing+=(util-linux)
[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] || missing+=(postgresql-15)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  . scripts/apt_install.sh
  apt_install "the fault rehearsal" "${missing[@]}" || {
    echo "chaos: missing ${missing[*]} and could not install them with apt-get" >&2; exit 2; }
fi
id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres || {
  echo "chaos: no 'postgres' user to run PostgreSQL as (it refuses root)" >&2; exit 2; }

cleanup() { "$PY" scripts/chaos/chaos.py --cleanup >/dev/null 2>&1 || true; }
child=""
# Ctrl-C or SIGTERM: the driver is told (SIGTERM: it tears its cluster down and prints nothing
# more), then whatever is left is removed.
stop() {
  trap - INT TERM
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  cleanup
  exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM
"$PY" scripts/chaos/chaos.py "$@" &
child=$!
wait "$child"; status=$?
cleanup
exit "$status"
