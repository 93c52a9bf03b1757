"""High-entropy secrets (API tokens, share links, session ids, CSRF tokens) and their stored digests.

Only SHA-256 digests go into the database: the secrets carry 256 bits of randomness, so a
fast hash is enough (no KDF needed) and lookup by digest stays a unique-index probe.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "tl_"
SHARE_PREFIX = "tls_"
DISPLAY_CHARS = 10


def new_secret(prefix: str = TOKEN_PREFIX) -> str:
    """A fresh secret: ``prefix`` + 43 URL-safe characters (32 random bytes)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The hex SHA-256 of a secret, as stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def display_prefix(secret: str) -> str:
    """The first characters of a secret, enough to recognise it in a list, far too few to use it."""
    return secret[:DISPLAY_CHARS]


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
