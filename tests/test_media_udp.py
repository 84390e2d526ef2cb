"""Media on one known UDP port: every connection of the relay gathers its host candidate on
the process's one port, at the announced address, and a meeting's many connections are told
apart on that socket (STUN username fragment, then the sender's address)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from media.relay import Relay
from media.udp import UdpMux
from tests.media_peers import Publisher, Signalled, Subscriber, until

ROOM = "room-1"
CANDIDATE = re.compile(r"a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ (\w+)", re.IGNORECASE)


def candidates(sdp: str) -> list[tuple[str, int, str]]:
    return [(host, int(port), kind) for host, port, kind in CANDIDATE.findall(sdp)]


@pytest.fixture
async def muxed(loopback_ice: None) -> AsyncIterator[tuple[Relay, Signalled, UdpMux]]:
    udp = UdpMux(0, announced=["127.0.0.1"], bind_host="127.0.0.1")
    await udp.start()
    signals = Signalled()
    relay = Relay(signals, udp=udp)
    signals.relay = relay
    yield relay, signals, udp
    await relay.close()
    for subscriber in signals.subscribers.values():
        await subscriber.close()
    udp.close()


async def test_a_meeting_runs_over_the_one_port_and_every_relay_candidate_is_on_it(
    muxed: tuple[Relay, Signalled, UdpMux],
) -> None:
    relay, signals, udp = muxed
    pubs = []
    try:
        answers = []
        for n in range(2):
            await relay.join(ROOM, f"pub{n}", may_publish=True)
            pub = Publisher()
            await pub.publish(relay, f"pub{n}")
            answers.append(pub.pc.remoteDescription.sdp)
            pubs.append(pub)
        watcher = Subscriber("watcher")
        signals.subscribers["watcher"] = watcher
        await relay.join(ROOM, "watcher", may_publish=True)
        await relay.settle()
        # Two publishers, each receiving the other, and the watcher receiving both.
        peers = relay.peers()
        assert len(peers) == 6
        await until(
            lambda: (
                len(watcher.pcs) == 2
                and all(len(watcher.video(p)) >= 10 and watcher.audio(p) for p in watcher.pcs)
            )
        )
        offers = [pc.remoteDescription.sdp for pc in watcher.pcs.values()]
        for sdp in answers + offers:
            assert candidates(sdp) and all(
                (host, port) == ("127.0.0.1", udp.port) for host, port, _ in candidates(sdp)
            ), sdp
        # The test's own peers in the same process keep their ephemeral ports.
        for pub in pubs:
            ours = candidates(pub.pc.localDescription.sdp)
            assert ours and udp.port not in [port for _, port, _ in ours]
        assert udp.connections >= len(peers)  # unbundled transports gather too
    finally:
        for pub in pubs:
            await pub.close()
    await relay.close()
    assert udp.connections == 0  # closed connections leave the mux


async def test_the_announced_address_replaces_the_interface_addresses_in_the_sdp(
    loopback_ice: None,
) -> None:
    udp = UdpMux(0, announced=["203.0.113.7"], bind_host="127.0.0.1")
    await udp.start()
    relay = Relay(Signalled(), udp=udp)
    pub = Publisher()
    try:
        await relay.join(ROOM, "pub", may_publish=True)
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        _, answer = await relay.publish("pub", "camera", pub.pc.localDescription.sdp)
        assert set(candidates(answer)) == {("203.0.113.7", udp.port, "host")}
        assert "127.0.0.1" not in answer
    finally:
        await pub.close()
        await relay.close()
        udp.close()


async def test_stray_datagrams_and_unknown_username_fragments_reach_no_connection(
    muxed: tuple[Relay, Signalled, UdpMux],
) -> None:
    """Packets from an address no check has bound, or checks naming no connection of ours,
    are dropped, and the meeting on the port is unaffected."""
    import asyncio

    from aioice import stun

    relay, _signals, udp = muxed
    await relay.join(ROOM, "pub", may_publish=True)
    pub = Publisher()
    try:
        await pub.publish(relay, "pub")
        published = relay.member("pub").published["camera"]  # type: ignore[union-attr]
        await until(lambda: all(p.frames >= 5 for p in published.publications))
        loop = asyncio.get_running_loop()
        replies: list[bytes] = []

        class Stranger(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                replies.append(data)

        transport, _ = await loop.create_datagram_endpoint(Stranger, local_addr=("127.0.0.1", 0))
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        request.attributes["USERNAME"] = "nobody:x"
        request.add_message_integrity(b"wrong")
        transport.sendto(bytes(request), ("127.0.0.1", udp.port))
        transport.sendto(b"\x80" + bytes(40), ("127.0.0.1", udp.port))  # RTP-like
        frames = sum(p.frames for p in published.publications)
        await until(lambda: sum(p.frames for p in published.publications) > frames + 5)
        transport.close()
        assert replies == []
    finally:
        await pub.close()


async def test_connections_sharing_a_username_fragment_are_told_apart_by_their_password() -> None:
    """Two connections with the same fragment: a check is answered by the one whose password
    signed it, and what that address sends afterwards (DTLS, RTP) reaches that one only."""
    import asyncio

    from aioice import ice, stun

    udp = UdpMux(0, announced=["127.0.0.1"], bind_host="127.0.0.1")
    await udp.start()
    first = ice.Connection(ice_controlling=False, local_username="same")
    second = ice.Connection(ice_controlling=False, local_username="same")
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    class Browser(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            replies.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Browser, local_addr=("127.0.0.1", 0))
    try:
        with udp.gathering():
            await first.gather_candidates()
            await second.gather_candidates()
        assert [c.port for c in first.local_candidates + second.local_candidates] == [udp.port] * 2
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        request.attributes["USERNAME"] = "same:browser"
        request.attributes["PRIORITY"] = 1
        request.add_message_integrity(second.local_password.encode())
        request.add_fingerprint()
        transport.sendto(bytes(request), ("127.0.0.1", udp.port))
        response = stun.parse_message(await asyncio.wait_for(replies.get(), 5))
        assert response.message_class == stun.Class.RESPONSE
        assert response.check_message_integrity(second.local_password.encode())
        transport.sendto(b"\x17\xfe\xfd" + bytes(20), ("127.0.0.1", udp.port))  # DTLS-like
        received = await asyncio.wait_for(second._queue.get(), 5)  # what recv() would return
        assert received is not None
        data, _ = received
        assert data.startswith(b"\x17\xfe\xfd") and first._queue.empty()
    finally:
        transport.close()
        await first.close()
        await second.close()
        assert udp.connections == 0
        udp.close()


async def test_a_media_port_already_taken_is_named_in_the_error() -> None:
    first = UdpMux(0, bind_host="127.0.0.1")
    await first.start()
    try:
        with pytest.raises(OSError, match=f"media UDP port 127.0.0.1:{first.port}: "):
            await UdpMux(first.port, bind_host="127.0.0.1").start()
    finally:
        first.close()
