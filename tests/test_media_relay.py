"""The relay with real aiortc peers on loopback: forwarding, keyframe gating, PLI upstream,
timestamps across a source switch, leave and rejoin, offers made afresh, and bad SDP."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from media.errors import SignallingError
from media.forwarding import PLI_INTERVAL, Publication
from media.peers import SubscribePeer
from media.relay import OFFER_ATTEMPTS, Relay
from tests.media_peers import Publisher, Signalled, Subscriber, until

ROOM = "room-1"


async def meeting(
    relay: Relay, signals: Signalled, publishers: int = 1
) -> tuple[list[Publisher], Subscriber]:
    pubs = []
    for n in range(publishers):
        await relay.join(ROOM, f"pub{n}", may_publish=True)
        pub = Publisher()
        await pub.publish(relay, f"pub{n}")
        pubs.append(pub)
        # Subscribers arrive mid-stream, so they must wait for a keyframe.
        published = relay.member(f"pub{n}").published["camera"]  # type: ignore[union-attr]
        await until(lambda p=published: all(pub.frames >= 10 for pub in p.publications))
    watcher = Subscriber("watcher")
    signals.subscribers["watcher"] = watcher
    await relay.join(ROOM, "watcher", may_publish=True)
    await relay.settle()
    return pubs, watcher


def camera_video(relay: Relay, key: str) -> Publication:
    """The video publication of ``key``'s camera."""
    member = relay.member(key)
    assert member is not None
    return next(p for p in member.published["camera"].publications if p.kind == "video")


def only_peer(subscriber: Subscriber) -> str:
    (peer_id,) = subscriber.pcs
    return peer_id


async def test_a_late_subscriber_gets_video_from_a_keyframe_and_audio(
    relay_setup: tuple[Relay, Signalled],
) -> None:
    relay, signals = relay_setup
    pubs, watcher = await meeting(relay, signals)
    try:
        peer_id = only_peer(watcher)
        await until(lambda: len(watcher.video(peer_id)) >= 20 and watcher.audio(peer_id))
        frames = watcher.video(peer_id)
        assert frames[0].keyframe, "the first forwarded frame must be a keyframe"
        video = camera_video(relay, "pub0")
        assert video.plis_sent >= 1  # gating asked the publisher for that keyframe
        assert [f.pts for f in frames] == sorted(f.pts for f in frames)
    finally:
        for pub in pubs:
            await pub.close()


async def test_a_subscribers_picture_loss_reaches_the_publisher_rate_limited(
    relay_setup: tuple[Relay, Signalled],
) -> None:
    relay, signals = relay_setup
    pubs, watcher = await meeting(relay, signals)
    try:
        peer_id = only_peer(watcher)
        await until(lambda: len(watcher.video(peer_id)) >= 10)
        video = camera_video(relay, "pub0")
        await until(lambda: video._pli_pending is None or video._pli_pending.done())
        keyframes_before = sum(f.keyframe for f in watcher.video(peer_id))
        plis_before = video.plis_sent
        receiver = next(r for r in watcher.receivers[peer_id] if r.track.kind == "video")
        ssrc = receiver.getSynchronizationSources()[0].source
        for _ in range(5):  # a burst of PLIs from the subscriber
            await receiver._send_rtcp_pli(ssrc)
        await until(lambda: sum(f.keyframe for f in watcher.video(peer_id)) > keyframes_before)
        # The burst became at most two upstream PLIs (one now, one after the interval).
        await until(lambda: video._pli_pending is None or video._pli_pending.done(), 2)
        assert 1 <= video.plis_sent - plis_before <= 2
        assert PLI_INTERVAL >= 0.3
    finally:
        for pub in pubs:
            await pub.close()


async def test_switching_source_keeps_sequence_numbers_and_timestamps_running(
    relay_setup: tuple[Relay, Signalled],
) -> None:
    relay, signals = relay_setup
    pubs, watcher = await meeting(relay, signals, publishers=2)
    try:
        first = next(
            peer_id
            for member, peer_id, publisher, _ in signals.offers
            if member == "watcher" and publisher == "pub0"
        )
        await until(lambda: len(watcher.video(first)) >= 15)
        sub_peer = relay.member("watcher").receiving[first]  # type: ignore[union-attr]
        track = next(t for t in sub_peer.tracks if t.kind == "video")
        other_video = camera_video(relay, "pub1")
        before = len(watcher.heard.rtp[first])
        track.switch_to(other_video)
        await until(lambda: len(watcher.heard.rtp[first]) >= before + 40)
        rtp = watcher.heard.rtp[first]
        sequence = [seq for seq, _ in rtp]
        assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(sequence))
        stamps = [ts for _, ts in rtp]
        assert all((b - a) % 2**32 < 2**31 for a, b in itertools.pairwise(stamps))
        assert track.source is other_video
        # After the switch the subscriber started again at a keyframe.
        frames = watcher.video(first)
        assert any(f.keyframe for f in frames[15:])
    finally:
        for pub in pubs:
            await pub.close()


async def test_leaving_closes_their_connections_and_rejoining_gets_media_again(
    relay_setup: tuple[Relay, Signalled],
) -> None:
    relay, signals = relay_setup
    pubs, watcher = await meeting(relay, signals)
    try:
        first = only_peer(watcher)
        await until(lambda: len(watcher.video(first)) >= 5)
        publication = relay.member("pub0").published["camera"]  # type: ignore[union-attr]
        await relay.leave("watcher")
        assert all(p.subscriber_count == 0 for p in publication.publications)
        await watcher.close()

        again = Subscriber("watcher")
        signals.subscribers["watcher"] = again
        await relay.join(ROOM, "watcher", may_publish=True)
        await relay.settle()
        second = only_peer(again)
        assert second != first
        await until(lambda: len(again.video(second)) >= 5)
        assert again.video(second)[0].keyframe

        # The publisher leaves: the watcher is told its connection closed.
        await relay.leave("pub0")
        await relay.settle()
        assert ("watcher", second) in signals.closed_peers
        assert relay.meeting(ROOM) is not None
        await relay.leave("watcher")
        assert relay.meeting(ROOM) is None
    finally:
        for pub in pubs:
            await pub.close()


async def test_hanging_up_closes_every_connection_at_once_and_leaving_after_it_works(
    relay_setup: tuple[Relay, Signalled],
) -> None:
    relay, signals = relay_setup
    pubs, watcher = await meeting(relay, signals, publishers=2)
    try:
        await until(lambda: all(len(watcher.video(p)) >= 3 for p in watcher.pcs))
        peers = relay.peers()
        assert len(peers) == 6  # two publications, each received by the two others
        await relay.hang_up()
        assert {peer.pc.connectionState for peer in peers} == {"closed"}
        for key in ("pub0", "pub1", "watcher"):
            await relay.leave(key)
        assert relay.meeting(ROOM) is None
    finally:
        for pub in pubs:
            await pub.close()


@pytest.mark.parametrize(
    "sdp", ["", "hello", "v=0\r\nthis is not sdp\r\n", 42, None, "v=0" + "x" * 70000]
)
async def test_malformed_sdp_is_refused_and_changes_nothing(
    relay_setup: tuple[Relay, Signalled], sdp: Any
) -> None:
    relay, signals = relay_setup
    pubs, watcher = await meeting(relay, signals)
    try:
        await relay.join(ROOM, "mallory", may_publish=True)
        with pytest.raises(SignallingError):
            await relay.publish("mallory", "camera", sdp)
        with pytest.raises(SignallingError):
            await relay.answer("watcher", only_peer(watcher), sdp)
        assert relay.member("mallory").published == {}  # type: ignore[union-attr]
        peer_id = only_peer(watcher)
        count = len(watcher.video(peer_id))
        await until(lambda: len(watcher.video(peer_id)) > count + 5)
    finally:
        for pub in pubs:
            await pub.close()


async def test_listeners_of_a_town_hall_cannot_publish(
    relay_setup: tuple[Relay, Signalled],
) -> None:
    relay, _ = relay_setup
    await relay.join(ROOM, "listener", may_publish=False)
    pub = Publisher()
    try:
        with pytest.raises(PermissionError):
            await pub.publish(relay, "listener")
        with pytest.raises(SignallingError):
            await relay.publish("listener", "hologram", "v=0")
    finally:
        await pub.close()


async def test_only_a_subscriber_that_cannot_receive_the_codec_gets_it_transcoded(
    relay_setup: tuple[Relay, Signalled],
) -> None:
    relay, signals = relay_setup
    await relay.join(ROOM, "pub", may_publish=True)
    publisher = Publisher(audio=False, video_codec="H264")
    try:
        await publisher.publish(relay, "pub")
        forwarded, fallback = Subscriber("anything"), Subscriber("vp8-only")
        signals.subscribers.update({"anything": forwarded, "vp8-only": fallback})
        await relay.join(ROOM, "anything", may_publish=True)
        await relay.join(ROOM, "vp8-only", may_publish=True, video_codecs=("VP8",))
        await relay.settle()
        plain, converted = only_peer(forwarded), only_peer(fallback)
        await until(
            lambda: len(forwarded.video(plain)) >= 10 and len(fallback.video(converted)) >= 10
        )
        assert {f.codec for f in forwarded.video(plain)} == {"H264"}  # forwarded as sent
        assert {f.codec for f in fallback.video(converted)} == {"VP8"}  # re-encoded for it
        assert fallback.video(converted)[0].keyframe
        member = relay.member("anything")
        assert member is not None and not member.receiving[plain].transcoded
    finally:
        await publisher.close()


class Forgetful(Signalled):
    """Signals that lose the first ``lose`` offers to each member (a dropped message, or a
    browser that failed on the offer and never answered)."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose
        self.lost: list[str] = []

    async def offer(self, member: str, peer_id: str, publisher: str, source: str, sdp: str) -> None:
        if sum(1 for m, *_ in self.offers if m == member) < self.lose:
            self.offers.append((member, peer_id, publisher, source))
            self.lost.append(peer_id)
            return
        await super().offer(member, peer_id, publisher, source, sdp)


async def patient_meeting(signals: Signalled) -> tuple[Relay, Publisher, Subscriber]:
    """A relay that re-offers an unanswered subscription at the next tend (patience 0) and
    tends only when the test says so; one publisher, then a watcher."""
    relay = Relay(signals, answer_patience=0.0, tend_interval=3600.0)
    signals.relay = relay
    await relay.join(ROOM, "pub", may_publish=True)
    publisher = Publisher()
    await publisher.publish(relay, "pub")
    watcher = Subscriber("watcher")
    signals.subscribers["watcher"] = watcher
    await relay.join(ROOM, "watcher", may_publish=True)
    await relay.settle()
    return relay, publisher, watcher


async def test_an_offer_that_went_unanswered_is_made_afresh_and_media_flows(
    loopback_ice: None,
) -> None:
    signals = Forgetful(lose=1)
    relay, publisher, watcher = await patient_meeting(signals)
    try:
        assert watcher.pcs == {}  # the first offer never reached the watcher
        await relay.tend()
        await relay.settle()
        peer_id = only_peer(watcher)
        await until(lambda: len(watcher.video(peer_id)) >= 5 and watcher.audio(peer_id))
        # The unanswered connection was closed and the browser told so.
        assert signals.closed_peers == [("watcher", signals.lost[0])]
        member = relay.member("watcher")
        assert member is not None and list(member.receiving) == [peer_id]
    finally:
        await publisher.close()
        await relay.close()
        await watcher.close()


async def test_an_offer_that_failed_to_be_made_is_made_on_the_next_tend(
    loopback_ice: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = SubscribePeer.offer
    failures = iter([RuntimeError("gathering failed")])

    async def failing_once(self: SubscribePeer) -> str:
        for error in failures:
            raise error
        return await made(self)

    monkeypatch.setattr(SubscribePeer, "offer", failing_once)
    signals = Signalled()
    relay, publisher, watcher = await patient_meeting(signals)
    try:
        assert watcher.pcs == {}
        await relay.tend()
        await relay.settle()
        peer_id = only_peer(watcher)
        await until(lambda: len(watcher.video(peer_id)) >= 5)
    finally:
        await publisher.close()
        await relay.close()
        await watcher.close()


async def test_a_browser_that_never_answers_gets_a_bounded_number_of_offers(
    loopback_ice: None,
) -> None:
    signals = Forgetful(lose=100)
    relay, publisher, watcher = await patient_meeting(signals)
    try:
        for _ in range(OFFER_ATTEMPTS + 2):
            await relay.tend()
            await relay.settle()
        assert len(signals.lost) == OFFER_ATTEMPTS
        # Every connection but the last offered was closed; the last waits for its answer.
        member = relay.member("watcher")
        assert member is not None and list(member.receiving) == signals.lost[-1:]
        assert [peer for _, peer in signals.closed_peers] == signals.lost[:-1]
    finally:
        await publisher.close()
        await relay.close()
        await watcher.close()


async def test_a_newcomer_is_told_who_is_speaking_now(
    relay_setup: tuple[Relay, Signalled],
) -> None:
    """Speakers are announced when they change; someone who joins mid-sentence must still
    learn who is speaking (the map ring stayed off for them until the speaker changed)."""
    relay, signals = relay_setup
    await relay.join(ROOM, "ada", may_publish=True)
    pub = Publisher(loud=True)
    await pub.publish(relay, "ada")
    try:
        await until(lambda: signals.speakers == [(ROOM, "ada")])
        await relay.join(ROOM, "bruno", may_publish=True)
        await until(lambda: signals.speakers == [(ROOM, "ada"), (ROOM, "ada")])
    finally:
        await pub.close()
