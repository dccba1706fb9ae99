#!/usr/bin/env bash
# A signed request to the Levqor partner API: GET /api/v1/partner/me.
# Needs LEVQOR_BASE_URL, LEVQOR_KEY_ID and LEVQOR_SECRET in the environment.
set -euo pipefail

method=GET
path=/api/v1/partner/me
query=""
body=""
timestamp=$(date +%s)
nonce=$(openssl rand -hex 16)  # 32 characters, new for every request
body_sha256=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
signature=$(printf '%s\n%s\n%s\n%s\n%s\n%s' "$method" "$path" "$query" "$timestamp" "$nonce" "$body_sha256" \
  | openssl dgst -sha256 -hmac "$LEVQOR_SECRET" | awk '{print $NF}')

curl --silent --show-error --fail-with-body --write-out '\n%{http_code}\n' \
  -X "$method" "$LEVQOR_BASE_URL$path${query:+?$query}" \
  -H "X-Levqor-Key-Id: $LEVQOR_KEY_ID" \
  -H "X-Levqor-Timestamp: $timestamp" \
  -H "X-Levqor-Nonce: $nonce" \
  -H "X-Levqor-Signature: v1=$signature"
