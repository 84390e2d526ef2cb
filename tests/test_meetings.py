"""Meetings over Socket.IO with real aiortc peers playing the browsers: media follows where
people are, signalling errors are clear, and meetings are counted as durations only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from sqlalchemy import select

from server.analytics.metrics import Metric
from server.analytics.tables import AnalyticsEvent
from server.http.keys import DB, MEETINGS
from server.infra.clock import FakeClock
from server.meetings.service import room_key
from tests.conftest import Office
from tests.media_peers import Publisher
from tests.people import Person, rooms_by_name
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("loopback_ice")


class Browser:
    """A person's tab in a meeting: publishes a camera, answers the relay's offers."""

    def __init__(self, person: Person) -> None:
        self.person = person
        self.publisher = Publisher()
        self.incoming: dict[str, RTCPeerConnection] = {}
        self.frames: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        person.rt.sio.on("media:offer", self._offer)

    async def _offer(self, data: dict[str, Any]) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.incoming[data["peer_id"]] = pc
        self.frames[data["peer_id"]] = 0

        @pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.create_task(self._count(data["peer_id"], track)))

        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        reply = await self.person.call(
            "media:answer", {"peer_id": data["peer_id"], "sdp": pc.localDescription.sdp}
        )
        assert reply["ok"], reply

    async def _count(self, peer_id: str, track: Any) -> None:
        try:
            while True:
                await track.recv()
                self.frames[peer_id] += 1
        except Exception:
            return

    async def publish(self) -> dict[str, Any]:
        pc = self.publisher.pc
        await pc.setLocalDescription(await pc.createOffer())
        reply = await self.person.call(
            "media:publish", {"source": "camera", "sdp": pc.localDescription.sdp}
        )
        assert reply["ok"], reply
        await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        return reply

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.publisher.close()
        for pc in self.incoming.values():
            await pc.close()


async def in_room(join: Any, email: str, room_id: int) -> Browser:
    person = await join(email)
    assert (await person.call("room:enter", {"room_id": room_id}))["outcome"] == "entered"
    return Browser(person)


async def test_two_people_in_a_room_receive_each_other_and_leaving_stops_it(
    client: TestClient[Any, Any], office: Office, join: Any, clock: FakeClock
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    alice = await in_room(join, "alice@acme.example", rooms["Lobby"])
    bob = await in_room(join, "bob@acme.example", rooms["Lobby"])
    try:
        joined = await alice.person.call("media:join")
        assert joined["ok"] and joined["may_publish"] and joined["ice_servers"] == []
        assert (await bob.person.call("media:join"))["ok"]
        await alice.publish()
        await bob.publish()
        await eventually(lambda: any(n >= 10 for n in bob.frames.values()), 15)
        await eventually(lambda: any(n >= 10 for n in alice.frames.values()), 15)
        members = alice.person.received("media:members")[-1]["members"]
        assert {m["user_id"] for m in members} == {office.alice.id, office.bob.id}
        key = room_key(office.org.id, rooms["Lobby"])

        # Connection quality reaches /metrics (round-trip times once RTCP reports came back).
        async def measured() -> str:
            await client.app[MEETINGS].sample_quality()
            return await (await client.get("/metrics")).text()

        def value(metrics: str, series: str) -> float | None:
            found = [line for line in metrics.splitlines() if line.startswith(series + " ")]
            return float(found[0].split()[-1]) if found else None

        metrics = await measured()
        assert "officehours_media_members 2" in metrics
        assert "officehours_media_meetings 1" in metrics
        assert value(metrics, f'officehours_media_participants{{room="{key}"}}') == 2
        # Each video subscription's estimate, loss and round trip once RTCP came back (aiortc
        # sends reports every 0.5-1.5 s); no layer, as aiortc's camera sends none.
        sub = 'officehours_media_subscription{room="%s",peer="%s",measure="%s"}'
        peer = next(iter(bob.incoming))
        rtt = 'officehours_media_quality{measure="rtt",stat="median"}'
        measures = [sub % (key, peer, m) for m in ("rtt_seconds", "estimate_bps")]
        async with asyncio.timeout(10):
            while not all(value(metrics, m) for m in measures):
                await asyncio.sleep(0.1)
                metrics = await measured()
        assert 0 < (value(metrics, rtt) or 0) < 1
        assert 0 < (value(metrics, sub % (key, peer, "rtt_seconds")) or 0) < 1
        assert (value(metrics, sub % (key, peer, "estimate_bps")) or 0) > 10_000
        assert value(metrics, sub % (key, peer, "loss")) == 0
        assert value(metrics, sub % (key, peer, "layer")) is None

        clock.advance(120)
        # Bob walks out: his media ends, Alice is told her connection from him closed.
        assert (await bob.person.call("room:leave"))["ok"]
        await eventually(lambda: bob.person.received("media:left"))
        (bob_peer,) = [p for p in alice.incoming]
        await eventually(lambda: {"peer_id": bob_peer} in alice.person.received("media:closed"))
        refused = await bob.person.call("media:publish", {"source": "camera", "sdp": "v=0 x"})
        assert refused["error"]["code"] == "conflict"
        async with client.app[DB]() as session:
            rows = (
                await session.scalars(
                    select(AnalyticsEvent).where(
                        AnalyticsEvent.metric.in_([Metric.MEETING_HELD, Metric.MEETING_SECONDS])
                    )
                )
            ).all()
        held = [r for r in rows if r.metric is Metric.MEETING_HELD]
        assert len(held) == 1 and held[0].seconds == pytest.approx(120, abs=1)
        assert held[0].person == office.alice.analytics_id  # she was there first
        assert [r.seconds for r in rows if r.metric is Metric.MEETING_SECONDS] == [
            pytest.approx(120, abs=1)
        ]
    finally:
        await alice.close()
        await bob.close()


async def test_signalling_errors_are_clear_and_change_nothing(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    alice = await join("alice@acme.example")
    try:
        nowhere = await alice.call("media:join")
        assert nowhere["error"]["code"] == "conflict"
        await alice.call("room:enter", {"room_id": rooms["Lobby"]})
        assert (await alice.call("media:join"))["ok"]
        cases = [
            ("media:publish", {"source": "camera", "sdp": "v=0\r\nnot really sdp\r\n"}, "invalid"),
            ("media:publish", {"source": "hologram", "sdp": "v=0"}, "invalid"),
            ("media:publish", {"source": "camera", "sdp": "v=0", "extra": 1}, "invalid"),
            ("media:answer", {"peer_id": "sub-1-abcdef01", "sdp": "v=0"}, "not_found"),
            ("media:answer", {"peer_id": "../../etc", "sdp": "v=0"}, "invalid"),
        ]
        for event, payload, code in cases:
            reply = await alice.call(event, payload)
            assert reply["error"]["code"] == code, (event, payload, reply)
        members = alice.received("media:members")
        assert all(m["publishing"] == [] for d in members for m in d["members"])
    finally:
        await alice.rt.close()


def said(person: Person, user_id: int) -> tuple[bool, bool] | None:
    """(muted, camera_off) of ``user_id`` in the last ``media:members`` this tab got."""
    received = person.received("media:members")
    for member in received[-1]["members"] if received else []:
        if member["user_id"] == user_id:
            return member["muted"], member["camera_off"]
    return None


async def test_a_tab_says_its_microphone_is_muted_and_the_others_are_told(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    """A muted microphone still sends (silence), so the others learn it from ``media:state``;
    bad input is refused and changes nothing, and a tab that joins later learns it too."""
    rooms = await rooms_by_name(client, office.org.id)
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    admin = await join("admin@acme.example")
    try:
        for person in (alice, bob, admin):
            assert (await person.call("room:enter", {"room_id": rooms["Lobby"]}))["ok"]
        outside = await alice.call("media:state", {"muted": True, "camera_off": False})
        assert outside["error"]["code"] == "conflict"  # not in the meeting yet
        assert (await alice.call("media:join"))["ok"]
        joined = await bob.call("media:join")
        assert [(m["muted"], m["camera_off"]) for m in joined["members"]] == [(False, False)] * 2
        assert said(bob, office.alice.id) is None

        assert (await alice.call("media:state", {"muted": True, "camera_off": False}))["ok"]
        await eventually(lambda: said(bob, office.alice.id) == (True, False))

        for bad in (
            {"muted": "false", "camera_off": False},
            {"muted": 0, "camera_off": False},
            {"muted": False},
            {"muted": False, "camera_off": False, "volume": 3},
        ):
            reply = await alice.call("media:state", bad)
            assert reply["error"]["code"] == "invalid", (bad, reply)
        # Saying the same again sends nothing (Bob's round trip comes after any event to him).
        count = len(bob.received("media:members"))
        assert (await alice.call("media:state", {"muted": True, "camera_off": False}))["ok"]
        assert (await bob.call("whoami"))["ok"]
        assert len(bob.received("media:members")) == count
        assert said(bob, office.alice.id) == (True, False)

        # Joining later: the ack says who is muted.
        joined = await admin.call("media:join")
        (alice_there,) = [m for m in joined["members"] if m["user_id"] == office.alice.id]
        assert (alice_there["muted"], alice_there["camera_off"]) == (True, False)

        assert (await alice.call("media:state", {"muted": False, "camera_off": True}))["ok"]
        for person in (bob, admin):
            await eventually(lambda person=person: said(person, office.alice.id) == (False, True))
        assert said(alice, office.bob.id) == (False, False)
    finally:
        for person in (alice, bob, admin):
            await person.rt.close()


async def test_in_a_town_hall_only_its_owners_publish(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    bob = await in_room(join, "bob@acme.example", rooms["Town hall"])
    try:
        joined = await bob.person.call("media:join")
        assert joined["ok"] and joined["may_publish"] is False
        pc = bob.publisher.pc
        await pc.setLocalDescription(await pc.createOffer())
        reply = await bob.person.call(
            "media:publish", {"source": "camera", "sdp": pc.localDescription.sdp}
        )
        assert reply["error"]["code"] == "forbidden"
    finally:
        await bob.close()
