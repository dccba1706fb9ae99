#!/usr/bin/env bash
# The whole suite: checks, then the tests on SQLite, then again on PostgreSQL + Redis when
# they answer on this machine (CI's do). What could not run is said, never hidden.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
status=0

echo "== checks: migrations, lint"
$PY manage.py makemigrations --check --dry-run >/dev/null || { echo "FAIL: a model change has no migration"; status=1; }
.venv/bin/ruff check . || status=1

echo "== browser: Debian's chromium for the Playwright tests (tests/browser)"
if ! browser_why=$(./scripts/browser_setup.sh 2>&1 >/dev/null); then
  # The tests marked `browser` skip themselves with the reason; say it here too, not only in -ra.
  echo "SKIPPED: browser tests ($(printf '%s' "$browser_why" | tail -n 1))"
fi

PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/levqor}"
REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"

echo "== suite on SQLite (local-memory cache, ORM broker)"
env -u DATABASE_URL -u REDIS_URL $PY -m pytest "$@" || status=1

if [ $# -eq 0 ]; then  # the whole suite, not a selection: fuzz the served API from its schema too
  echo "== API fuzz: schemathesis against /public/openapi.json (no 5xx, every answer as documented)"
  ./scripts/api_fuzz.sh || status=1
fi

pg_up=0; redis_up=0
$PY - "$PG_URL" <<'PYEOF' && pg_up=1
import sys, psycopg, dj_database_url
cfg = dj_database_url.parse(sys.argv[1])
try:
    psycopg.connect(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable: {exc}".splitlines()[0]); sys.exit(1)
PYEOF
$PY - "$REDIS" <<'PYEOF' && redis_up=1
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
except Exception as exc:
    print(f"Redis not reachable: {exc}"); sys.exit(1)
PYEOF

if [ $pg_up = 1 ] && [ $redis_up = 1 ]; then
  echo "== suite on PostgreSQL + Redis (cache, broker)"
  DATABASE_URL="$PG_URL" REDIS_URL="$REDIS" $PY -m pytest "$@" || status=1
elif [ $pg_up = 1 ]; then
  echo "SKIPPED: Redis-backed behaviour (Redis not reachable); running PostgreSQL alone"
  env -u REDIS_URL DATABASE_URL="$PG_URL" $PY -m pytest "$@" || status=1
elif [ $redis_up = 1 ]; then
  echo "SKIPPED: the PostgreSQL run (not reachable); running SQLite + Redis"
  env -u DATABASE_URL REDIS_URL="$REDIS" $PY -m pytest "$@" || status=1
else
  echo "SKIPPED: the PostgreSQL + Redis run (neither is reachable on this machine)"
fi
exit $status
