"""A signed request to the Levqor partner API: GET /api/v1/partner/me.
Needs LEVQOR_BASE_URL, LEVQOR_KEY_ID and LEVQOR_SECRET in the environment."""

import hashlib
import hmac
import os
import secrets
import time

import httpx

base_url = os.environ["LEVQOR_BASE_URL"]  # e.g. https://api.levqor.ai
key_id = os.environ["LEVQOR_KEY_ID"]  # lpk_...
secret = os.environ["LEVQOR_SECRET"]  # lps_...


def signed_headers(method: str, path: str, query: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    nonce = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-], new for every request
    signed = "\n".join([method.upper(), path, query, timestamp, nonce, hashlib.sha256(body).hexdigest()])
    signature = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
    return {"X-Levqor-Key-Id": key_id, "X-Levqor-Timestamp": timestamp, "X-Levqor-Nonce": nonce,
            "X-Levqor-Signature": f"v1={signature}"}


path, query, body = "/api/v1/partner/me", "", b""
response = httpx.get(base_url + path, headers=signed_headers("GET", path, query, body))
print(response.status_code)
print(response.text)
response.raise_for_status()
