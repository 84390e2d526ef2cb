"""Forward a publisher's encoded frames to many subscribers without decoding or encoding.

A ``Publication`` reads ``EncodedFrame``s from one remote track (see ``media.encoded``) and
hands each to its ``ForwardedTrack``s. A ``ForwardedTrack`` is what a subscriber's
``RTCRtpSender`` sends: aiortc's sender calls ``pack()`` on each frame, re-packetizing it with
the subscriber's own SSRC, sequence numbers, timestamp origin and VP8 picture id. Around that:

- keyframe gating: a subscriber that joins (or falls behind, or switches source) gets nothing
  until the next keyframe, and one is asked for;
- keyframe requests (PLI/FIR from subscribers, and gating) go upstream as one PLI per
  publication at most every ``PLI_INTERVAL`` seconds, naming the publisher's media SSRC (never
  its RTX one); while a subscriber still waits for a keyframe the request is repeated every
  ``KEYFRAME_RETRY`` seconds, so one lost or ignored PLI cannot leave it without video;
- timestamps continue smoothly when a track switches to another publication (``switch_to``),
  so the subscriber's decoder sees one stream;
- temporal layers (``media.layers``): each video subscriber gets the frame rate its link
  carries, from the feedback its browser sends (``media.feedback``); a subscriber's own keyframe
  requests reach the publisher at most once a second; and the estimate the relay reports to the
  publisher is capped so the base layer fits the weakest subscriber on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from media.encoded import EncodedFrame
from media.feedback import ResendBudget, cap_remb, limit_resends, observe_feedback, round_trip
from media.layers import TOP_LAYER, LayerPolicy, LayerRates

log = logging.getLogger("officehours.media")

PLI_INTERVAL = 0.3
# A gated subscriber that has not seen a keyframe this long after a PLI asks again.
KEYFRAME_RETRY = 0.5
# Frames a subscriber may lag before it is reset to the next keyframe (half a second of video).
QUEUE_FRAMES = 15
# The pts step inserted at a source switch: one frame at 30 fps, or 20 ms of 48 kHz audio.
SWITCH_STEP = {"video": 3000, "audio": 960}
# A subscriber's own keyframe requests (its PLI/FIR) go upstream at most this often: a lossy
# link asking for keyframes over and over would make everyone's stream heavier.
SUBSCRIBER_PLI_INTERVAL = 1.0
# Waiting to go up a layer and no sync frame came this long: ask for a keyframe.
LAYER_UP_PATIENCE = 2.0
# The publisher is asked to keep the layers a subscriber below the top layer receives within
# this share of its estimate (the rest is for audio and retransmission), for the weakest such
# subscriber, and never below ``PUBLISHER_FLOOR`` bits/s.
LAYER_FIT = 0.8
PUBLISHER_FLOOR = 150_000


class Publication:
    """One published track (a microphone, camera or screen) and who receives it."""

    def __init__(
        self,
        track: MediaStreamTrack,
        receiver: RTCRtpReceiver | None,
        *,
        media_ssrc: Callable[[], int | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.track = track
        self.kind: str = track.kind
        self._receiver = receiver
        self._media_ssrc = media_ssrc
        self._clock = clock
        self._keyframe_seen = asyncio.Event()
        self._subscribers: set[ForwardedTrack] = set()
        self._last_pli = -PLI_INTERVAL
        self._pli_pending: asyncio.Task[None] | None = None
        self.frames = 0
        self.keyframes = 0
        self.plis_sent = 0
        self.codec: str | None = None
        self.rates = LayerRates()
        self.ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Loudness from the RTP audio-level header extension (RFC 6464), smoothed: 0 is
        # silence, 127 the loudest. Read from the packets, so nothing is decoded.
        self.loudness = 0.0
        if receiver is not None and self.kind == "audio":
            self._listen_to_levels(receiver)
        if receiver is not None and self.kind == "video":
            cap_remb(receiver, self.publisher_limit)
        self._limit: float | None = None

    def _listen_to_levels(self, receiver: RTCRtpReceiver) -> None:
        """Wrap this receiver's packet handler (an instance attribute, so no other receiver
        is touched) to read each packet's audio level before aiortc handles it."""
        handle = receiver._handle_rtp_packet

        async def handle_with_level(packet: Any, arrival_time_ms: int) -> None:
            level = packet.extensions.audio_level
            if level is not None:
                self.loudness = 0.8 * self.loudness + 0.2 * (127 - level[1])
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle_with_level  # type: ignore[method-assign]

    def start(self) -> None:
        self._task = asyncio.create_task(self._pump(), name=f"publication-{self.kind}")

    async def _pump(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                if not isinstance(frame, EncodedFrame):
                    raise TypeError("media.encoded.install() was not called in this process")
                self.frames += 1
                self.codec = frame.codec
                if frame.temporal is not None:
                    self.rates.add(frame.temporal, len(frame.data), self._clock())
                if frame.keyframe:
                    self.keyframes += 1
                    self._keyframe_seen.set()
                for subscriber in tuple(self._subscribers):
                    subscriber._offer(frame)
        except MediaStreamError:
            pass
        finally:
            self.ended.set()
            for subscriber in tuple(self._subscribers):
                subscriber._source_ended(self)

    def attach(self, subscriber: ForwardedTrack) -> None:
        self._subscribers.add(subscriber)
        if self.kind == "video":
            self.request_keyframe()

    def detach(self, subscriber: ForwardedTrack) -> None:
        self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publisher_limit(self) -> float | None:
        """The most the publisher should send, in bits/s: enough for the layers each subscriber
        below the top layer receives to fit its estimate, for the weakest of them (None: every
        subscriber takes the whole stream). The limit stays while such a subscriber steps up a
        layer, so the step is measured against the stream it will get, not a bigger one."""
        fits = []
        for subscriber in self._subscribers:
            policy = subscriber.policy
            if policy is None or policy.layer >= TOP_LAYER or not policy.estimate:
                continue
            share = self.rates.share_up_to(policy.layer)
            if share:
                fits.append(LAYER_FIT * policy.estimate / share)
        limit = max(PUBLISHER_FLOOR, min(fits)) if fits else None
        if (limit is None) != (self._limit is None):
            log.info("media.publisher_limit", extra={"bps": int(limit) if limit else None})
        self._limit = limit
        return limit

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe: now, or when the rate limit allows."""
        if self.kind != "video" or self._receiver is None or self.ended.is_set():
            return
        if self._pli_pending is not None and not self._pli_pending.done():
            return
        self._pli_pending = asyncio.create_task(self._ask_for_keyframe())

    def _someone_waits(self) -> bool:
        return any(s.waiting_for_keyframe for s in self._subscribers)

    async def _ask_for_keyframe(self) -> None:
        """One PLI (rate limited); again every ``KEYFRAME_RETRY`` while no keyframe came and a
        subscriber still waits for one (a PLI is a UDP packet: it can be lost)."""
        while not self.ended.is_set():
            wait = self._last_pli + PLI_INTERVAL - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            self._keyframe_seen.clear()
            if not await self._send_pli():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KEYFRAME_RETRY):
                    await self._keyframe_seen.wait()
            if self._keyframe_seen.is_set() or not self._someone_waits():
                return

    def _publisher_ssrc(self) -> int | None:
        """The SSRC of the publisher's media. Not ``getSynchronizationSources()[0]``: that
        lists retransmission (RTX) SSRCs too, and Chromium's bandwidth probes arrive on its RTX
        SSRC before the first media packet, so the first source is often the RTX one; a PLI
        naming it is ignored (that left reloaded tabs without video)."""
        if self._media_ssrc is not None:
            return self._media_ssrc()
        receiver = self._receiver
        sources = receiver.getSynchronizationSources() if receiver is not None else []
        return sources[0].source if len(sources) == 1 else None

    async def _send_pli(self) -> bool:
        receiver = self._receiver
        ssrc = self._publisher_ssrc()
        if receiver is None or ssrc is None:
            return False  # nothing received yet: the first frame will be a keyframe anyway
        self._last_pli = self._clock()
        self.plis_sent += 1
        # aiortc's receiver sends PLI for its own decoder errors; this private method is the
        # only way to send one for our subscribers (covered by tests/test_media_seams.py).
        await receiver._send_rtcp_pli(ssrc)
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pli_pending is not None:
            self._pli_pending.cancel()


class ForwardedTrack(MediaStreamTrack):
    """The track a subscriber's sender reads: frames of the current source, pts rewritten."""

    def __init__(self, kind: str, source: Publication | None = None) -> None:
        super().__init__()
        self.kind = kind
        self._queue: asyncio.Queue[EncodedFrame | None] = asyncio.Queue(QUEUE_FRAMES)
        self._source: Publication | None = None
        self._waiting_for_keyframe = kind == "video"
        self._offset: int | None = None
        self._last_pts: int | None = None
        self.frames_sent = 0
        self.frames_dropped = 0
        self.frames_above_layer = 0  # held back for this subscriber's link (not a loss)
        self.peer_id: str | None = None  # the subscriber connection, for logs
        # Temporal layers: the policy choosing this subscriber's layer (video, once bound to
        # its sender), the layer being forwarded, and since when a higher one is wanted.
        self.policy: LayerPolicy | None = None
        self.layer: int | None = None
        self._sender: RTCRtpSender | None = None
        self._up_wanted_since: float | None = None
        self._last_subscriber_pli = -SUBSCRIBER_PLI_INTERVAL
        self._clock: Callable[[], float] = time.monotonic
        if source is not None:
            self.switch_to(source)

    @property
    def source(self) -> Publication | None:
        return self._source

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._waiting_for_keyframe and self._source is not None

    def switch_to(self, source: Publication | None) -> None:
        """Receive from another publication from its next keyframe on (None: pause)."""
        if source is self._source:
            return
        if self._source is not None:
            self._source.detach(self)
        self._source = source
        self._offset = None  # recomputed from the new source's first frame
        self._waiting_for_keyframe = self.kind == "video"
        if source is not None:
            source.attach(self)

    def bind(self, sender: RTCRtpSender, clock: Callable[[], float] = time.monotonic) -> None:
        """Route the subscriber's keyframe requests (PLI/FIR) to the publisher, and (video)
        follow its link to choose its layer.

        aiortc's sender handles PLI by asking its own encoder for a keyframe; with forwarded
        frames there is no encoder, so the request must go to the publication instead.
        """
        self._clock = clock
        sender._send_keyframe = self._subscriber_asks_keyframe  # type: ignore[method-assign]
        if self.kind != "video":
            return
        self._sender = sender
        policy = self.policy = LayerPolicy(clock())
        observe_feedback(sender, policy.on_remb, self._on_report)
        limit_resends(sender, ResendBudget(lambda: policy.estimate, clock))

    def _on_report(self, fraction_lost: float) -> None:
        source = self._source
        if self.policy is not None and source is not None and self.layer is not None:
            self.policy.on_report(fraction_lost, source.rates.up_to(self.layer), self._clock())

    def _subscriber_asks_keyframe(self) -> None:
        now = self._clock()
        if now - self._last_subscriber_pli >= SUBSCRIBER_PLI_INTERVAL:
            self._last_subscriber_pli = now
            self.request_keyframe()

    def request_keyframe(self) -> None:
        if self._source is not None:
            self._source.request_keyframe()

    @property
    def round_trip(self) -> float | None:
        return round_trip(self._sender) if self._sender is not None else None

    def _admits(self, frame: EncodedFrame) -> bool:
        """Whether this frame's temporal layer goes to this subscriber now. Down is at once;
        up starts at a layer-sync frame or a keyframe (asked for if none comes in time)."""
        policy, source = self.policy, self._source
        if policy is None or source is None or frame.temporal is None:
            return True
        now = self._clock()
        wanted = policy.decide(source.rates, now)
        current = self.layer if self.layer is not None else wanted
        if frame.keyframe or wanted < current:
            current = wanted
        elif wanted > current:
            if frame.sync and current < frame.temporal <= wanted:
                current = frame.temporal
            if current < wanted:
                if self._up_wanted_since is None:
                    self._up_wanted_since = now
                elif now - self._up_wanted_since >= LAYER_UP_PATIENCE:
                    self._up_wanted_since = now
                    self.request_keyframe()
        if current >= wanted:
            self._up_wanted_since = None
        if current != self.layer:
            if self.layer is not None:
                log.info("media.layer_changed", extra={"peer": self.peer_id, "layer": current})
            self.layer = current
        if frame.temporal > current and not frame.keyframe:
            self.frames_above_layer += 1
            return False
        return True

    def _offer(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if not self._admits(frame):
            return
        if self._waiting_for_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self._waiting_for_keyframe = False
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            # The subscriber's link cannot keep up: start it again at the next keyframe
            # rather than feed it a stream it cannot decode.
            self._drain()
            self.frames_dropped += 1
            if self.kind == "video":
                self._waiting_for_keyframe = True
                self.request_keyframe()

    def _drain(self) -> None:
        while not self._queue.empty():
            dropped = self._queue.get_nowait()
            if dropped is not None:
                self.frames_dropped += 1

    def _skip_to_latest_start(self) -> None:
        queued: list[EncodedFrame | None] = []
        while not self._queue.empty():
            queued.append(self._queue.get_nowait())
        starts = [i for i, f in enumerate(queued) if f is None or f.keyframe]
        keep_from = starts[-1] if starts and self.kind == "video" else len(queued) - 1
        self.frames_dropped += keep_from
        for frame in queued[keep_from:]:
            self._queue.put_nowait(frame)

    def _source_ended(self, source: Publication) -> None:
        if source is self._source:
            self._source = None

    async def recv(self) -> Any:
        """What the subscriber's sender packs: the next frame, as an ``av.Packet`` for H.264."""
        frame = await self.next_frame()
        if frame.codec == "H264":
            return _h264_packet(frame)
        return frame

    async def next_frame(self) -> EncodedFrame:
        """The next frame of the current source, its pts continued across source switches."""
        if self.readyState != "live":
            raise MediaStreamError
        if self.frames_sent == 0 and self._queue.qsize() > 1:
            # The subscriber's connection just came up: what queued while it was being set up
            # is stale, and sending it all at once is a burst. Start at the newest keyframe
            # queued (video) or the newest frame (audio).
            self._skip_to_latest_start()
        elif self.frames_sent == 0 and self._queue.empty() and self.waiting_for_keyframe:
            # The connection is up and nothing decodable is queued: ask now, whatever the
            # request made when the subscription began has become.
            self.request_keyframe()
        frame = await self._queue.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        if self._offset is None:
            step = SWITCH_STEP[self.kind]
            self._offset = 0 if self._last_pts is None else self._last_pts + step - frame.pts
        pts = frame.pts + self._offset
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        self.frames_sent += 1
        return frame if pts == frame.pts else frame.with_pts(pts)

    def stop(self) -> None:
        if self._source is not None:
            self._source.detach(self)
            self._source = None
        if self.readyState == "live":
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
        super().stop()


def _h264_packet(frame: EncodedFrame) -> Any:
    """aiortc's H.264 packer insists on a real ``av.Packet`` (VP8 and Opus take any object
    with bytes, pts and time_base); PyAV is aiortc's own media library."""
    packet = av.Packet(frame.data)
    packet.pts = frame.pts
    packet.time_base = frame.time_base
    return packet
