"""The media network settings, end to end through the server: with a media UDP port, the
relay's answers carry only the announced address and that port, and media flows; with a
TURN server configured, each browser's media:join ack carries its own time-limited pair."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.infra.clock import FakeClock
from server.infra.settings import Settings
from server.meetings.turn import turn_password
from tests.conftest import Backend, Office, make_settings
from tests.people import rooms_by_name
from tests.test_meetings import in_room
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("loopback_ice")

TURN_SECRET = "turn-shared-secret-for-tests"
CANDIDATE = re.compile(r"a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host", re.IGNORECASE)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def media_port() -> int:
    return _free_udp_port()


@pytest.fixture
def settings(tmp_path: Path, backend: Backend, media_port: int) -> Settings:
    return make_settings(
        tmp_path,
        backend,
        MEDIA_UDP_PORT=str(media_port),
        MEDIA_ANNOUNCED_ADDRESSES="127.0.0.1",
        MEDIA_BIND_ADDRESS="127.0.0.1",
        TURN_URLS="turn:turn.officehours.test:3478?transport=udp,turns:turn.officehours.test:443",
        TURN_SECRET=TURN_SECRET,
        TURN_TTL_SECONDS="3600",
    )


async def test_media_uses_the_one_port_and_each_join_gets_its_own_turn_credentials(
    client: TestClient[Any, Any], office: Office, join: Any, clock: FakeClock, media_port: int
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    alice = await in_room(join, "alice@acme.example", rooms["Lobby"])
    bob = await in_room(join, "bob@acme.example", rooms["Lobby"])
    try:
        acks = [await alice.person.call("media:join"), await bob.person.call("media:join")]
        expiry = int(clock.now().timestamp()) + 3600
        for ack in acks:
            assert ack["ok"], ack
            (turn,) = ack["ice_servers"]
            assert turn["urls"] == [
                "turn:turn.officehours.test:3478?transport=udp",
                "turns:turn.officehours.test:443",
            ]
            assert turn["username"].startswith(f"{expiry}:")
            assert turn["credential"] == turn_password(TURN_SECRET, turn["username"])
        assert acks[0]["ice_servers"] != acks[1]["ice_servers"]
        answers = [await alice.publish(), await bob.publish()]
        await eventually(lambda: any(n >= 10 for n in bob.frames.values()), 15)
        await eventually(lambda: any(n >= 10 for n in alice.frames.values()), 15)
        offers = [pc.remoteDescription.sdp for b in (alice, bob) for pc in b.incoming.values()]
        for sdp in [a["sdp"] for a in answers] + offers:
            found = CANDIDATE.findall(sdp)
            assert found and set(found) == {("127.0.0.1", str(media_port))}, sdp
    finally:
        await alice.close()
        await bob.close()
