"""Issue #16, accounts: an admin's password reset cannot be turned into a quiet sign-in as the
person (finding 1); ending a session closes its live connections, on every process
(finding 7); sign-in limits cannot be raced, nor used to lock someone out (finding 8)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.app import create_app
from server.audit.tables import AuditEntry
from server.http.keys import DB, OFFICE
from server.infra.clock import FakeClock
from server.infra.settings import Settings
from server.people import auth, passwords
from tests.browsers import Browser
from tests.conftest import (
    ORIGIN,
    PASSWORD,
    Backend,
    Office,
    RealtimeClient,
    make_settings,
    postgres_and_redis_only,
)

NEW_PASSWORD = "a-brand-new-passphrase"
SECOND = 1.5  # "within a second", plus a little for a loaded machine
BACKOFF_CAP = 60  # OFFICEHOURS_LOGIN_BACKOFF_CAP_SECONDS by default


class Watched:
    """A live Socket.IO connection that remembers the events that end it."""

    def __init__(self, rt: RealtimeClient) -> None:
        self.rt = rt
        self.ended: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

        @rt.sio.on("session:ended")
        async def ended(data: Any) -> None:
            self.ended.append(data)

        @rt.sio.on("disconnect")
        async def disconnect(*_: Any) -> None:
            self.gone.set()

    async def closed_within(self, seconds: float = SECOND) -> float:
        started = time.monotonic()
        async with asyncio.timeout(seconds):
            await self.gone.wait()
        return time.monotonic() - started


async def watched(browser: Browser, realtime: Callable[[], RealtimeClient]) -> Watched:
    rt = realtime()
    w = Watched(rt)
    await browser.connect(rt)
    return w


async def still_works(w: Watched) -> None:
    assert w.rt.sio.connected
    assert (await w.rt.call("chat:list"))["ok"] is True


async def actions(client: TestClient[Any, Any], org_id: int) -> list[tuple[str, int | None]]:
    async with client.app[DB]() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.actor_id)
            .where(AuditEntry.org_id == org_id)
            .order_by(AuditEntry.seq)
        )
        return [(a.value, actor) for a, actor in rows]


async def reset_alice(office: Office, browser: Callable[[], Browser]) -> str:
    admin = await browser().sign_in("admin@acme.example")
    reset = await admin.request("POST", f"/api/org/people/{office.alice.id}/reset-password")
    assert reset.status == 200
    return str((await reset.json())["temporary_password"])


async def sign_in_answer(browser: Browser, email: str, password: str) -> Any:
    response = await browser.request(
        "POST", "/api/auth/sign-in", json={"email": email, "password": password}
    )
    body = await response.json()
    if response.status == 200:
        browser.csrf = body["csrf_token"]
    return response.status, body


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    # Behind a trusted proxy, as most deployments are: X-Forwarded-For names the client, so
    # one test can sign in from two addresses.
    return make_settings(tmp_path, backend, trusted_proxies="127.0.0.1")


# -- finding 1: admin takeover by password reset ---------------------------------------------


async def test_finding_1_a_reset_credential_signs_in_once_and_only_to_set_a_new_password(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    credential = await reset_alice(office, browser)
    holder = browser()
    status, body = await sign_in_answer(holder, "alice@acme.example", credential)
    assert status == 200
    assert body["password_change_required"] is True

    # Once: a second sign-in with the same credential fails, from anyone.
    again, _ = await sign_in_answer(browser(), "alice@acme.example", credential)
    assert again == 401

    # That session reads nothing and does nothing but set a new password.
    for method, path in (
        ("GET", "/api/me/export"),
        ("GET", "/api/office/layout"),
        ("GET", "/api/me/pending-memberships"),
        ("POST", "/api/me/close-account"),
    ):
        refused = await holder.request(method, path, json={"confirm": True})
        assert refused.status == 403, path
        assert (await refused.json())["error"]["code"] == "password_change_required", path
    rt = realtime()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await holder.connect(rt)
    assert rt.connect_error["data"]["code"] == "password_change_required"
    assert (await holder.request("GET", "/api/auth/session")).status == 200

    weak = await holder.request("POST", "/api/me/password", json={"new_password": "password1"})
    assert weak.status == 400
    done = await holder.request("POST", "/api/me/password", json={"new_password": NEW_PASSWORD})
    assert done.status == 204, await done.text()
    assert (await holder.request("GET", "/api/me/export")).status == 200
    await browser().sign_in("alice@acme.example", NEW_PASSWORD)


async def test_finding_1_a_reset_credential_expires(
    client: TestClient[Any, Any], office: Office, browser: Callable[[], Browser], clock: FakeClock
) -> None:
    credential = await reset_alice(office, browser)
    clock.advance(24 * 3600 + 1)
    status, _ = await sign_in_answer(browser(), "alice@acme.example", credential)
    assert status == 401


async def test_finding_1_the_person_sees_the_reset_and_every_sign_in_since(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    clock: FakeClock,
) -> None:
    # An admin resets Alice's password and uses the credential herself...
    credential = await reset_alice(office, browser)
    admin_as_alice = browser()
    status, _ = await sign_in_answer(admin_as_alice, "alice@acme.example", credential)
    assert status == 200
    chosen = await admin_as_alice.request(
        "POST", "/api/me/password", json={"new_password": "admin-chosen-secret"}
    )
    assert chosen.status == 204
    clock.advance(60)
    await browser().sign_in("alice@acme.example", "admin-chosen-secret")

    # ...the audit log tells the reset credential's sign-in apart...
    assert [a for a, _ in await actions(client, office.org.id)] == [
        "account.password_reset",
        "account.reset_credential_used",
    ]
    # ...Alice's old password no longer works, so she asks for a reset and, signing in with
    # it, is told at once who reset her password and sees the sign-ins she did not make.
    old, _ = await sign_in_answer(browser(), "alice@acme.example", PASSWORD)
    assert old == 401
    clock.advance(3600)
    credential = await reset_alice(office, browser)
    alice = browser()
    status, body = await sign_in_answer(alice, "alice@acme.example", credential)
    assert status == 200
    notice = body["security_notice"]
    assert notice["latest_reset"]["by"] == {
        "id": office.admin.id,
        "display_name": "Ada Admin",
        "role": "org_admin",
    }
    assert [s["method"] for s in notice["sign_ins"]] == [
        "reset_credential",  # Alice, now
        "password",  # the admin, with the password she chose
        "reset_credential",  # the admin, with the first credential
    ]
    assert all(set(s) == {"at", "method"} for s in notice["sign_ins"])  # never an address
    assert (
        await alice.request("POST", "/api/me/password", json={"new_password": NEW_PASSWORD})
    ).status == 204
    security = await alice.request("GET", "/api/me/security")
    assert security.status == 200
    assert (await security.json())["latest_reset"]["by"]["display_name"] == "Ada Admin"
    # The admin's session ended with the reset; the password she chose no longer works.
    assert (await admin_as_alice.request("GET", "/api/auth/session")).status == 401
    assert (await sign_in_answer(browser(), "alice@acme.example", "admin-chosen-secret"))[0] == 401


async def test_finding_1_everyone_changes_their_own_password_and_other_sessions_end(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    here = await browser().sign_in("bob@acme.example")
    there = await browser().sign_in("bob@acme.example")
    here_socket = await watched(here, realtime)
    there_socket = await watched(there, realtime)

    no_current = await here.request("POST", "/api/me/password", json={"new_password": NEW_PASSWORD})
    assert no_current.status == 400
    wrong = await here.request(
        "POST",
        "/api/me/password",
        json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status == 403
    no_csrf = await here.request(
        "POST",
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        csrf=False,
    )
    assert no_csrf.status == 403
    changed = await here.request(
        "POST",
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status == 204

    await there_socket.closed_within()
    assert there_socket.ended == [{"reason": "password_changed"}]
    assert (await there.request("GET", "/api/auth/session")).status == 401
    await still_works(here_socket)
    assert (await here.request("GET", "/api/auth/session")).status == 200
    assert (await sign_in_answer(browser(), "bob@acme.example", PASSWORD))[0] == 401
    await browser().sign_in("bob@acme.example", NEW_PASSWORD)


async def test_a_reset_still_ends_live_connections(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    socket = await watched(alice, realtime)
    await reset_alice(office, browser)
    await socket.closed_within()


# -- finding 7: ended sessions keep working over Socket.IO ----------------------------------


async def test_finding_7_sign_out_closes_that_sessions_connections_only(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    laptop = await browser().sign_in("alice@acme.example")
    phone = await browser().sign_in("alice@acme.example")
    laptop_tabs = [await watched(laptop, realtime), await watched(laptop, realtime)]
    phone_tab = await watched(phone, realtime)
    await still_works(laptop_tabs[0])

    assert (await laptop.request("POST", "/api/auth/sign-out")).status == 204
    for tab in laptop_tabs:
        await tab.closed_within()
        assert tab.ended == [{"reason": "signed_out"}]
    await still_works(phone_tab)


async def test_finding_7_a_suspension_while_a_tab_connects_still_shuts_it_out(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    """The suspension lands after the connection's session was checked but before the
    connection is registered anywhere the suspension looks: it must not survive."""
    alice = await browser().sign_in("alice@acme.example")
    admin = await browser().sign_in("admin@acme.example")
    live_office = client.app[OFFICE]
    register = live_office.connected

    async def suspended_meanwhile(principal: Any, sid: str) -> None:
        if principal.user_id == office.alice.id:
            answer = await admin.request("POST", f"/api/org/people/{office.alice.id}/suspend")
            assert answer.status == 204
        await register(principal, sid)

    live_office.connected = suspended_meanwhile
    rt = realtime()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await alice.connect(rt)
    assert rt.connect_error["data"]["code"] == "unauthorized"
    assert await live_office.connection_sids(office.org.id, office.alice.id) == []


async def test_finding_7_sign_out_everywhere_ends_every_session_and_connection(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    browsers = [await browser().sign_in("alice@acme.example") for _ in range(3)]
    tabs = [await watched(b, realtime) for b in browsers]
    bob = await browser().sign_in("bob@acme.example")
    bob_tab = await watched(bob, realtime)

    everywhere = await browsers[0].request("POST", "/api/auth/sign-out-everywhere")
    assert everywhere.status == 204
    for tab in tabs:
        await tab.closed_within()
        assert tab.ended == [{"reason": "signed_out_everywhere"}]
    for b in browsers:
        assert (await b.request("GET", "/api/auth/session")).status == 401
    await still_works(bob_tab)


async def test_finding_7_an_expired_session_loses_its_connections(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
    clock: FakeClock,
    settings: Settings,
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    tab = await watched(alice, realtime)
    clock.advance(settings.session_ttl_hours * 3600 - 60)
    await still_works(tab)
    clock.advance(61)
    await tab.closed_within()
    assert tab.ended == [{"reason": "expired"}]


async def test_finding_7_people_list_their_sessions_and_end_one(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    here = await browser().sign_in("alice@acme.example")
    forgotten = await browser().sign_in("alice@acme.example")
    forgotten_tab = await watched(forgotten, realtime)
    listing = await (await here.request("GET", "/api/me/sessions")).json()
    assert [s["current"] for s in listing["sessions"]] == [True, False]
    assert {s["method"] for s in listing["sessions"]} == {"password"}
    other = listing["sessions"][1]["id"]
    bob = await browser().sign_in("bob@acme.example")
    assert (await bob.request("DELETE", f"/api/me/sessions/{other}")).status == 404
    assert (await here.request("DELETE", f"/api/me/sessions/{other}")).status == 204
    await forgotten_tab.closed_within()
    assert (await forgotten.request("GET", "/api/auth/session")).status == 401
    assert (await here.request("GET", "/api/auth/session")).status == 200


@postgres_and_redis_only
async def test_finding_7_sign_out_closes_connections_held_by_another_process(
    aiohttp_client: Any,
    tmp_path: Path,
    backend: Backend,
    clock: FakeClock,
    realtime: Callable[[], RealtimeClient],
) -> None:
    settings = make_settings(tmp_path, backend)
    first = await aiohttp_client(create_app(settings, clock))
    second = await aiohttp_client(create_app(settings, clock))
    async with first.app[DB]() as session:
        from server.people import accounts
        from server.people.identity import Role

        org = await accounts.create_organization(session, "Acme", "acme", now=clock.now())
        user = await accounts.create_user(
            session,
            org.id,
            email="alice@acme.example",
            display_name="Alice",
            password_hash=await passwords.hash_password(PASSWORD),
            now=clock.now(),
        )
        await accounts.grant(session, user, Role.MEMBER)
        await session.commit()
    on_first = await Browser(first).sign_in("alice@acme.example")
    on_second = Browser(second)
    on_second.http.cookie_jar.update_cookies(
        {"officehours_session": (on_first.cookie() or "").split("=", 1)[1]},
        second.make_url("/"),
    )
    try:
        tab = await watched(on_second, realtime)
        await still_works(tab)
        assert (await on_first.request("POST", "/api/auth/sign-out")).status == 204
        await tab.closed_within()
        assert tab.ended == [{"reason": "signed_out"}]
    finally:
        await on_first.close()
        await on_second.close()


# -- finding 8: sign-in limits raced, and lockout as a weapon ----------------------------------


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password verification the server runs."""
    made: list[str] = []
    real = passwords.verify_password

    async def counted(stored_hash: str | None, password: str) -> bool:
        made.append(password)
        return await real(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counted)
    # Where a module imported the function itself, count there too.
    monkeypatch.setattr(auth, "verify_password", counted, raising=False)
    return made


@pytest.mark.parametrize("parallel", [16, 32])
async def test_finding_8_parallel_wrong_passwords_cannot_pass_the_limit(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    checks: list[str],
    parallel: int,
    settings: Settings,
) -> None:
    attacker = browser()
    answers = await asyncio.gather(
        *(
            sign_in_answer(attacker, "alice@acme.example", f"guess-number-{i}")
            for i in range(parallel)
        )
    )
    statuses = sorted(status for status, _ in answers)
    limit = settings.login_max_failures
    assert len(checks) <= limit
    assert statuses == [401] * len(checks) + [429] * (parallel - len(checks))


async def test_finding_8_guesses_from_elsewhere_do_not_lock_the_owner_out(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, settings: Settings
) -> None:
    async def attempt(address: str, password: str) -> tuple[int, Any]:
        r = await client.post(
            "/api/auth/sign-in",
            json={"email": "alice@acme.example", "password": password},
            headers={"X-Forwarded-For": address},
        )
        return r.status, await r.json()

    attacker = [await attempt("203.0.113.7", f"wrong-guess-{i}") for i in range(8)]
    assert [s for s, _ in attacker] == [401] * 5 + [429] * 3
    # From her own address Alice is at worst asked to wait a little, never 15 minutes.
    status, body = await attempt("198.51.100.9", PASSWORD)
    if status == 429:
        assert body["error"]["retry_after"] <= BACKOFF_CAP
        clock.advance(BACKOFF_CAP)
        status, body = await attempt("198.51.100.9", PASSWORD)
    assert status == 200
    # The attacker's own address stays refused for that email.
    assert (await attempt("203.0.113.7", PASSWORD))[0] == 429


async def test_finding_8_a_browser_that_signed_in_before_is_not_held_back_by_a_guesser(
    client: TestClient[Any, Any], office: Office, browser: Callable[[], Browser]
) -> None:
    """A guesser who keeps the email's back-off going from address after address (found in
    review: 36 of 36 rounds refused the owner) does not slow the owner's own browser, which
    signed in before; a browser that never did still only waits the back-off."""
    laptop = browser()
    stranger = browser()

    async def attempt(who: Browser, address: str, password: str) -> tuple[int, Any]:
        r = await who.http.post(
            f"{who.base}/api/auth/sign-in",
            json={"email": "alice@acme.example", "password": password},
            headers={"X-Forwarded-For": address, "Origin": ORIGIN},
        )
        return r.status, await r.json()

    assert (await attempt(laptop, "198.51.100.9", PASSWORD))[0] == 200
    guesser = browser()
    for i in range(12):  # two addresses' worth of wrong guesses: the email backs off
        await attempt(guesser, f"203.0.113.{1 + i // 5}", f"wrong-guess-{i}")
    status, body = await attempt(stranger, "198.51.100.20", PASSWORD)
    assert status == 429 and 0 < body["error"]["retry_after"] <= BACKOFF_CAP
    assert (await attempt(laptop, "198.51.100.9", PASSWORD))[0] == 200
    # The device cookie spares the back-off only: wrong passwords from it are still limited,
    # and it is bound to the email it signed in to.
    for i in range(5):
        assert (await attempt(laptop, "198.51.100.9", f"typo-{i}"))[0] == 401
    assert (await attempt(laptop, "198.51.100.9", PASSWORD))[0] == 429


async def test_finding_8_guest_link_lookups_cannot_be_raced(
    client: TestClient[Any, Any], office: Office
) -> None:
    """Guessing guest links in parallel (found in review: 60 lookups in flight were all
    looked up against a limit of 20): each lookup is counted before the token is."""
    from server.guests.service import FAILED_LOOKUPS

    async def look(i: int) -> int:
        r = await client.get(
            f"/api/guest-links/not-a-real-link-{i:04d}",
            headers={"X-Forwarded-For": "203.0.113.50"},
        )
        return r.status

    statuses = await asyncio.gather(*(look(i) for i in range(3 * FAILED_LOOKUPS)))
    assert statuses.count(404) == FAILED_LOOKUPS
    assert statuses.count(429) == 2 * FAILED_LOOKUPS
