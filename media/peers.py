"""Peer connections of the relay: one to receive each thing a person publishes, one to send
each publisher's media to each subscriber.

Why so many connections: aiortc loses the second and later video tracks of a connection that
bundles audio with two or more videos (aiortc #868, #1437), which is exactly a camera plus a
screen share. One connection per published source (camera+microphone, or screen) and per
(subscriber, publisher source) never has more than one video, and joining or leaving adds or
closes connections without renegotiating anyone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from media.errors import SignallingError
from media.forwarding import ForwardedTrack, Publication
from media.jitter import use_marker_jitter_buffer
from media.transcoding import TranscodedTrack
from media.udp import UdpMux

log = logging.getLogger("officehours.media")

MAX_SDP_BYTES = 64 * 1024
# Codecs the relay can forward without transcoding, in order of preference.
FORWARDABLE = {"audio": ("opus",), "video": ("vp8", "h264")}


@dataclass(frozen=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


def _configuration(ice_servers: Sequence[IceServer]) -> RTCConfiguration:
    # An explicit (possibly empty) list: aiortc's default is a public STUN server.
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in ice_servers
        ]
    )


def _gathering(udp: UdpMux | None) -> contextlib.AbstractContextManager[None]:
    return udp.gathering() if udp is not None else contextlib.nullcontext()


def _parse(sdp: object, kind: str) -> RTCSessionDescription:
    if not isinstance(sdp, str) or not sdp.strip():
        raise SignallingError("sdp must be a non-empty string")
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise SignallingError("sdp is too large")
    if not sdp.startswith("v=0"):
        raise SignallingError("sdp must start with v=0")
    return RTCSessionDescription(sdp=sdp, type=kind)


def _forwardable(kind: str, only: str | None = None) -> list[RTCRtpCodecCapability]:
    """Codec preferences: forwardable codecs (or just ``only``), with RTX for video."""
    capabilities = RTCRtpSender.getCapabilities(kind)
    names = (only.lower(),) if only else FORWARDABLE[kind]
    chosen = [c for name in names for c in capabilities.codecs if c.name.lower() == name]
    chosen += [c for c in capabilities.codecs if c.name.lower() == "rtx"]
    return chosen


class PublishPeer:
    """Receives one source (camera + microphone, or a screen) from one person."""

    def __init__(
        self,
        peer_id: str,
        source: str,
        ice_servers: Sequence[IceServer],
        udp: UdpMux | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.source = source
        self._udp = udp
        self.pc = RTCPeerConnection(_configuration(ice_servers))
        self.publications: list[Publication] = []

        @self.pc.on("track")
        def on_track(track: object) -> None:
            receiver = next(
                t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track
            )
            video = receiver.track.kind == "video"
            buffer = use_marker_jitter_buffer(receiver) if video else None
            publication = Publication(
                receiver.track,
                receiver,
                media_ssrc=(lambda: buffer.media_ssrc) if buffer is not None else None,
            )
            publication.start()
            self.publications.append(publication)

    async def answer(self, offer_sdp: object) -> str:
        """Accept the browser's offer (send-only tracks); forwardable codecs only."""
        offer = _parse(offer_sdp, "offer")
        try:
            await self.pc.setRemoteDescription(offer)
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise SignallingError(f"malformed offer: {error}") from error
        kinds = [t.kind for t in self.pc.getTransceivers()]
        if not kinds or kinds.count("video") > 1 or kinds.count("audio") > 1:
            raise SignallingError("publish one audio and at most one video track per offer")
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"
            transceiver.setCodecPreferences(_forwardable(transceiver.kind))
        answer = await self.pc.createAnswer()
        if answer is None:
            raise SignallingError("no answer could be made for this offer")
        with _gathering(self._udp):
            await self.pc.setLocalDescription(answer)
        return self.pc.localDescription.sdp

    def codec(self, kind: str) -> str | None:
        """The codec negotiated for ``kind`` (aiortc keeps it on the transceiver)."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == kind and transceiver._codecs:
                return str(transceiver._codecs[0].name)
        return None

    async def close(self) -> None:
        for publication in self.publications:
            await publication.stop()
        await self.pc.close()


class SubscribePeer:
    """Sends one publisher's source to one subscriber; the relay makes the offer.

    ``video_codecs``: what the subscriber said it can receive (None: anything forwardable).
    Only when the publisher's codec is not among them is its video transcoded.
    """

    def __init__(
        self,
        peer_id: str,
        publish: PublishPeer,
        ice_servers: Sequence[IceServer],
        video_codecs: Sequence[str] | None = None,
        udp: UdpMux | None = None,
    ):
        self.peer_id = peer_id
        self._udp = udp
        self.publish = publish
        self.pc = RTCPeerConnection(_configuration(ice_servers))
        self.tracks: list[ForwardedTrack] = []
        self.transcoded: list[TranscodedTrack] = []
        self._video_codecs = [c.upper() for c in video_codecs] if video_codecs else None
        self.answered = False
        self.offered_at = 0.0  # event-loop time the relay sent the offer

    async def offer(self) -> str:
        for publication in self.publish.publications:
            track = ForwardedTrack(publication.kind, publication)
            track.peer_id = self.peer_id
            self.tracks.append(track)
            codec = self.publish.codec(publication.kind)
            wanted = self._video_codecs
            if publication.kind == "video" and codec and wanted and codec.upper() not in wanted:
                transcoded = TranscodedTrack(track, codec)
                self.transcoded.append(transcoded)
                transceiver = self.pc.addTransceiver(transcoded, direction="sendonly")
                transceiver.setCodecPreferences(_forwardable("video", wanted[0]))
                continue  # the sender's own encoder answers keyframe requests
            transceiver = self.pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(_forwardable(publication.kind, codec))
            track.bind(transceiver.sender)
        offer = await self.pc.createOffer()
        with _gathering(self._udp):
            await self.pc.setLocalDescription(offer)
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: object) -> None:
        if self.answered:
            raise SignallingError("this connection is already answered")
        answer = _parse(answer_sdp, "answer")
        try:
            await self.pc.setRemoteDescription(answer)
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise SignallingError(f"malformed answer: {error}") from error
        self.answered = True

    async def close(self) -> None:
        for track in self.tracks:
            track.stop()
        for transcoded in self.transcoded:
            transcoded.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self.pc.close()
