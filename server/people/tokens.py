"""Random secrets handed to people (session cookies, invite codes and links) and the keyed
hashes under which they are stored: a copy of the database alone does not let anyone in."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(nbytes: int = 32) -> str:
    """URL-safe random string; 32 bytes is 256 bits of entropy."""
    return secrets.token_urlsafe(nbytes)


def keyed_hash(secret_key: str, value: str) -> str:
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
