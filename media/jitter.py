"""A video jitter buffer that completes a frame at its last packet.

aiortc's ``JitterBuffer`` knows a frame is complete only when the first packet of the *next*
frame arrives (its timestamp differs), so every receiving hop holds each frame for one frame
interval: 33 ms at 30 fps, most of what a relay adds (docs/benchmarks.md). The sender marks
the last packet of a frame with the RTP marker bit (RFC 7741 for VP8, RFC 6184 for H.264):
once the packets from the origin up to a marked one are all there and share a timestamp, the
frame is complete. A lost marker still completes the frame the old way, by timestamp change.

The buffer also remembers the SSRC of the media it assembles: packets reach it after aiortc has
unwrapped retransmissions (RTX), so this is the publisher's media SSRC, the one a keyframe
request must name (see ``media.forwarding.Publication``), and keeps the start of each frame's
first payload, where VP8's payload descriptor says the frame's temporal layer (``media.layers``).
"""

from __future__ import annotations

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

VIDEO_CAPACITY = 512  # what aiortc gives a video receiver
HEAD_BYTES = 8  # a VP8 payload descriptor is at most 6 bytes


class MarkerJitterBuffer(JitterBuffer):
    def __init__(self) -> None:
        super().__init__(capacity=VIDEO_CAPACITY, is_video=True)
        self.media_ssrc: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.media_ssrc = packet.ssrc
        return super().add(packet)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        assert self._origin is not None
        packets: list[RtpPacket] = []
        timestamp = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:  # the marker was lost: complete it anyway
                return self._take(packets, timestamp, count)
            packets.append(packet)
            if packet.marker:
                return self._take(packets, timestamp, count + 1)
        return None

    def _take(self, packets: list[RtpPacket], timestamp: int, count: int) -> JitterFrame:
        frame = JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)  # type: ignore[attr-defined]
        # The payload descriptor of the first packet says the frame's temporal layer.
        frame.head = packets[0].payload[:HEAD_BYTES]  # type: ignore[attr-defined]
        self.remove(count)
        return frame


def use_marker_jitter_buffer(receiver: RTCRtpReceiver) -> MarkerJitterBuffer:
    """Give one video receiver the marker-aware buffer (before any packet arrives).
    The attribute is aiortc's private one; tests/test_media_seams.py checks it exists."""
    buffer = MarkerJitterBuffer()
    receiver._RTCRtpReceiver__jitter_buffer = buffer  # type: ignore[attr-defined]
    return buffer
