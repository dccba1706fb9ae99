#!/usr/bin/env bash
# Property-based API test: schemathesis generates requests from the OpenAPI schema the service
# serves (/public/openapi.json) and checks that no answer is a 5xx and every answer matches the
# schema. Runs a real gunicorn on a throwaway SQLite database, with a test-mode key and a
# live-mode key for the same user, on 127.0.0.1 only. `make test` calls it; alone:
#   ./scripts/api_fuzz.sh [MAX_EXAMPLES]     (default 25 per operation)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
EXAMPLES="${1:-${FUZZ_MAX_EXAMPLES:-25}}"
TMP=$(mktemp -d)
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WEB=""; STRIPE_FAKE=""
cleanup() {
  kill $WEB $STRIPE_FAKE 2>/dev/null || true; wait $WEB $STRIPE_FAKE 2>/dev/null || true; rm -rf "$TMP"
}
trap cleanup EXIT
export DJANGO_SETTINGS_MODULE=levqor.settings LEVQOR_VAR_DIR="$TMP" SQLITE_PATH="$TMP/fuzz.sqlite3" DEBUG=0
unset DATABASE_URL REDIS_URL
export OUTBOUND_ALLOW_PRIVATE=false
# Thousands of generated requests from one address and key: limits and quotas high enough not to
# answer them all with 429 (those answers are tested in the suite), so every endpoint is exercised.
export RATELIMIT_WRITES_PER_IP=1000000 RATELIMIT_GLOBAL=1000000 RATELIMIT_SENSITIVE_PER_IP=1000000 \
  RATELIMIT_KEY_SANDBOX=1000000 API_QUOTA_SANDBOX=unlimited

# Billing against a local fake Stripe (tests/fake_stripe.py) with a test-mode key and the tier
# prices synced, so checkout and portal are fuzzed through their real paths (not only their 503
# billing_not_configured); the fuzz's keys are test-mode keys, which use the test key alone.
$PY -m tests.fake_stripe "$TMP/stripe-url" &
STRIPE_FAKE=$!
for _ in $(seq 1 100); do [ -s "$TMP/stripe-url" ] && break; sleep 0.1; done
export STRIPE_API_BASE="$(cat "$TMP/stripe-url")" STRIPE_TEST_SECRET_KEY=sk_test_fuzz STRIPE_WEBHOOK_SECRET=whsec_fuzz
unset STRIPE_SECRET_KEY

$PY manage.py migrate --noinput -v0
$PY manage.py stripe_sync_products --test >/dev/null
KEY=$($PY manage.py create_api_key --email fuzz@levqor.local --test --name fuzz | tail -n 1)
# The operator APIs (partner review, governance, flags...) answer only staff: a staff member's key
# with admin:read fuzzes them in a pass of their own.
DJANGO_SUPERUSER_PASSWORD="$(head -c 24 /dev/urandom | base64)" \
  $PY manage.py createsuperuser --noinput --email ops-fuzz@levqor.local >/dev/null
OPS_KEY=$($PY manage.py create_api_key --email ops-fuzz@levqor.local --test --name fuzz-ops \
  --scopes jobs:read,jobs:write,users:read,users:write,webhooks:read,webhooks:write,partners:read,partners:write,admin:read \
  | tail -n 1)

# No request-line cap: the fuzz tests the application's answers; gunicorn's own 414 for request
# lines over 4 KiB (an HTML page, before Django) stays in front of it in production.
.venv/bin/gunicorn levqor.wsgi --bind "127.0.0.1:${PORT}" --workers 1 --log-level warning --limit-request-line 0 &
WEB=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:${PORT}/health" >/dev/null 2>&1 && break
  sleep 0.1
done

fuzz() {
  .venv/bin/schemathesis run "http://127.0.0.1:${PORT}/public/openapi.json" \
    --header "X-Api-Key: ${FUZZ_KEY:-$KEY}" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$EXAMPLES" --seed 20261125 --request-timeout 20 --no-color "$@"
}
# Rotating or revoking can end the fuzz's own key (it lists its keys and finds itself), so those
# two run last, after every other operation had a working key.
ENDS_KEYS='^/api/v1/keys/\{key_id\}/(rotate|revoke)$'
# The signed partner API (/api/v1/partner/...) takes only signed requests, which a fixed header
# cannot make: there the fuzz checks the 401s are answered as documented.
fuzz --exclude-path-regex "$ENDS_KEYS"
OPERATOR_PATHS='^/api/(v1/(flags|intelligence/|governance/|partners)|partners)'
FUZZ_KEY="$OPS_KEY" fuzz --include-path-regex "$OPERATOR_PATHS"
fuzz --include-path-regex "$ENDS_KEYS"
