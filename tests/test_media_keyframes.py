"""Keyframe requests of the relay: they name the publisher's media SSRC, and a subscriber that
waits for a keyframe keeps asking until one comes (what brought reloaded tabs' video back)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from fractions import Fraction

from aiortc import MediaStreamTrack
from aiortc.rtp import RtpPacket

from media.encoded import EncodedFrame
from media.forwarding import KEYFRAME_RETRY, ForwardedTrack, Publication
from media.jitter import MarkerJitterBuffer
from tests.waiting import eventually

MEDIA_SSRC = 1111
RTX_SSRC = 2222


@dataclass
class _Source:
    source: int


class _Receiver:
    """What a Publication uses of aiortc's receiver: its sources, the PLI and RTCP it sends."""

    def __init__(self, sources: list[int]) -> None:
        self.sources = sources
        self.plis: list[int] = []

    def getSynchronizationSources(self) -> list[_Source]:
        return [_Source(s) for s in self.sources]

    async def _send_rtcp_pli(self, ssrc: int) -> None:
        self.plis.append(ssrc)

    async def _send_rtcp(self, packet: object) -> None:
        """Where the REMB to the publisher goes (media.feedback caps it)."""


class _Camera(MediaStreamTrack):
    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[EncodedFrame] = asyncio.Queue()

    async def recv(self) -> EncodedFrame:  # type: ignore[override]
        return await self.frames.get()


def _frame(pts: int, keyframe: bool) -> EncodedFrame:
    return EncodedFrame("VP8", b"\x00" if keyframe else b"\x01", pts, Fraction(1, 90000), keyframe)


def _buffer_that_saw_media() -> MarkerJitterBuffer:
    buffer = MarkerJitterBuffer()
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=3000, ssrc=MEDIA_SSRC)
    packet._data = b"\x10"  # type: ignore[attr-defined]  # what aiortc's depayloader sets
    buffer.add(packet)
    return buffer


async def test_a_keyframe_request_names_the_media_ssrc_not_the_retransmission_one() -> None:
    # Chromium's bandwidth probes arrive on its RTX SSRC before the first media packet, so
    # the receiver lists the RTX source first; a PLI naming it is ignored by the browser.
    receiver = _Receiver([RTX_SSRC, MEDIA_SSRC])
    buffer = _buffer_that_saw_media()
    camera = _Camera()
    publication = Publication(camera, receiver, media_ssrc=lambda: buffer.media_ssrc)  # type: ignore[arg-type]
    publication.start()
    track = ForwardedTrack("video", publication)
    try:
        await eventually(lambda: receiver.plis)
        assert receiver.plis[0] == MEDIA_SSRC
        assert RTX_SSRC not in receiver.plis
    finally:
        track.stop()
        await publication.stop()


async def test_a_subscriber_waiting_for_a_keyframe_asks_again_until_one_comes() -> None:
    receiver = _Receiver([MEDIA_SSRC])
    buffer = _buffer_that_saw_media()
    camera = _Camera()
    publication = Publication(camera, receiver, media_ssrc=lambda: buffer.media_ssrc)  # type: ignore[arg-type]
    publication.start()
    track = ForwardedTrack("video", publication)
    try:
        # The first PLI is lost (the publisher never answers it): the relay asks again.
        await eventually(lambda: len(receiver.plis) >= 2, deadline=4 * KEYFRAME_RETRY + 1)
        await camera.frames.put(_frame(3000, keyframe=True))
        frame = await asyncio.wait_for(track.next_frame(), 2)
        assert frame.keyframe
        # Once the keyframe came, nobody waits, and the requests stop: a round trip through
        # the pump (another frame delivered) shows the PLI task has finished.
        await camera.frames.put(_frame(6000, keyframe=False))
        await asyncio.wait_for(track.next_frame(), 2)
        pending = publication._pli_pending
        if pending is not None:
            await asyncio.wait_for(pending, 2 * KEYFRAME_RETRY + 1)
        asked = len(receiver.plis)
        await camera.frames.put(_frame(9000, keyframe=False))
        await asyncio.wait_for(track.next_frame(), 2)
        assert not track.waiting_for_keyframe
        assert len(receiver.plis) == asked
    finally:
        track.stop()
        await publication.stop()
