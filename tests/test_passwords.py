"""Password hashing parameters and the password policy."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters

from server.infra.errors import AppError
from server.people.passwords import check_policy, hash_password, verify_password


async def test_hashes_are_argon2id_with_at_least_owasp_parameters() -> None:
    stored = await hash_password("a-long-unusual-phrase")
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2
    assert await verify_password(stored, "a-long-unusual-phrase")
    assert not await verify_password(stored, "a-long-unusual-phrasE")
    assert not await verify_password(None, "anything-at-all")
    assert await hash_password("same-phrase-twice") != await hash_password("same-phrase-twice")


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short1!", "at least 10"),
        ("x" * 257, "at most 256"),
        ("Password123!", "too common"),
        ("qwertyuiop", "too common"),
        ("aaaaaaaaaaaa", "too common"),
        ("aliceinwonderland", "email name"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, fragment: str) -> None:
    with pytest.raises(AppError) as caught:
        check_policy(password, email="alice@acme.example")
    assert caught.value.code.value == "invalid" and fragment in caught.value.message


def test_a_reasonable_passphrase_passes() -> None:
    check_policy("correct-horse-battery", email="alice@acme.example")
