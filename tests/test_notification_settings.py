"""A person's notification settings over HTTP: everything on until changed, replaced whole
and only by the person, bad input refused without a change, in the person's export and gone
when the account closes. (Who may call the routes at all: tests/test_authorization_matrix.py.)"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.http.keys import DB
from server.people.notification_settings import NotificationSettingsRow
from tests.browsers import Browser
from tests.conftest import Office

PATH = "/api/me/notifications"
ALL_ON = {
    "knocks": True,
    "direct_messages": True,
    "mentions": True,
    "guests_waiting": True,
    "mentoring_sessions": True,
    "sound": True,
}
QUIETER = ALL_ON | {"direct_messages": False, "sound": False}


async def settings_of(person: Browser) -> dict[str, Any]:
    response = await person.request("GET", PATH)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def test_everything_notifies_until_the_person_changes_it_and_only_for_them(
    office: Office, browser: Callable[[], Browser]
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    bob = await browser().sign_in("bob@acme.example")
    assert await settings_of(alice) == ALL_ON

    changed = await alice.request("PUT", PATH, json=QUIETER)
    assert changed.status == 200 and await changed.json() == QUIETER
    assert await settings_of(alice) == QUIETER
    assert await settings_of(bob) == ALL_ON  # Alice's choice is hers alone

    # Replaced whole again: back on, and Bob's own change leaves Alice's alone.
    assert (await alice.request("PUT", PATH, json=ALL_ON)).status == 200
    assert (await bob.request("PUT", PATH, json=ALL_ON | {"knocks": False})).status == 200
    assert await settings_of(alice) == ALL_ON
    assert (await settings_of(bob))["knocks"] is False


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in QUIETER.items() if k != "mentions"},  # a field missing
        QUIETER | {"email": True},  # a field nobody wrote down
        QUIETER | {"sound": "off"},
        QUIETER | {"knocks": 0},  # not a boolean, though it looks like one
        QUIETER | {"knocks": None},
        [False] * 6,
    ],
    ids=["missing", "unknown", "string", "number", "null", "list"],
)
async def test_bad_settings_are_refused_with_a_clear_error_and_change_nothing(
    client: TestClient[Any, Any], office: Office, browser: Callable[[], Browser], body: Any
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    assert (await alice.request("PUT", PATH, json=QUIETER)).status == 200
    refused = await alice.request("PUT", PATH, json=body)
    assert refused.status == 400
    assert refused.content_type == "application/json"
    error = (await refused.json())["error"]
    assert error["code"] == "invalid" and error["message"]
    assert await settings_of(alice) == QUIETER


async def test_a_change_needs_the_csrf_token_and_a_session(
    office: Office, browser: Callable[[], Browser]
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    forged = await alice.request("PUT", PATH, json=QUIETER, csrf=False)
    assert forged.status == 403
    assert await settings_of(alice) == ALL_ON
    nobody = await browser().request("PUT", PATH, json=QUIETER)
    assert nobody.status == 401


def unzip(body: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {n: archive.read(n).decode() for n in archive.namelist()}


async def test_the_settings_are_in_the_export_and_go_with_the_account(
    client: TestClient[Any, Any], office: Office, browser: Callable[[], Browser]
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    untouched = unzip(await (await alice.request("GET", "/api/me/export")).read())
    assert json.loads(untouched["notifications/settings.json"]) == []  # defaults: no row

    assert (await alice.request("PUT", PATH, json=QUIETER)).status == 200
    exported = unzip(await (await alice.request("GET", "/api/me/export")).read())
    (held,) = json.loads(exported["notifications/settings.json"])
    assert {k: held[k] for k in QUIETER} == QUIETER and held["updated_at"]
    assert "`notifications/`" in exported["README.md"]

    closed = await alice.request("POST", "/api/me/close-account", json={"confirm": True})
    assert closed.status == 204
    async with client.app[DB]() as session:
        assert await session.get(NotificationSettingsRow, office.alice.id) is None
