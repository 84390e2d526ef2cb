"""What the browsers say about their links, heard and answered inside aiortc's RTP objects.

aiortc's ``RTCRtpSender`` reads a subscriber's RTCP (REMB, receiver reports, NACK) and its
``RTCRtpReceiver`` sends REMB to a publisher, with no public hook for either. Each function
here wraps one private method of one instance (no other connection is touched); the versions
are pinned and tests/test_media_seams.py fails loudly if an upgrade moves them.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

RESEND_SHARE = 0.25  # of the subscriber's estimate that retransmissions may use
RESEND_FLOOR = 100_000  # bits/s of retransmission allowed whatever the estimate
RESEND_BURST = 0.5  # seconds of that rate that may go at once
RESENDS_PER_PACKET = 2
PACKET_BITS = 1200 * 8  # what a resent video packet costs, about


def observe_feedback(
    sender: RTCRtpSender,
    on_remb: Callable[[float], None],
    on_report: Callable[[float], None],
) -> None:
    """Call ``on_remb(bits per second)`` for each REMB naming this sender's stream and
    ``on_report(fraction lost)`` for each receiver report block about it; aiortc then handles
    the packet as before."""
    handle = sender._handle_rtcp_packet

    async def observing(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if sender._ssrc in ssrcs:
                    on_remb(float(bitrate))
        elif isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    on_report(report.fraction_lost / 256)
        await handle(packet)

    sender._handle_rtcp_packet = observing  # type: ignore[method-assign]


def round_trip(sender: RTCRtpSender) -> float | None:
    """aiortc's smoothed round-trip time from receiver reports, in seconds."""
    rtt = getattr(sender, "_RTCRtpSender__rtt", None)
    return float(rtt) if rtt is not None else None


class ResendBudget:
    """How much retransmission a subscriber gets: each lost packet at most twice, and no more
    than a share of its estimate, so on a weak link NACKs cannot crowd out new media."""

    def __init__(
        self, estimate: Callable[[], float | None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._estimate = estimate
        self._clock = clock
        self._tokens = RESEND_FLOOR * RESEND_BURST
        self._at = clock()
        self._counts: OrderedDict[int, int] = OrderedDict()
        self.refused = 0

    def allow(self, sequence_number: int) -> bool:
        now = self._clock()
        rate = max(RESEND_FLOOR, RESEND_SHARE * (self._estimate() or 0))
        self._tokens = min(rate * RESEND_BURST, self._tokens + (now - self._at) * rate)
        self._at = now
        sent = self._counts.get(sequence_number, 0)
        if sent >= RESENDS_PER_PACKET or self._tokens < PACKET_BITS:
            self.refused += 1
            return False
        self._tokens -= PACKET_BITS
        self._counts[sequence_number] = sent + 1
        self._counts.move_to_end(sequence_number)
        while len(self._counts) > 1024:
            self._counts.popitem(last=False)
        return True


def limit_resends(sender: RTCRtpSender, budget: ResendBudget) -> None:
    retransmit = sender._retransmit

    async def limited(sequence_number: int) -> None:
        if budget.allow(sequence_number):
            await retransmit(sequence_number)

    sender._retransmit = limited  # type: ignore[method-assign]


def cap_remb(receiver: RTCRtpReceiver, cap: Callable[[], float | None]) -> None:
    """Every REMB this receiver sends its publisher says at most ``cap()`` bits/s."""
    send = receiver._send_rtcp

    async def capped(packet: Any) -> None:
        limit = cap()
        if limit is not None and isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if bitrate > limit:
                    packet = RtcpPsfbPacket(
                        fmt=RTCP_PSFB_APP,
                        ssrc=packet.ssrc,
                        media_ssrc=packet.media_ssrc,
                        fci=pack_remb_fci(int(limit), ssrcs),
                    )
        await send(packet)

    receiver._send_rtcp = capped  # type: ignore[method-assign]
