"""Random bearer secrets (session cookies, API tokens) and how they are stored: hashed."""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "prl_"  # noqa: S105 (a public marker, not a secret)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 is enough here: the secrets are 256 random bits, not guessable passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()
