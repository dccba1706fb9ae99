#!/usr/bin/env bash
# Runs the web server (gunicorn) and the worker + scheduler (django-q2 qcluster) together.
# Ctrl-C or SIGTERM stops both. Called by `make run` after setup.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"

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
cleanup() { kill -TERM "$WORKER" 2>/dev/null || true; wait "$WORKER" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "Levqor: web on http://127.0.0.1:${PORT} (${WEB_CONCURRENCY} gunicorn worker(s)), worker pid ${WORKER}" >&2
.venv/bin/gunicorn levqor.wsgi --bind "0.0.0.0:${PORT}" --workers "$WEB_CONCURRENCY" \
  --access-logfile - --graceful-timeout 20 &
WEB=$!
wait -n "$WEB" "$WORKER"
