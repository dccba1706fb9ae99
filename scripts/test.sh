#!/usr/bin/env bash
# The whole suite: checks, then the tests on SQLite, the API fuzz (whole suite only), and the
# tests again on PostgreSQL + Redis when they answer on this machine (CI's do). What could not
# run is said, never hidden.
#
# The three runs go at the same time (a machine's cores are otherwise idle while one run waits
# on a worker process, PostgreSQL or the fuzz's server), and each suite is spread over
# pytest-xdist workers, one per core. Each run writes its own log; the logs are printed whole,
# one after the other in the order above, each as soon as it and those before it have ended.
# Every run's exit status counts.
#   ./scripts/test.sh tests/jobs -k intake   a selection (pytest arguments), both databases
#   TEST_WORKERS=N      xdist workers per suite (default auto: one per core; 0: no workers)
#   TEST_SERIAL=1       one run after the other, output live, each suite in one process (debugging)
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

echo "== pdf tools: poppler's pdftoppm for the report page images (test-artifacts/reports)"
if ! pdf_why=$(./scripts/pdf_tools_setup.sh 2>&1 >/dev/null); then
  echo "SKIPPED: report page images ($(printf '%s' "$pdf_why" | tail -n 1))"
fi

PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/levqor}"
REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
SERIAL="${TEST_SERIAL:-0}"
if [ "$SERIAL" = 1 ]; then WORKERS="${TEST_WORKERS:-0}"; else WORKERS="${TEST_WORKERS:-auto}"; fi
# Work stealing: a worker that runs dry takes tests from the other's queue, so one slow test
# (a real cluster running for a minute) does not leave a core idle at the end.
PYTEST=($PY -m pytest -n "$WORKERS")
[ "$WORKERS" = 0 ] || PYTEST+=(--dist worksteal)

# Which second run this machine allows: decided first, said where its output is printed.
pg_up=0; redis_up=0
reach=$(
$PY - "$PG_URL" <<'PYEOF'
import sys, psycopg, dj_database_url
cfg = dj_database_url.parse(sys.argv[1])
try:
    psycopg.connect(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable: {exc}".splitlines()[0]); sys.exit(1)
PYEOF
) && pg_up=1
reach_redis=$(
$PY - "$REDIS" <<'PYEOF'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
except Exception as exc:
    print(f"Redis not reachable: {exc}"); sys.exit(1)
PYEOF
) && redis_up=1
reach=$(printf '%s\n%s' "$reach" "$reach_redis" | sed '/^$/d')

second_env=(); second_head=""
if [ $pg_up = 1 ] && [ $redis_up = 1 ]; then
  second_head="== suite on PostgreSQL + Redis (cache, broker)"
  second_env=(env DATABASE_URL="$PG_URL" REDIS_URL="$REDIS")
elif [ $pg_up = 1 ]; then
  second_head="SKIPPED: Redis-backed behaviour (Redis not reachable); running PostgreSQL alone"
  second_env=(env -u REDIS_URL DATABASE_URL="$PG_URL")
elif [ $redis_up = 1 ]; then
  second_head="SKIPPED: the PostgreSQL run (not reachable); running SQLite + Redis"
  second_env=(env -u DATABASE_URL REDIS_URL="$REDIS")
else
  second_head="SKIPPED: the PostgreSQL + Redis run (neither is reachable on this machine)"
fi

# The runs: name, header, command.
names=(sqlite); heads=("== suite on SQLite (local-memory cache, ORM broker)")
cmd_sqlite=(env -u DATABASE_URL -u REDIS_URL "${PYTEST[@]}" "$@")
if [ $# -eq 0 ]; then  # the whole suite, not a selection: fuzz the served API from its schema too
  names+=(fuzz); heads+=("== API fuzz: schemathesis against /public/openapi.json (no 5xx, every answer as documented)")
  cmd_fuzz=(./scripts/api_fuzz.sh)
fi
names+=(second); heads+=("$second_head")
if [ ${#second_env[@]} -gt 0 ]; then cmd_second=("${second_env[@]}" "${PYTEST[@]}" "$@"); else cmd_second=(); fi

say_reach() { [ -z "$reach" ] || printf '%s\n' "$reach"; }

if [ "$SERIAL" = 1 ]; then
  for i in "${!names[@]}"; do
    name=${names[$i]}
    [ "$name" = second ] && say_reach
    echo "${heads[$i]}"
    declare -n cmd="cmd_$name"
    if [ ${#cmd[@]} -gt 0 ]; then "${cmd[@]}" || status=1; fi
    unset -n cmd
  done
  exit $status
fi

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/levqor-test.XXXXXX")
pids=()
stop_runs() {  # Ctrl-C or a TERM: end the runs (each is a process group of its own), then leave
  trap - INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  wait
  rm -rf "$LOGS"
  exit 130
}
trap stop_runs INT TERM
running=()
for i in "${!names[@]}"; do
  name=${names[$i]}
  declare -n cmd="cmd_$name"
  if [ ${#cmd[@]} -gt 0 ]; then
    # setsid: a process group of its own, to end it whole; the time it ended is noted for the summary.
    setsid bash -c '"${@:2}"; rc=$?; echo $SECONDS >"$1"; exit $rc' _ "$LOGS/$name.end" "${cmd[@]}" \
      >"$LOGS/$name.log" 2>&1 </dev/null &
    pids[$i]=$!
    running+=("${heads[$i]#== }")
  fi
  unset -n cmd
done
echo "== running at the same time ($WORKERS xdist workers per suite): $(IFS=';'; echo "${running[*]}" | sed 's/;/; /g')"
echo "   each one's output follows whole when it has ended (TEST_SERIAL=1: one after the other, live)"

for i in "${!names[@]}"; do
  name=${names[$i]}
  [ "$name" = second ] && say_reach
  echo "${heads[$i]}"
  [ -n "${pids[$i]:-}" ] || continue
  wait "${pids[$i]}"; rc=$?
  echo "-- exit $rc, $(cat "$LOGS/$name.end" 2>/dev/null || echo '?') s from the start; its output:"
  cat "$LOGS/$name.log"
  [ $rc = 0 ] || status=1
done
rm -rf "$LOGS"
exit $status
