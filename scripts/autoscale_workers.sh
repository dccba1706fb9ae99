#!/usr/bin/env bash
# Keep as many worker processes (django-q2 `manage.py qcluster`, one systemd unit each:
# levqor-worker@1, levqor-worker@2, ...) running as Levqor's profit-driven autoscale wants.
# Run it every minute (a systemd timer or cron); it reads GET /ops/autoscale/metrics
# ({"desired_workers": N}) with an operator's key (admin:read) and starts or stops units so
# that exactly 1..N run. When the endpoint cannot be read it changes nothing and exits 1.
#
#   LEVQOR_URL=https://levqor.example LEVQOR_API_KEY_FILE=/etc/levqor/autoscale.key \
#     scripts/autoscale_workers.sh
#
# LEVQOR_WORKER_UNIT (default levqor-worker): the template unit's name, without "@".
# LEVQOR_WORKERS_CAP (default 16): never more units than this, whatever the answer says; units
# numbered up to it are stopped when not wanted.
# SYSTEMCTL (default systemctl): the command that starts and stops units.
set -euo pipefail

url="${LEVQOR_URL:?set LEVQOR_URL, e.g. https://levqor.example}"
key_file="${LEVQOR_API_KEY_FILE:?set LEVQOR_API_KEY_FILE: a file holding an admin:read key}"
unit="${LEVQOR_WORKER_UNIT:-levqor-worker}"
cap="${LEVQOR_WORKERS_CAP:-16}"
systemctl="${SYSTEMCTL:-systemctl}"

# The key goes in a header read from a file, never on the command line (ps would show it).
if ! body="$(curl -fsS --max-time 10 -H @<(printf 'X-Api-Key: %s\n' "$(cat "$key_file")") \
    "${url%/}/ops/autoscale/metrics")"; then
  echo "autoscale: ${url%/}/ops/autoscale/metrics could not be read; workers left as they are" >&2
  exit 1
fi
desired="$(printf '%s' "$body" | sed -n 's/.*"desired_workers"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')"
if [ -z "$desired" ]; then
  echo "autoscale: no desired_workers in the answer ($body); workers left as they are" >&2
  exit 1
fi
if [ "$desired" -gt "$cap" ]; then
  desired="$cap"
fi

for n in $(seq 1 "$cap"); do
  if [ "$n" -le "$desired" ]; then
    if ! "$systemctl" is-active --quiet "${unit}@${n}"; then
      "$systemctl" start "${unit}@${n}"
      echo "autoscale: started ${unit}@${n} (${desired} wanted)"
    fi
  elif "$systemctl" is-active --quiet "${unit}@${n}"; then
    # SIGTERM: the cluster finishes its tasks; a job cut off after the stop timeout is re-run
    # by the lease reaper.
    "$systemctl" stop "${unit}@${n}"
    echo "autoscale: stopped ${unit}@${n} (${desired} wanted)"
  fi
done
