"""Guests by invite link, with real HTTP and real Socket.IO clients."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.analytics.metrics import Metric
from server.analytics.tables import AnalyticsEvent
from server.http.keys import DB, OFFICE
from server.infra.clock import FakeClock
from tests.conftest import ORIGIN, Office, RealtimeClient, session_cookie, sign_in
from tests.people import Person, rooms_by_name


async def make_link(client: TestClient[Any, Any], room_id: int, **terms: Any) -> dict[str, Any]:
    csrf = (await (await client.get("/api/auth/session")).json())["csrf_token"]
    response = await client.post(
        f"/api/office/rooms/{room_id}/guest-links", json=terms, headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def guest_joins(
    client: TestClient[Any, Any], realtime: Any, token: str, name: str = "Grace"
) -> Person:
    """Open the link in a fresh browser (no cookies), give a name, connect."""
    client.session.cookie_jar.clear()
    joined = await client.post(
        f"/api/guest-links/{token}/join", json={"display_name": name}, headers={"Origin": ORIGIN}
    )
    assert joined.status == 201, await joined.text()
    assert [r["role"] for r in (await joined.json())["roles"]] == ["guest"]
    rt: RealtimeClient = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    return Person(rt)


async def disconnected_within(person: Person, seconds: float) -> float:
    started = time.monotonic()
    while person.rt.sio.connected:
        if time.monotonic() - started > seconds:
            raise AssertionError(f"still connected after {seconds} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_every_state_of_a_link_has_its_own_answer(
    client: TestClient[Any, Any], office: Office, join: Any, clock: FakeClock, realtime: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    bob = await join("bob@acme.example")  # not in the room: may not invite
    csrf = (await (await client.get("/api/auth/session")).json())["csrf_token"]
    refused = await client.post(
        f"/api/office/rooms/{rooms['Lobby']}/guest-links", json={}, headers={"X-CSRF-Token": csrf}
    )
    assert refused.status == 403
    await bob.call("room:enter", {"room_id": rooms["Lobby"]})

    link = await make_link(client, rooms["Lobby"], valid_minutes=60, max_uses=1)
    assert link["state"] == "active" and link["url"].endswith(f"/join/{link['token']}")
    assert len(link["token"]) >= 32  # at least 128 bits, URL-safe
    ok = await client.get(f"/api/guest-links/{link['token']}")
    assert ok.status == 200
    assert await ok.json() == {
        "room": "Lobby",
        "organization": "Acme",
        "requires_admission": True,
        "expires_at": link["expires_at"],
    }

    async def state(token: str) -> tuple[int, str]:
        response = await client.get(f"/api/guest-links/{token}")
        return response.status, (await response.json()).get("error", {}).get("message", "")

    assert await state("x" * 32) == (404, "this guest link is not valid")
    await guest_joins(client, realtime, link["token"])
    assert await state(link["token"]) == (403, "this guest link has been used up")

    await sign_in(client, "bob@acme.example")
    expiring = await make_link(client, rooms["Lobby"], valid_minutes=5)
    revoked = await make_link(client, rooms["Lobby"])
    csrf = (await (await client.get("/api/auth/session")).json())["csrf_token"]
    deleted = await client.delete(
        f"/api/office/guest-links/{revoked['id']}", headers={"X-CSRF-Token": csrf}
    )
    assert deleted.status == 204
    assert await state(revoked["token"]) == (403, "this guest link was revoked")
    clock.advance(301)
    assert await state(expiring["token"]) == (403, "this guest link has expired")
    listed = await client.get(f"/api/office/rooms/{rooms['Lobby']}/guest-links")
    states = {item["id"]: item["state"] for item in (await listed.json())["links"]}
    assert states == {link["id"]: "used_up", expiring["id"]: "expired", revoked["id"]: "revoked"}
    assert all("token" not in item for item in (await listed.json())["links"])


async def test_guessing_links_is_rate_limited(client: TestClient[Any, Any], office: Office) -> None:
    for i in range(20):
        assert (await client.get(f"/api/guest-links/guess-{i:04d}-abcdefgh")).status == 404
    limited = await client.get("/api/guest-links/guess-9999-abcdefgh")
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0


async def test_an_admitted_guest_talks_in_the_room_and_sees_nothing_else(
    client: TestClient[Any, Any], office: Office, join: Any, realtime: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    room = rooms["Meeting room A"]
    alice = await join("alice@acme.example")
    await alice.call("room:enter", {"room_id": room})
    link = await make_link(client, room)  # the host must admit each guest
    guest = await guest_joins(client, realtime, link["token"])

    status = await guest.call("guest:status")
    assert status["room"]["name"] == "Meeting room A" and status["admitted"] is False
    knock = await guest.call("room:enter", {"room_id": room})
    assert knock["outcome"] == "knocking"
    prompt = await alice.wait_for(lambda: alice.prompts("knock"))
    assert prompt[0]["from_name"] == "Grace (guest)"
    assert (
        await alice.call("request:answer", {"request_id": knock["request_id"], "accept": True})
    )["outcome"] == "accepted"
    seen = await guest.wait_for(lambda: guest.received("guest:room"))
    assert {p["user_id"] for p in seen[-1]["people"]} >= {office.alice.id}
    assert (await guest.call("guest:status"))["admitted"] is True
    guest_id = next(p["user_id"] for p in seen[-1]["people"] if p["guest"])
    member_view = await alice.seen(guest_id, room_id=room)
    assert member_view["guest"] is True

    chat = await guest.call("chat:room", {"room_id": room})
    conversation = chat["conversation"]["id"]
    sent = await guest.call(
        "chat:send",
        {"conversation_id": conversation, "client_id": "g1", "body": "Hi, thanks for having me"},
    )
    assert sent["ok"] is True
    got = await alice.wait_for(lambda: alice.received("chat:message"))
    assert got[-1]["body"] == "Hi, thanks for having me"
    await alice.call(
        "chat:send", {"conversation_id": conversation, "client_id": "a1", "body": "Welcome!"}
    )
    assert (await guest.wait_for(lambda: guest.received("chat:message")))[-1]["body"] == (
        "Welcome!"
    )
    assert guest.received("office:delta") == []  # no view of the rest of the office

    direct = await alice.call("chat:open_direct", {"user_ids": [office.bob.id]})
    forbidden_calls = [
        ("office:snapshot", {}),
        ("room:enter", {"room_id": rooms["Lobby"]}),
        ("chat:room", {"room_id": rooms["Lobby"]}),
        ("chat:history", {"conversation_id": direct["conversation"]["id"]}),
        ("chat:open_direct", {"user_ids": [office.alice.id]}),
        ("chat:list", {}),
        ("person:get", {"user_id": office.bob.id}),
    ]
    for event, payload in forbidden_calls:
        ack = await guest.call(event, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (event, ack)
    assert (await client.get("/api/office/layout")).status == 403
    assert (await client.post("/api/org/invite-codes", json={})).status == 403


async def test_a_guest_inside_hears_nothing_of_another_guests_knock(
    client: TestClient[Any, Any], office: Office, join: Any, realtime: Any, clock: FakeClock
) -> None:
    """Only people who may let someone in are prompted; a knock's outcome goes to the knocker
    (and whoever was prompted), never to a guest inside; an expired knock can be made again."""
    rooms = await rooms_by_name(client, office.org.id)
    room = rooms["Meeting room A"]
    alice = await join("alice@acme.example")
    await alice.call("room:enter", {"room_id": room})
    link = await make_link(client, room)
    first = await guest_joins(client, realtime, link["token"], "Grace")
    own = await first.call("room:enter", {"room_id": room})
    await alice.wait_for(lambda: alice.prompts("knock"))
    await alice.call("request:answer", {"request_id": own["request_id"], "accept": True})
    assert (await first.call("guest:status"))["admitted"] is True
    await first.wait_for(first.resolutions)  # her own knock's outcome

    second = await guest_joins(client, realtime, link["token"], "Linus")
    knock = await second.call("room:enter", {"room_id": room})
    assert knock["outcome"] == "knocking"
    await alice.wait_for(lambda: len(alice.prompts("knock")) == 2)
    await first.call("guest:status")  # a round trip: anything sent to her has arrived
    assert first.prompts() == []

    clock.advance(61)
    await client.app[OFFICE].sweep()
    expired = await second.wait_for(second.resolutions)
    assert [r["outcome"] for r in expired] == ["expired"]
    await alice.wait_for(lambda: len(alice.resolutions()) == 2)  # her prompt closes
    await first.call("guest:status")
    assert [r["request_id"] for r in first.resolutions()] == [own["request_id"]]
    assert first.received("room:waiting") == [] and second.received("room:waiting") == []

    again = await second.call("room:enter", {"room_id": room})  # knock again, no reload
    assert again["outcome"] == "knocking" and again["request_id"] != knock["request_id"]
    prompts = await alice.wait_for(lambda: len(alice.prompts("knock")) == 3 and alice.prompts())
    assert prompts[-1]["request_id"] == again["request_id"]
    assert prompts[-1]["from_name"] == "Linus (guest)"


async def test_members_see_guests_waiting_until_the_knock_or_the_visit_ends(
    client: TestClient[Any, Any], office: Office, join: Any, realtime: Any, clock: FakeClock
) -> None:
    """Members outside the room learn a guest waits (``room:waiting``); a guest in the hallway
    is listed only while knocking, and their knock ends with their visit."""
    rooms = await rooms_by_name(client, office.org.id)
    lobby = rooms["Lobby"]
    admin = await join("admin@acme.example")  # in the hallway; admins may show guests out
    bob = await join("bob@acme.example")
    await bob.call("room:enter", {"room_id": lobby})
    link = await make_link(client, lobby)
    await bob.call("room:leave")
    guest = await guest_joins(client, realtime, link["token"])
    knock = await guest.call("room:enter", {"room_id": lobby})
    assert knock["outcome"] == "knocking"
    notice = {"request_id": knock["request_id"], "kind": "knock", "room_id": lobby}
    assert await guest.wait_for(lambda: guest.received("request:unattended")) == [notice]
    waiting = await admin.wait_for(lambda: admin.received("room:waiting"))
    guest_id = waiting[-1]["guests"][0]
    assert waiting == [{"room_id": lobby, "guests": [guest_id]}]
    snapshot = await admin.call("office:snapshot")
    assert snapshot["waiting"] == [{"room_id": lobby, "guests": [guest_id]}]
    assert guest_id in {p["user_id"] for p in snapshot["people"]}

    clock.advance(61)
    await client.app[OFFICE].sweep()
    await admin.wait_for(lambda: len(admin.received("room:waiting")) == 2)
    assert admin.received("room:waiting")[-1] == {"room_id": lobby, "guests": []}
    snapshot = await admin.call("office:snapshot")
    assert snapshot["waiting"] == []
    assert guest_id not in {p["user_id"] for p in snapshot["people"]}  # not knocking: unlisted

    again = await guest.call("room:enter", {"room_id": lobby})
    await bob.wait_for(lambda: bob.received("room:waiting")[-1:] == [waiting[0]])
    assert (await admin.call("guest:remove", {"user_id": guest_id}))["ok"] is True
    await bob.wait_for(
        lambda: bob.received("room:waiting")[-1:] == [{"room_id": lobby, "guests": []}]
    )
    await bob.seen(guest_id, status="offline")
    assert (await bob.call("request:answer", {"request_id": again["request_id"], "accept": True}))[
        "error"
    ]["code"] == "not_found"
    assert guest.received("room:waiting") == []


@pytest.mark.parametrize("ending", ["revoked", "expired", "removed"])
async def test_a_guest_is_disconnected_at_once_when_the_visit_ends(
    client: TestClient[Any, Any],
    office: Office,
    join: Any,
    realtime: Any,
    clock: FakeClock,
    ending: str,
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    alice = await join("alice@acme.example")
    await alice.call("room:enter", {"room_id": rooms["Lobby"]})
    alice_cookie = session_cookie(client)
    link = await make_link(client, rooms["Lobby"], valid_minutes=30, requires_admission=False)
    guest = await guest_joins(client, realtime, link["token"])
    guest_cookie = session_cookie(client)
    assert (await guest.call("room:enter", {"room_id": rooms["Lobby"]}))["outcome"] == "entered"
    guest_id = next(
        p["user_id"] for p in (await guest.call("guest:status"))["people"] if p["guest"]
    )
    await alice.seen(guest_id, room_id=rooms["Lobby"])

    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"officehours_session": alice_cookie.split("=", 1)[1]})
    csrf = (await (await client.get("/api/auth/session")).json())["csrf_token"]
    if ending == "revoked":
        response = await client.delete(
            f"/api/office/guest-links/{link['id']}", headers={"X-CSRF-Token": csrf}
        )
        assert response.status == 204
    elif ending == "expired":
        clock.advance(30 * 60 + 1)
    else:
        assert (await alice.call("guest:remove", {"user_id": guest_id}))["ok"] is True

    assert await disconnected_within(guest, 1.0) <= 1.0
    await alice.seen(guest_id, status="offline", room_id=None)
    again = RealtimeClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.connect(client, cookie=guest_cookie)
    assert again.connect_error["data"]["code"] == "unauthorized"


async def test_guests_are_counted_never_identified(
    client: TestClient[Any, Any], office: Office, join: Any, realtime: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    alice = await join("alice@acme.example")
    await alice.call("room:enter", {"room_id": rooms["Lobby"]})
    link = await make_link(client, rooms["Lobby"], requires_admission=False)
    guest = await guest_joins(client, realtime, link["token"])
    await guest.call("room:enter", {"room_id": rooms["Lobby"]})
    await guest.call("room:leave")
    async with client.app[DB]() as session:
        joined = (
            await session.scalars(
                select(AnalyticsEvent).where(AnalyticsEvent.metric == Metric.GUEST_JOINED)
            )
        ).all()
        in_room = (
            await session.scalars(
                select(AnalyticsEvent).where(AnalyticsEvent.metric == Metric.ROOM_SECONDS)
            )
        ).all()
    assert len(joined) == 1 and joined[0].person is None and joined[0].group_id is None
    assert [e.person for e in in_room] == [None]
