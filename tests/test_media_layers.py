"""Temporal layers per subscriber: the choice from estimate and loss, the frames it lets
through, and the aiortc hooks that hear a browser's feedback and answer it."""

from __future__ import annotations

import asyncio
import inspect
import struct
from fractions import Fraction
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from media.encoded import EncodedFrame
from media.feedback import (
    PACKET_BITS,
    RESEND_BURST,
    RESEND_FLOOR,
    ResendBudget,
    cap_remb,
    limit_resends,
)
from media.forwarding import LAYER_UP_PATIENCE, ForwardedTrack, Publication
from media.layers import HOLD, RAMP_UP, LayerPolicy, LayerRates, vp8_temporal_info


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rates(*per_layer: float) -> LayerRates:
    """Layer rates of a steady stream: ``per_layer`` bits/s for layers 0, 1, 2."""
    made = LayerRates()
    for layer, bps in enumerate(per_layer):
        made.add(layer, int(bps / 8), 0.0)
    made.add(0, 0, 1.0)  # one window later: the rates are known
    return made


STREAM = rates(300_000, 150_000, 150_000)  # 300k at layer 0, 450k at 1, 600k at 2


def descriptor(layer: int, sync: bool) -> bytes:
    """A VP8 payload descriptor with a picture id and TID/Y (RFC 7741 §4.2)."""
    return (
        bytes([0x90, 0xE0]) + struct.pack("!H", 0x8000 | 7) + bytes([5, (layer << 6) | (sync << 5)])
    )


def test_the_temporal_layer_is_read_from_the_payload_descriptor() -> None:
    assert vp8_temporal_info(descriptor(2, False)) == (2, False)
    assert vp8_temporal_info(descriptor(1, True)) == (1, True)
    assert vp8_temporal_info(bytes([0x90, 0x80, 0x07])) is None  # no layers sent
    assert vp8_temporal_info(bytes([0x90])) is None  # truncated: not an error


def test_rates_add_up_layers_once_a_window_has_passed() -> None:
    assert LayerRates().up_to(2) == 0
    assert STREAM.up_to(0) == 300_000
    assert STREAM.up_to(2) == 600_000
    assert STREAM.share_up_to(0) == 0.5
    assert STREAM.share_up_to(1) == 0.75


def test_a_subscriber_starts_at_the_top_and_goes_down_at_once_when_its_estimate_is_short() -> None:
    policy = LayerPolicy(now=0.0)
    assert policy.decide(STREAM, 0.0) == 2
    policy.on_remb(350_000)
    assert policy.decide(STREAM, RAMP_UP + 1) == 0  # 350k carries layer 0 (300k) only


def test_a_low_first_estimate_is_not_believed_while_the_subscription_ramps_up() -> None:
    policy = LayerPolicy(now=0.0)
    policy.on_remb(100_000)  # the browser's first guess
    assert policy.decide(STREAM, 1.0) == 2
    policy.on_report(0.09, STREAM.up_to(2), 1.0)
    assert policy.decide(STREAM, 1.0) == 2  # one lossy report may be a busy receiver
    policy.on_report(0.09, STREAM.up_to(2), 2.0)  # but loss that lasts counts at once
    assert policy.decide(STREAM, 2.0) < 2


def test_heavy_loss_takes_a_layer_down_and_lowers_the_estimate() -> None:
    policy = LayerPolicy(now=0.0)
    policy.on_remb(5_000_000)
    policy.on_report(0.3, 600_000, RAMP_UP + 1)
    assert policy.loss_estimate == 600_000 * (1 - 0.3 / 2)
    assert policy.decide(STREAM, RAMP_UP + 1) == 1  # 510k carries 450k


def test_up_is_one_layer_at_a_time_after_the_hold_and_only_with_room_to_spare() -> None:
    policy = LayerPolicy(now=0.0)
    policy.on_remb(350_000)
    t = RAMP_UP + 1
    assert policy.decide(STREAM, t) == 0
    policy.on_remb(10_000_000)
    assert policy.decide(STREAM, t + HOLD - 0.1) == 0  # still holding
    assert policy.decide(STREAM, t + HOLD) == 1
    assert policy.decide(STREAM, t + HOLD + 0.1) == 1  # one step, then hold again
    assert policy.decide(STREAM, t + 2 * HOLD) == 2
    # An estimate that covers the next layer without 30 % to spare does not go up.
    tight = LayerPolicy(now=0.0)
    tight.on_remb(350_000)
    tight.decide(STREAM, t)
    tight.on_remb(1.2 * STREAM.up_to(1))
    assert tight.decide(STREAM, t + 10 * HOLD) == 0


def test_a_step_up_that_fails_doubles_the_wait_before_the_next_one() -> None:
    policy = LayerPolicy(now=0.0)
    policy.on_remb(350_000)
    t = RAMP_UP + 1
    policy.decide(STREAM, t)
    policy.on_remb(700_000)
    t += HOLD
    assert policy.decide(STREAM, t) == 1
    policy.on_report(0.15, 450_000, t + 0.5)  # the step up brought loss, and it lasts
    policy.on_report(0.15, 450_000, t + 1)
    assert policy.decide(STREAM, t + 1) == 0
    for _ in range(20):  # clean reports since: the loss-based estimate has grown back
        policy.on_report(0.0, 300_000, t + 2)
    policy.on_remb(5_000_000)
    assert policy.decide(STREAM, t + 1 + HOLD) == 0  # the hold is now twice as long
    assert policy.decide(STREAM, t + 1 + 2 * HOLD) == 1


def test_a_step_up_that_overruns_the_estimate_also_doubles_the_wait() -> None:
    policy = LayerPolicy(now=0.0)
    policy.on_remb(350_000)
    t = RAMP_UP + 1
    policy.decide(STREAM, t)
    policy.on_remb(700_000)
    t += HOLD
    assert policy.decide(STREAM, t) == 1
    policy.on_remb(380_000)  # no loss reported, but the link says the step was too much
    assert policy.decide(STREAM, t + 1) == 0
    policy.on_remb(5_000_000)
    assert policy.decide(STREAM, t + 1 + HOLD) == 0
    assert policy.decide(STREAM, t + 1 + 2 * HOLD) == 1


class FakeSender:
    """What ForwardedTrack.bind touches on aiortc's RTCRtpSender, with a recorder."""

    def __init__(self) -> None:
        self._ssrc = 1234
        self.keyframe_asks = 0
        self.handled: list[Any] = []
        self.resent: list[int] = []

    def _send_keyframe(self) -> None:
        self.keyframe_asks += 1

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        self.handled.append(packet)

    async def _retransmit(self, sequence_number: int) -> None:
        self.resent.append(sequence_number)


def frame(layer: int, *, keyframe: bool = False, sync: bool = False) -> EncodedFrame:
    return EncodedFrame("VP8", b"\x00" * 100, 0, Fraction(1, 90000), keyframe, layer, sync)


class Source(Publication):
    """A publication nothing feeds: the test offers frames to the track itself."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(_Track(), None, clock=clock)  # type: ignore[arg-type]
        self.rates = STREAM
        self.keyframe_requests = 0

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1


class _Track:
    kind = "video"


def forwarded(clock: Clock) -> tuple[ForwardedTrack, Source, FakeSender]:
    source = Source(clock)
    track = ForwardedTrack("video", source)
    sender = FakeSender()
    track.bind(sender, clock)  # type: ignore[arg-type]
    track._offer(frame(0, keyframe=True))
    return track, source, sender


def remb(bitrate: int, ssrc: int = 1234) -> RtcpPsfbPacket:
    return RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(bitrate, [ssrc])
    )


async def test_a_weak_subscriber_gets_layer_0_only_and_comes_back_up_at_a_sync_frame() -> None:
    clock = Clock()
    track, _source, sender = forwarded(clock)
    clock.now += RAMP_UP + 1
    await sender._handle_rtcp_packet(remb(350_000))
    assert [track._admits(frame(n)) for n in (0, 2, 1, 2, 0)] == [True, False, False, False, True]
    assert track.layer == 0 and track.frames_above_layer == 3
    # The link recovers: after the hold, layer 1 starts at its next sync frame only.
    await sender._handle_rtcp_packet(remb(10_000_000))
    clock.now += HOLD
    assert track._admits(frame(1)) is False  # not a sync frame: cannot start there
    assert track._admits(frame(1, sync=True)) is True
    assert track.layer == 1


async def test_waiting_to_go_up_without_a_sync_frame_asks_for_a_keyframe() -> None:
    clock = Clock()
    track, source, sender = forwarded(clock)
    clock.now += RAMP_UP + 1
    await sender._handle_rtcp_packet(remb(350_000))
    track._admits(frame(0))
    await sender._handle_rtcp_packet(remb(10_000_000))
    clock.now += HOLD
    track._admits(frame(1))
    asked = source.keyframe_requests
    clock.now += LAYER_UP_PATIENCE
    track._admits(frame(0))
    assert source.keyframe_requests == asked + 1
    assert track._admits(frame(0, keyframe=True)) and track.layer == 1


async def test_feedback_reaches_the_policy_and_aiortc_still_handles_it() -> None:
    clock = Clock()
    track, _, sender = forwarded(clock)
    await sender._handle_rtcp_packet(remb(777_000))
    await sender._handle_rtcp_packet(remb(1, ssrc=999))  # another stream's
    report = RtcpRrPacket(ssrc=1)
    report.reports.append(
        RtcpReceiverInfo(
            ssrc=1234,
            fraction_lost=64,
            packets_lost=10,
            highest_sequence=1,
            jitter=0,
            lsr=0,
            dlsr=0,
        )
    )
    await sender._handle_rtcp_packet(report)
    assert track.policy is not None
    assert track.policy.remb == 777_000 and track.policy.loss == 0.25
    assert len(sender.handled) == 3


async def test_a_subscribers_own_keyframe_requests_go_upstream_once_a_second() -> None:
    clock = Clock()
    _track, source, sender = forwarded(clock)
    before = source.keyframe_requests
    for _ in range(5):
        sender._send_keyframe()
    clock.now += 1.0
    sender._send_keyframe()
    assert source.keyframe_requests == before + 2


async def test_resends_are_bounded_per_packet_and_by_a_share_of_the_estimate() -> None:
    clock = Clock()
    budget = ResendBudget(lambda: None, clock)
    sender = FakeSender()
    limit_resends(sender, budget)  # type: ignore[arg-type]
    for _ in range(3):
        await sender._retransmit(7)
    assert sender.resent == [7, 7]
    burst = int(RESEND_FLOOR * RESEND_BURST // PACKET_BITS)
    for seq in range(100, 200):
        await sender._retransmit(seq)
    assert len(sender.resent) == burst  # the floor's half second, of which two went to 7
    clock.now += 1.0
    await sender._retransmit(500)
    assert sender.resent[-1] == 500  # the budget refills with time


class FakeReceiver:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def _send_rtcp(self, packet: Any) -> None:
        self.sent.append(packet)


async def test_the_publisher_is_asked_to_fit_its_base_layer_to_the_weakest_subscriber() -> None:
    clock = Clock()
    track, source, sender = forwarded(clock)
    receiver = FakeReceiver()
    cap_remb(receiver, source.publisher_limit)  # type: ignore[arg-type]
    await receiver._send_rtcp(remb(2_000_000, ssrc=42))
    assert unpack_remb_fci(receiver.sent[-1].fci)[0] == 2_000_000  # nobody held at layer 0
    clock.now += RAMP_UP + 1
    await sender._handle_rtcp_packet(remb(250_000))
    assert track._admits(frame(0)) and track.layer == 0
    await receiver._send_rtcp(remb(2_000_000, ssrc=42))
    # base layer is half the stream: 0.8 x 250k for it, so 400k for the whole
    assert unpack_remb_fci(receiver.sent[-1].fci) == (400_000, [42])


def test_the_aiortc_methods_the_hooks_wrap_exist() -> None:
    for cls, name in (
        (RTCRtpSender, "_handle_rtcp_packet"),
        (RTCRtpSender, "_retransmit"),
        (RTCRtpReceiver, "_send_rtcp"),
    ):
        assert inspect.iscoroutinefunction(getattr(cls, name)), name
    source = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "await self._retransmit(seq)" in source
    assert "__rtt" in inspect.getsource(RTCRtpSender)
    assert asyncio.iscoroutinefunction(RTCRtpReceiver._send_rtcp)


async def test_the_publisher_limit_stays_while_a_weak_subscriber_steps_up_a_layer() -> None:
    clock = Clock()
    track, source, sender = forwarded(clock)
    clock.now += RAMP_UP + 1
    await sender._handle_rtcp_packet(remb(250_000))
    assert track._admits(frame(0)) and track.layer == 0
    await sender._handle_rtcp_packet(remb(600_000))
    clock.now += HOLD
    assert track._admits(frame(1, sync=True)) and track.layer == 1
    # layers 0 and 1 are three quarters of the stream: 0.8 x 600k for them, 640k for the whole
    assert source.publisher_limit() == 640_000
    await sender._handle_rtcp_packet(remb(10_000_000))
    clock.now += 2 * HOLD
    assert track._admits(frame(2, sync=True)) and track.layer == 2
    assert source.publisher_limit() is None  # at the top layer it takes whatever is sent
