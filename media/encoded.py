"""Receive encoded frames instead of decoded ones: the seam that makes forwarding possible.

aiortc's ``RTCRtpReceiver.receive()`` starts a thread running the module-level function
``aiortc.rtcrtpreceiver.decoder_worker``, which decodes each frame the jitter buffer
completes and puts the picture on the remote track's queue. ``install()`` replaces that
function (it is looked up when the thread starts) with one that puts an ``EncodedFrame`` on the
queue instead, so a relay pays for re-packetizing only. This is process-wide: a process that
relays media never decodes it. It depends on aiortc internals, so the version is pinned and
tests/test_media_seams.py fails loudly if an upgrade moves them.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import aiortc
from aiortc import rtcrtpreceiver

from media.layers import vp8_temporal_info

SUPPORTED_AIORTC = "1.16.0"
VIDEO_CLOCK = Fraction(1, 90000)
AUDIO_CLOCK = Fraction(1, 48000)


@dataclass(slots=True)
class EncodedFrame:
    """One complete encoded frame as the publisher sent it.

    ``pts`` counts in ``time_base`` (the codec's RTP clock) from the publisher's first frame;
    ``bytes()``, ``pts`` and ``time_base`` are all an aiortc encoder's ``pack()`` reads.
    """

    codec: str
    data: bytes
    pts: int
    time_base: Fraction
    keyframe: bool
    # VP8 temporal layer and its "layer sync" flag, when the publisher sends layers
    # (see media.layers); None otherwise.
    temporal: int | None = None
    sync: bool = False

    def __bytes__(self) -> bytes:
        return self.data

    def with_pts(self, pts: int) -> EncodedFrame:
        return EncodedFrame(
            self.codec, self.data, pts, self.time_base, self.keyframe, self.temporal, self.sync
        )


def is_keyframe(codec: str, data: bytes) -> bool:
    """VP8: the frame tag's P bit is 0 (RFC 6386 §9.1). H.264: an IDR slice (NAL type 5) or an
    SPS (7) in the Annex B stream. Audio frames are all independent."""
    if codec == "VP8":
        return bool(data) and data[0] & 0x01 == 0
    if codec == "H264":
        return any(nal in (5, 7) for nal in _h264_nal_types(data))
    return True


def _h264_nal_types(data: bytes) -> list[int]:
    types = []
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.append(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types


def _encoded_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    """Drop-in for aiortc's ``decoder_worker``: same arguments, encoded frames out."""
    while True:
        task = input_q.get()
        if task is None:
            loop.call_soon_threadsafe(output_q.put_nowait, None)
            return
        codec, jitter_frame = task
        name = codec.name
        # The marker jitter buffer (media.jitter) keeps the start of the first payload.
        head = getattr(jitter_frame, "head", None)
        layers = vp8_temporal_info(head) if name == "VP8" and head else None
        frame = EncodedFrame(
            name,
            jitter_frame.data,
            jitter_frame.timestamp,
            Fraction(1, codec.clockRate),
            is_keyframe(name, jitter_frame.data),
            layers[0] if layers else None,
            layers[1] if layers else False,
        )
        loop.call_soon_threadsafe(output_q.put_nowait, frame)


class UnsupportedAiortc(RuntimeError):
    pass


def install() -> None:
    """Make every receiver in this process yield ``EncodedFrame`` (idempotent)."""
    if aiortc.__version__ != SUPPORTED_AIORTC:
        raise UnsupportedAiortc(
            f"media forwarding relies on aiortc {SUPPORTED_AIORTC} internals, found "
            f"{aiortc.__version__}: re-check media/encoded.py and the seam tests"
        )
    rtcrtpreceiver.decoder_worker = _encoded_worker


def installed() -> bool:
    return rtcrtpreceiver.decoder_worker is _encoded_worker
