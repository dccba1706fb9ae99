"""Secrets we hand out once and keep only hashed (API keys, sign-in links, opt-in links)."""

import hashlib


def secret_digest(raw: str) -> str:
    """The SHA-256 hex digest stored, and looked up, instead of the secret itself."""
    return hashlib.sha256(raw.encode()).hexdigest()
