#!/usr/bin/env bash
# Runs the web server (gunicorn) and the worker + scheduler (django-q2 qcluster) together.
# Ctrl-C or SIGTERM stops both. Called by `make run` after setup.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PORT="${PORT:-8000}"
# The address to print: SITE_URL from the settings, the one the sign-in links are made from.
SITE_URL="$($PY -c 'import os; os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levqor.settings")
from django.conf import settings; print(settings.SITE_URL)')"

if [ -z "${DATABASE_URL:-}" ]; then
  # Embedded mode: SQLite has one writer and the local-memory cache is per process, so one
  # sync web worker keeps rate limits and caches correct. PostgreSQL + Redis scale out.
  WEB_CONCURRENCY="${WEB_CONCURRENCY:-1}"
else
  WEB_CONCURRENCY="${WEB_CONCURRENCY:-$(( $(nproc) * 2 ))}"
fi

$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0
$PY manage.py demo_setup

$PY manage.py qcluster &
WORKER=$!
.venv/bin/gunicorn levqor.wsgi --bind "0.0.0.0:${PORT}" --workers "$WEB_CONCURRENCY" \
  --access-logfile - --graceful-timeout 20 &
WEB=$!
echo "Levqor: web on ${SITE_URL} (${WEB_CONCURRENCY} gunicorn worker(s), pid ${WEB}), worker pid ${WORKER}" >&2

stop() {
  trap - INT TERM EXIT
  kill -TERM "$WEB" "$WORKER" 2>/dev/null || true
  # Both finish what they are doing; after 25 s whatever is left is killed (the lease
  # reaper re-runs any job that was cut off).
  for _ in $(seq 1 250); do
    kill -0 "$WEB" 2>/dev/null || kill -0 "$WORKER" 2>/dev/null || break
    sleep 0.1
  done
  pkill -KILL -P "$WORKER" 2>/dev/null || true
  kill -KILL "$WEB" "$WORKER" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT
# When either one stops, stop the other too.
wait -n "$WEB" "$WORKER"
