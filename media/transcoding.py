"""The explicit fallback: decode a publisher's video for a subscriber that cannot receive its
codec, so that subscriber's own sender encodes it again in one it can.

Never the default: a subscription is forwarded unless the subscriber said (at ``media:join``)
which video codecs it receives and the publisher's is not among them. It costs what stock
aiortc costs (a decoder per such subscriber here, an encoder in its sender).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import MediaStreamTrack
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media.forwarding import ForwardedTrack

CLOCK_RATES = {"VP8": 90000, "H264": 90000}


class TranscodedTrack(MediaStreamTrack):
    """Decoded pictures of a forwarded video track, for a sender that encodes them."""

    kind = "video"

    def __init__(self, source: ForwardedTrack, codec: str) -> None:
        super().__init__()
        self.source = source
        self._decoder = get_decoder(
            RTCRtpCodecParameters(
                mimeType=f"video/{codec}", clockRate=CLOCK_RATES[codec], payloadType=96
            )
        )
        self._pending: list[Any] = []
        self.frames_decoded = 0

    async def recv(self) -> Any:
        loop = asyncio.get_running_loop()
        while not self._pending:
            frame = await self.source.next_frame()
            encoded = JitterFrame(frame.data, frame.pts)
            self._pending = list(await loop.run_in_executor(None, self._decoder.decode, encoded))
        self.frames_decoded += 1
        return self._pending.pop(0)

    def stop(self) -> None:
        self.source.stop()
        super().stop()
