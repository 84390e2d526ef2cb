"""Real aiortc peers on loopback for media tests: publishers with synthetic camera and
microphone, subscribers that answer the relay's offers and count what arrives."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import av
import pytest
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)

from media import encoded
from media.encoded import EncodedFrame
from media.relay import Relay
from tests.waiting import eventually


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice never gathers 127.0.0.1 by itself; keep every candidate on loopback."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    encoded.install()


class SmallCamera(VideoStreamTrack):
    """160x120 frames whose colour changes, so every frame encodes to something new."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        self.n += 1
        frame = av.VideoFrame(160, 120, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(self.n * 7) % 255]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


class LoudMicrophone(AudioStreamTrack):
    """A square wave near full scale: aiortc's level extension says about 0 dBov, so the
    relay takes whoever publishes it for the active speaker."""

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        assert isinstance(frame, av.AudioFrame)
        half = frame.samples // 2
        wave = (b"\x00\x60" * half) + (b"\x00\xa0" * (frame.samples - half))
        frame.planes[0].update(wave)
        return frame


@dataclass
class Heard:
    """What a subscriber's receivers got, per connection."""

    frames: dict[str, list[EncodedFrame]] = field(default_factory=dict)
    rtp: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


class Publisher:
    def __init__(
        self, audio: bool = True, video_codec: str | None = None, loud: bool = False
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.camera = SmallCamera()
        video = self.pc.addTransceiver(self.camera, direction="sendonly")
        if video_codec is not None:
            video.setCodecPreferences(
                [
                    c
                    for c in RTCRtpSender.getCapabilities("video").codecs
                    if c.name.upper() == video_codec
                ]
            )
        if audio:
            microphone = LoudMicrophone() if loud else AudioStreamTrack()
            self.pc.addTransceiver(microphone, direction="sendonly")

    async def publish(self, relay: Relay, key: str, source: str = "camera") -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        peer_id, answer = await relay.publish(key, source, self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        return peer_id

    async def close(self) -> None:
        await self.pc.close()


class Subscriber:
    """Answers every offer the relay signals to ``key`` and records frames and RTP headers."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.receivers: dict[str, list[RTCRtpReceiver]] = {}
        self.heard = Heard()
        self._readers: list[asyncio.Task[None]] = []

    async def take_offer(self, relay: Relay, peer_id: str, sdp: str) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[peer_id] = pc
        frames = self.heard.frames.setdefault(peer_id, [])

        @pc.on("track")
        def on_track(track: Any) -> None:
            self._readers.append(asyncio.create_task(self._read(track, frames)))

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        self.receivers[peer_id] = [t.receiver for t in pc.getTransceivers()]
        for receiver in self.receivers[peer_id]:
            if receiver.track.kind == "video":
                self._record_rtp(receiver, self.heard.rtp.setdefault(peer_id, []))
        await pc.setLocalDescription(await pc.createAnswer())
        await relay.answer(self.key, peer_id, pc.localDescription.sdp)

    @staticmethod
    def _record_rtp(receiver: RTCRtpReceiver, into: list[tuple[int, int]]) -> None:
        handle = receiver._handle_rtp_packet

        async def recording(packet: Any, arrival_time_ms: int) -> None:
            into.append((packet.sequence_number, packet.timestamp))
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = recording  # type: ignore[method-assign]

    @staticmethod
    async def _read(track: Any, into: list[EncodedFrame]) -> None:
        with contextlib.suppress(Exception):
            while True:
                into.append(await track.recv())

    def video(self, peer_id: str) -> list[EncodedFrame]:
        return [f for f in self.heard.frames.get(peer_id, []) if f.codec in ("VP8", "H264")]

    def audio(self, peer_id: str) -> list[EncodedFrame]:
        return [f for f in self.heard.frames.get(peer_id, []) if f.codec == "opus"]

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for pc in self.pcs.values():
            await pc.close()


class Signalled:
    """``media.relay.Signals`` for tests: offers go to the matching Subscriber."""

    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.relay: Relay | None = None
        self.offers: list[tuple[str, str, str, str]] = []
        self.closed_peers: list[tuple[str, str]] = []
        self.speakers: list[tuple[str, str | None]] = []

    async def offer(self, member: str, peer_id: str, publisher: str, source: str, sdp: str) -> None:
        self.offers.append((member, peer_id, publisher, source))
        subscriber = self.subscribers.get(member)
        if subscriber is not None and self.relay is not None:
            await subscriber.take_offer(self.relay, peer_id, sdp)

    async def closed(self, member: str, peer_id: str) -> None:
        self.closed_peers.append((member, peer_id))

    async def speaker(self, room: str, member: str | None) -> None:
        self.speakers.append((room, member))


@pytest.fixture
async def relay_setup(loopback_ice: None) -> AsyncIterator[tuple[Relay, Signalled]]:
    signals = Signalled()
    relay = Relay(signals)
    signals.relay = relay
    yield relay, signals
    await relay.close()
    for subscriber in signals.subscribers.values():
        await subscriber.close()


async def until(check: Any, deadline: float = 10.0) -> Any:
    return await eventually(check, deadline)


VIDEO_CLOCK = fractions.Fraction(1, 90000)
