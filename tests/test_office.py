"""The spatial office with real Socket.IO clients: snapshot, moves, doors, knocks, presence.

Runs on SQLite with the in-memory state store, and on PostgreSQL with the Redis store and
python-socketio's Redis manager.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from server.analytics.metrics import Metric
from server.analytics.tables import AnalyticsEvent
from server.db.models import Room, RoomOwner
from server.http.keys import DB, OFFICE
from server.infra.clock import FakeClock
from tests.conftest import Office, session_cookie
from tests.people import Person, rooms_by_name


async def test_snapshot_on_connect_shows_the_whole_office(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    snap = await alice.call("office:snapshot")
    assert snap["ok"] is True
    assert snap["me"] == office.alice.id
    assert [f["name"] for f in snap["floors"]] == ["Ground floor"]
    assert {r["name"] for r in snap["rooms"]} >= {"Lobby", "Town hall", "Meeting room B"}
    people = {p["user_id"]: p for p in snap["people"]}
    assert set(people) == {office.admin.id, office.alice.id, office.bob.id}  # not Eve
    assert people[office.alice.id]["status"] == "available"
    assert people[office.bob.id]["status"] == "offline"
    assert snap["settings"] == {"idle_after_seconds": 300, "coalesce_ms": 50}


async def test_walking_in_and_out_is_seen_by_others_within_one_interval(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    bob = await join("bob@acme.example")
    alice = await join("alice@acme.example")
    started = time.monotonic()
    ack = await alice.call("room:enter", {"room_id": rooms["Lobby"]})
    assert ack == {"ok": True, "outcome": "entered", "room_id": rooms["Lobby"]}
    await bob.seen(office.alice.id, room_id=rooms["Lobby"])
    assert time.monotonic() - started < 1.0

    assert (await alice.call("room:leave"))["ok"] is True
    await bob.seen(office.alice.id, room_id=None)
    snap = await bob.call("office:snapshot")
    assert {p["user_id"]: p["room_id"] for p in snap["people"]}[office.alice.id] is None


async def test_locked_and_full_rooms_are_refused_with_clear_codes(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    alice = await join("alice@acme.example")
    locked = await alice.call("room:enter", {"room_id": rooms["Office 2"]})
    assert locked == {"ok": False, "error": {"code": "forbidden", "message": "Office 2 is locked"}}

    async with client.app[DB]() as session:
        session.add(RoomOwner(room_id=rooms["Office 2"], user_id=office.alice.id))
        await session.execute(
            update(Room).where(Room.id == rooms["Meeting room A"]).values(capacity=1)
        )
        await session.commit()
    assert (await alice.call("room:enter", {"room_id": rooms["Office 2"]}))["outcome"] == "entered"

    bob = await join("bob@acme.example")
    assert (await bob.call("room:enter", {"room_id": rooms["Meeting room A"]}))["ok"] is True
    full = await alice.call("room:enter", {"room_id": rooms["Meeting room A"]})
    assert full["error"] == {"code": "conflict", "message": "Meeting room A is full"}
    snap = await alice.call("office:snapshot")
    assert {p["user_id"]: p["room_id"] for p in snap["people"]}[office.alice.id] == rooms[
        "Office 2"
    ]


async def test_knock_accepted_declined_and_timed_out(
    client: TestClient[Any, Any], office: Office, join: Any, clock: FakeClock
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    closed = rooms["Meeting room B"]
    bob = await join("bob@acme.example")
    alice = await join("alice@acme.example")
    assert (await bob.call("room:enter", {"room_id": closed}))["outcome"] == "entered"

    knock = await alice.call("room:enter", {"room_id": closed})
    assert knock["ok"] is True and knock["outcome"] == "knocking"
    prompt = await bob.wait_for(lambda: bob.prompts("knock"))
    assert prompt[0]["request_id"] == knock["request_id"]
    assert prompt[0]["from_name"] == "Alice" and prompt[0]["room_name"] == "Meeting room B"
    # Knocking twice is the same knock, not a second prompt.
    again = await alice.call("room:enter", {"room_id": closed})
    assert again["request_id"] == knock["request_id"]

    declined = await bob.call(
        "request:answer", {"request_id": knock["request_id"], "accept": False}
    )
    assert declined == {"ok": True, "outcome": "declined"}
    resolved = await alice.wait_for(alice.resolutions)
    assert resolved[0]["outcome"] == "declined"
    late = await bob.call("request:answer", {"request_id": knock["request_id"], "accept": True})
    assert late["error"]["code"] == "not_found"

    knock = await alice.call("room:enter", {"room_id": closed})
    await bob.wait_for(lambda: len(bob.prompts("knock")) == 2)
    outsider_answer = await alice.call(
        "request:answer", {"request_id": knock["request_id"], "accept": True}
    )
    assert outsider_answer["error"]["code"] == "forbidden"
    accepted = await bob.call("request:answer", {"request_id": knock["request_id"], "accept": True})
    assert accepted["outcome"] == "accepted"
    await bob.seen(office.alice.id, room_id=closed)

    admin = await join("admin@acme.example")
    knock = await admin.call("room:enter", {"room_id": closed})
    assert knock["outcome"] == "knocking"
    clock.advance(61)
    await client.app[OFFICE].sweep()
    expired = await admin.wait_for(admin.resolutions)
    assert expired[0] == {
        "request_id": knock["request_id"],
        "kind": "knock",
        "room_id": closed,
        "outcome": "expired",
    }
    await alice.wait_for(lambda: any(r["outcome"] == "expired" for r in alice.resolutions()))


async def test_a_prompt_goes_when_its_host_walks_out_and_the_knock_waits_for_the_others(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    """Someone prompted who walks out can no longer let anyone in: their prompt is withdrawn,
    the others inside still may answer, and once nobody inside may, the knocker is told."""
    rooms = await rooms_by_name(client, office.org.id)
    closed = rooms["Meeting room B"]
    bob = await join("bob@acme.example")
    admin = await join("admin@acme.example")
    alice = await join("alice@acme.example")
    assert (await admin.call("room:enter", {"room_id": closed}))["outcome"] == "entered"
    first = await bob.call("room:enter", {"room_id": closed})
    await admin.wait_for(lambda: admin.prompts("knock"))
    await admin.call("request:answer", {"request_id": first["request_id"], "accept": True})
    await admin.seen(office.bob.id, room_id=closed)

    knock = await alice.call("room:enter", {"room_id": closed})
    assert knock["outcome"] == "knocking"
    notice = {"request_id": knock["request_id"], "kind": "knock", "room_id": closed}

    def prompted(host: Person) -> list[dict[str, Any]]:
        return [p for p in host.prompts() if p["request_id"] == knock["request_id"]]

    for host in (bob, admin):
        await host.wait_for(lambda host=host: prompted(host))
    await bob.call("room:leave")
    assert await bob.wait_for(lambda: bob.received("request:withdrawn")) == [notice]
    late = await bob.call("request:answer", {"request_id": knock["request_id"], "accept": True})
    assert late["error"]["code"] == "forbidden"
    assert admin.received("request:withdrawn") == []
    assert alice.received("request:unattended") == []  # the admin is still inside

    await admin.call("room:leave")
    assert await admin.wait_for(lambda: admin.received("request:withdrawn")) == [notice]
    assert await alice.wait_for(lambda: alice.received("request:unattended")) == [notice]
    assert alice.resolutions() == []  # still waiting: whoever walks in is prompted

    await bob.call("room:enter", {"room_id": closed})
    await bob.wait_for(lambda: len(prompted(bob)) == 2)  # prompted again on walking in
    accepted = await bob.call("request:answer", {"request_id": knock["request_id"], "accept": True})
    assert accepted["outcome"] == "accepted"
    await bob.seen(office.alice.id, room_id=closed)


async def test_every_tab_of_whoever_was_prompted_learns_the_request_is_resolved(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    """An answered knock or "get" closes its prompt everywhere: the answerer's other tabs
    included (they were left with an open prompt once)."""
    rooms = await rooms_by_name(client, office.org.id)
    closed = rooms["Meeting room B"]
    bob = await join("bob@acme.example")
    bob_laptop = await join("bob@acme.example")  # a second tab of the same person
    alice = await join("alice@acme.example")
    alice_phone = await join("alice@acme.example")
    admin = await join("admin@acme.example")
    assert (await bob.call("room:enter", {"room_id": closed}))["outcome"] == "entered"

    def resolved(tab: Any, request_id: str) -> Any:
        return tab.wait_for(lambda: [r for r in tab.resolutions() if r["request_id"] == request_id])

    let_in = await admin.call("room:enter", {"room_id": closed})
    await bob_laptop.wait_for(lambda: bob_laptop.prompts("knock"))
    accepted = await bob_laptop.call(
        "request:answer", {"request_id": let_in["request_id"], "accept": True}
    )
    assert accepted["outcome"] == "accepted"
    for tab in (bob, bob_laptop, admin):
        await resolved(tab, let_in["request_id"])

    knock = await alice.call("room:enter", {"room_id": closed})
    assert knock["outcome"] == "knocking"
    for tab in (bob, bob_laptop, admin):
        await tab.wait_for(
            lambda tab=tab: [p for p in tab.prompts() if p["request_id"] == knock["request_id"]]
        )
    declined = await bob.call(
        "request:answer", {"request_id": knock["request_id"], "accept": False}
    )
    assert declined["outcome"] == "declined"
    for tab in (bob, bob_laptop, admin, alice, alice_phone):
        assert await resolved(tab, knock["request_id"]) == [
            {
                "request_id": knock["request_id"],
                "kind": "knock",
                "room_id": closed,
                "outcome": "declined",
            }
        ]

    # A "get": the person asked answers in one tab; the prompt closes in the other too.
    asked = await bob.call("person:get", {"user_id": office.alice.id})
    assert asked["ok"] is True
    for tab in (alice, alice_phone):
        await tab.wait_for(lambda tab=tab: tab.prompts("get"))
    answer = await alice_phone.call(
        "request:answer", {"request_id": asked["request_id"], "accept": True}
    )
    assert answer["outcome"] == "accepted"
    for tab in (alice, alice_phone, bob, bob_laptop):
        assert (await resolved(tab, asked["request_id"]))[0]["outcome"] == "accepted"


async def barrier(person: Person, user_id: int, status: str) -> None:
    """Deltas go out in batches: ``person`` changes their own status and waits to see it come
    back, so any delta produced before (one that must not arrive) would have arrived by now."""
    assert (await person.call("presence:set", {"status": status}))["ok"]
    await person.seen(user_id, status=status)


async def test_do_not_disturb_holds_knocks_and_survives_moving(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    closed = rooms["Mentoring room 1"]
    bob = await join("bob@acme.example")
    alice = await join("alice@acme.example")
    await bob.call("presence:set", {"status": "do_not_disturb", "text": "Deep work"})
    assert (await bob.call("room:enter", {"room_id": rooms["Lobby"]}))["ok"] is True
    assert (await bob.call("room:enter", {"room_id": closed}))["ok"] is True
    person = await alice.seen(office.bob.id, room_id=closed)
    assert person["status"] == "do_not_disturb" and person["text"] == "Deep work"

    knock = await alice.call("room:enter", {"room_id": closed})
    assert knock["outcome"] == "knocking"
    # A prompt would have been queued to Bob's socket before Alice's ack: one round trip of
    # Bob's own comes after it.
    assert (await bob.call("whoami", {}))["ok"]
    assert bob.prompts() == []  # held silently

    await bob.call("presence:set", {"status": "available"})
    prompt = await bob.wait_for(lambda: bob.prompts("knock"))
    assert prompt[0]["request_id"] == knock["request_id"]


async def test_several_tabs_are_one_person_and_a_reload_does_not_flap(
    client: TestClient[Any, Any], office: Office, join: Any, realtime: Any, clock: FakeClock
) -> None:
    bob = await join("bob@acme.example")
    alice = await join("alice@acme.example")

    async def no_connections() -> bool:
        person = await client.app[OFFICE].person(office.org.id, office.alice.id)
        return person is not None and not person.connections

    second_tab = realtime()
    await second_tab.connect(client, cookie=session_cookie(client))  # alice again
    await bob.seen(office.alice.id, status="available")

    await alice.rt.close()  # one tab closed, one left
    await second_tab.close()  # the last one: a reload starts here
    reloaded = realtime()
    await reloaded.connect(client, cookie=session_cookie(client))
    clock.advance(60)
    await client.app[OFFICE].sweep()
    await barrier(bob, office.bob.id, "busy")
    assert all(p["status"] != "offline" for p in bob.deltas_for(office.alice.id))

    await reloaded.close()
    for _ in range(200):  # the server notices the closed socket a moment later
        if await no_connections():
            break
        await asyncio.sleep(0.01)
    clock.advance(29)
    await client.app[OFFICE].sweep()
    await barrier(bob, office.bob.id, "away")
    assert all(p["status"] != "offline" for p in bob.deltas_for(office.alice.id))
    clock.advance(2)
    await client.app[OFFICE].sweep()
    await bob.seen(office.alice.id, status="offline")


async def test_get_someone_into_your_room(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    bob = await join("bob@acme.example")
    alice = await join("alice@acme.example")
    not_in_room = await bob.call("person:get", {"user_id": office.alice.id})
    assert not_in_room["error"]["code"] == "invalid"
    await bob.call("room:enter", {"room_id": rooms["Office 2"]})  # locked; bob owns it
    assert (await bob.call("room:leave"))["ok"]
    async with client.app[DB]() as session:
        session.add(RoomOwner(room_id=rooms["Office 2"], user_id=office.bob.id))
        await session.commit()
    assert (await bob.call("room:enter", {"room_id": rooms["Office 2"]}))["outcome"] == "entered"

    asked = await bob.call("person:get", {"user_id": office.alice.id})
    assert asked["ok"] is True
    prompt = await alice.wait_for(lambda: alice.prompts("get"))
    assert prompt[0]["from_name"] == "Bob" and prompt[0]["room_id"] == rooms["Office 2"]
    answer = await alice.call("request:answer", {"request_id": asked["request_id"], "accept": True})
    assert answer["outcome"] == "accepted"  # a locked room, but she was invited
    await bob.seen(office.alice.id, room_id=rooms["Office 2"])
    assert (await bob.wait_for(bob.resolutions))[0]["outcome"] == "accepted"


async def test_positions_are_coalesced(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    bob = await join("bob@acme.example")
    alice = await join("alice@acme.example")
    hall = rooms["Town hall"]  # x 0..20, y 12..30
    await alice.call("room:enter", {"room_id": hall})
    await bob.seen(office.alice.id, room_id=hall)
    outside = await alice.call("room:position", {"x": 25, "y": 5})
    assert outside["error"]["code"] == "invalid"
    before = len(bob.deltas_for(office.alice.id))
    for step in range(30):
        ack = await alice.call("room:position", {"x": step % 20, "y": 20})
        assert ack["ok"] is True
    await bob.seen(office.alice.id, position=[29 % 20, 20])
    received = len(bob.deltas_for(office.alice.id)) - before
    assert 1 <= received < 30 / 2  # batched, not one broadcast per move


async def test_organizations_do_not_see_each_other(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    eve = await join("eve@other.example")
    alice = await join("alice@acme.example")
    snap = await eve.call("office:snapshot")
    assert {p["user_id"] for p in snap["people"]} == {office.outsider.id}
    assert rooms["Lobby"] not in {r["id"] for r in snap["rooms"]}
    foreign = await eve.call("room:enter", {"room_id": rooms["Lobby"]})
    assert foreign["error"] == {"code": "not_found", "message": "no such room"}
    await alice.call("room:enter", {"room_id": rooms["Lobby"]})
    await alice.call("presence:set", {"status": "busy"})
    await barrier(eve, office.outsider.id, "busy")
    assert eve.deltas_for(office.alice.id) == []
    cross = await eve.call("person:get", {"user_id": office.alice.id})
    assert cross["ok"] is False


async def test_invalid_office_events_change_nothing(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    alice = await join("alice@acme.example")
    bad = [
        ("room:enter", {"room_id": str(rooms["Lobby"])}, "invalid"),
        ("room:enter", {"room_id": rooms["Lobby"], "force": True}, "invalid"),
        ("room:enter", {}, "invalid"),
        ("presence:set", {"status": "offline"}, "invalid"),
        ("presence:set", {"status": "busy", "text": "x" * 81}, "too_large"),
        ("presence:idle", {"idle": "yes"}, "invalid"),
        ("request:answer", {"request_id": "../../etc", "accept": True}, "invalid"),
        ("room:position", {"x": -1, "y": 3}, "invalid"),
    ]
    for event, payload, code in bad:
        ack = await alice.call(event, payload)
        assert ack["ok"] is False and ack["error"]["code"] == code, (event, payload, ack)
    snap = await alice.call("office:snapshot")
    me = {p["user_id"]: p for p in snap["people"]}[office.alice.id]
    assert me["room_id"] is None and me["status"] == "available" and me["text"] == ""


async def test_idle_shows_away_but_do_not_disturb_wins(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    bob = await join("bob@acme.example")
    alice = await join("alice@acme.example")
    await alice.call("presence:idle", {"idle": True})
    await bob.seen(office.alice.id, status="away")
    await alice.call("presence:set", {"status": "do_not_disturb"})
    await bob.seen(office.alice.id, status="do_not_disturb")
    await alice.call("presence:set", {"status": "busy"})
    await bob.seen(office.alice.id, status="away")
    await alice.call("presence:idle", {"idle": False})
    await bob.seen(office.alice.id, status="busy")


async def test_time_in_rooms_feeds_analytics_without_identity(
    client: TestClient[Any, Any], office: Office, join: Any, clock: FakeClock
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    bob = await join("bob@acme.example")
    alice = await join("alice@acme.example")
    await bob.call("room:enter", {"room_id": rooms["Meeting room A"]})
    clock.advance(60)
    await alice.call("room:enter", {"room_id": rooms["Meeting room A"]})
    clock.advance(120)
    await alice.call("room:leave")
    async with client.app[DB]() as session:
        rows = (
            await session.scalars(
                select(AnalyticsEvent).where(
                    AnalyticsEvent.metric.in_([Metric.ROOM_SECONDS, Metric.ROOM_TOGETHER_SECONDS])
                )
            )
        ).all()
    by_metric = {r.metric: r for r in rows}
    assert by_metric[Metric.ROOM_SECONDS].seconds == 120
    assert by_metric[Metric.ROOM_SECONDS].room_kind.value == "meeting_room"
    together = by_metric[Metric.ROOM_TOGETHER_SECONDS]
    assert together.seconds == 120 and together.peer_group_id == office.group_ids[1]
    assert together.person == office.alice.analytics_id
