"""Password hashing (argon2id) and the password policy.

Parameters are OWASP's recommended minimum for argon2id (19 MiB, 2 iterations, 1 lane).
Hashing runs in a worker thread: it is deliberately slow and must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import re
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from server.infra.errors import invalid

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
# Verified against when the account does not exist, so timing does not reveal which emails
# have accounts.
_DUMMY_HASH = _hasher.hash("officehours-timing-equaliser")


@cache
def _common() -> frozenset[str]:
    text = files("server.people").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_policy(password: str, *, email: str | None = None) -> None:
    """Refuse short, very long or very common passwords, with a message saying which."""
    if len(password) < MIN_LENGTH:
        raise invalid(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise invalid(f"a password has at most {MAX_LENGTH} characters")
    lowered = password.lower()
    stem = re.sub(r"[\d!.]+$", "", lowered)
    if lowered in _common() or stem in _common() or len(set(lowered)) < 4:
        raise invalid("that password is too common; choose another")
    if email and lowered.startswith(email.split("@", 1)[0].lower()):
        raise invalid("a password may not start with your email name")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when it matches; takes the same time whether or not an account exists."""

    def verify() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
