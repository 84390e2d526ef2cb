"""Connection quality of a meeting member, read from aiortc's statistics.

Round-trip time and the loss a subscriber reports come from RTCP receiver reports on the
connections the relay sends on (``remote-inbound-rtp``); jitter and loss of what a member
publishes come from the connections the relay receives on (``inbound-rtp``).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from media.peers import PublishPeer, SubscribePeer


@dataclass(frozen=True)
class Quality:
    rtt_seconds: float | None
    jitter_seconds: float | None
    loss_ratio: float | None


async def measure(peers: Iterable[PublishPeer | SubscribePeer]) -> Quality:
    rtts: list[float] = []
    jitters: list[float] = []
    lost = received = 0
    for peer in peers:
        report = await peer.pc.getStats()
        for stats in report.values():
            kind = getattr(stats, "type", None)
            if kind == "remote-inbound-rtp":
                if stats.roundTripTime is not None:
                    rtts.append(float(stats.roundTripTime))
            elif kind == "inbound-rtp":
                clock = 90000 if stats.kind == "video" else 48000
                jitters.append(stats.jitter / clock)
                lost += max(0, stats.packetsLost)
                received += stats.packetsReceived
    return Quality(
        statistics.median(rtts) if rtts else None,
        statistics.median(jitters) if jitters else None,
        lost / (lost + received) if lost + received else None,
    )
