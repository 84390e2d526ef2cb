"""Temporal layers: how much of a publisher's frame rate each subscriber gets.

A browser sends its camera as three VP8 temporal layers (``scalabilityMode: "L1T3"``): layer 0
is every fourth frame (7.5 fps of 30), layer 1 adds every other frame (15 fps), layer 2 the
rest (30 fps). A frame of layer n only refers to frames of layers up to n, so the relay can
stop forwarding the upper layers to one subscriber and what it still sends decodes; going up
again waits for a "layer sync" frame (one that refers to layer 0 only) or a keyframe. Each
subscriber gets the highest layer its link carries, and nobody else is touched.

The layer follows the subscriber's bandwidth estimate: the smaller of the browser's REMB
(receiver-side delay-based estimate) and an estimate from the loss it reports in RTCP receiver
reports (as GCC's loss controller does: more than 10 % loss cuts the estimate to what was sent
times 1 - loss/2, less than 2 % grows it 8 % a report). Down is at once; up is one layer at a
time, after a hold, and a step up that fails soon after makes the next hold twice as long.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiortc.codecs.vpx import VpxPayloadDescriptor

TOP_LAYER = 2
RATE_WINDOW = 1.0  # seconds of bytes per layer behind each rate
DOWN_LOSS = 0.08  # report loss that takes a subscriber down a layer at once...
LOSSY_REPORTS = (
    2  # ...when this many reports in a row say so (one spike, a busy receiver, is not a link)
)
DOWN_MARGIN = 0.9  # down when the estimate is below this share of what is being sent
UP_MARGIN = 1.3  # up when the estimate covers the next layer with this much to spare
LOSS_HIGH, LOSS_LOW, LOSS_GROWTH = 0.10, 0.02, 1.08
HOLD, MAX_HOLD = 4.0, 30.0  # seconds at a layer before trying the next one up
PROBE_WINDOW = 3.0  # a step up undone within this long failed
FAILED_MEMORY = 60.0  # a failed layer is not tried again this long unless clearly affordable
RAMP_UP = 5.0  # a new subscription's REMB starts low: below-sent REMB is ignored this long
REPORT_FRESH = 2.0  # a loss report older than this no longer counts


def vp8_temporal_info(head: bytes) -> tuple[int, bool] | None:
    """(temporal layer, layer sync) from the VP8 payload descriptor at the start of a frame's
    first RTP payload (RFC 7741 §4.2), or None when the publisher sends no layers."""
    with contextlib.suppress(ValueError):
        descriptor, _ = VpxPayloadDescriptor.parse(head)
        if descriptor.tid is not None:
            layer, sync = descriptor.tid
            return layer, bool(sync)
    return None


class LayerRates:
    """What each temporal layer of one publication costs, in bits per second."""

    def __init__(self) -> None:
        self._bits = [0.0] * (TOP_LAYER + 1)
        self._rates = [0.0] * (TOP_LAYER + 1)
        self._since: float | None = None

    def add(self, layer: int, size: int, now: float) -> None:
        if self._since is None:
            self._since = now
        self._bits[min(layer, TOP_LAYER)] += size * 8
        elapsed = now - self._since
        if elapsed >= RATE_WINDOW:
            for n, bits in enumerate(self._bits):
                fresh = bits / elapsed
                old = self._rates[n]
                self._rates[n] = fresh if old == 0 else 0.5 * old + 0.5 * fresh
            self._bits = [0.0] * (TOP_LAYER + 1)
            self._since = now

    def up_to(self, layer: int) -> float:
        """Bits per second of layers 0..``layer`` together (0 until a window has passed)."""
        return sum(self._rates[: layer + 1])

    def share_up_to(self, layer: int) -> float | None:
        """Layers 0..``layer``'s part of the whole stream, once known."""
        whole, part = self.up_to(TOP_LAYER), self.up_to(layer)
        return part / whole if whole and part else None


@dataclass
class _Probe:
    layer: int
    at: float


class LayerPolicy:
    """One subscriber's choice of layer, from its estimate and reported loss."""

    def __init__(self, now: float) -> None:
        self.layer = TOP_LAYER
        self.remb: float | None = None
        self.loss_estimate: float | None = None
        self.loss = 0.0
        self._loss_at = -REPORT_FRESH
        self._lossy_reports = 0  # reports in a row over DOWN_LOSS
        self._started = now
        self._changed = now
        self._hold = HOLD
        self._probe: _Probe | None = None
        self._failed: _Probe | None = None

    @property
    def estimate(self) -> float | None:
        known = [e for e in (self.remb, self.loss_estimate) if e is not None]
        return min(known) if known else None

    def on_remb(self, bitrate: float) -> None:
        self.remb = float(bitrate)

    def on_report(self, fraction_lost: float, sent: float, now: float) -> None:
        """A receiver report: ``fraction_lost`` since the last one, ``sent`` bits/s forwarded."""
        self.loss, self._loss_at = fraction_lost, now
        self._lossy_reports = self._lossy_reports + 1 if fraction_lost > DOWN_LOSS else 0
        if fraction_lost > LOSS_HIGH and sent > 0:
            self.loss_estimate = sent * (1 - fraction_lost / 2)
        elif fraction_lost < LOSS_LOW and self.loss_estimate is not None:
            self.loss_estimate *= LOSS_GROWTH

    def decide(self, rates: LayerRates, now: float) -> int:
        """The layer to forward now (``layer`` after the call)."""
        lossy = self._lossy_reports >= LOSSY_REPORTS and now - self._loss_at < REPORT_FRESH
        estimate = self._usable_estimate(rates, now)
        sent = rates.up_to(self.layer)
        short = estimate is not None and sent > 0 and estimate < DOWN_MARGIN * sent
        if self.layer > 0 and (lossy or short):
            self._step_down(rates, estimate, lossy, now)
        elif self.layer < TOP_LAYER and self._may_go_up(rates, estimate, now):
            self._probe = _Probe(self.layer + 1, now)
            self._set(self.layer + 1, now)
        if self._probe is not None and now - self._probe.at >= PROBE_WINDOW:
            self._probe = None
            self._hold = HOLD  # the step up held
        return self.layer

    def _usable_estimate(self, rates: LayerRates, now: float) -> float | None:
        """While a subscription starts, the browser's REMB climbs from a low guess: below what
        is sent it says nothing yet (loss still counts)."""
        starting = now - self._started < RAMP_UP
        if starting and self.remb is not None and self.remb < rates.up_to(self.layer):
            return self.loss_estimate
        return self.estimate

    def _step_down(
        self, rates: LayerRates, estimate: float | None, lossy: bool, now: float
    ) -> None:
        layer = self.layer - 1
        while layer > 0 and estimate is not None and rates.up_to(layer) > estimate:
            layer -= 1
        if self._probe is not None and now - self._probe.at < PROBE_WINDOW:
            # the step up just made did not hold (loss, or an estimate it overran): wait
            # longer before the next one
            self._failed = self._probe
            self._hold = min(self._hold * 2, MAX_HOLD)
        self._probe = None
        self._set(layer, now)

    def _may_go_up(self, rates: LayerRates, estimate: float | None, now: float) -> bool:
        if now - self._changed < self._hold or estimate is None:
            return False
        if self.loss > LOSS_LOW and now - self._loss_at < REPORT_FRESH:
            return False
        wanted = rates.up_to(self.layer + 1)
        if wanted == 0 or estimate < UP_MARGIN * wanted:
            return False
        failed = self._failed
        recently_failed = (
            failed is not None
            and failed.layer == self.layer + 1
            and now - failed.at < FAILED_MEMORY
        )
        # a layer that failed lately is tried again early only if clearly affordable
        return not (recently_failed and estimate * 0.8 < wanted)

    def _set(self, layer: int, now: float) -> None:
        self.layer = layer
        self._changed = now
