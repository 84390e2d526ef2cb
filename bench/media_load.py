"""Load generator processes for bench/media.py: a publisher of pre-encoded media (with latency
probes) and cheap subscribers. Each process reads one JSON command a line on stdin and answers
with one JSON line on stdout; it exits when stdin closes.

    python bench/media_load.py publisher|subscribers   (started by bench/media.py)

Publisher: 3 s of a 640x480 moving test pattern is encoded once at start-up with aiortc's
``Vp8Encoder`` (a keyframe every second, ≈1.3 Mbit/s) and a tone with its ``OpusEncoder``;
``LoopTrack`` then replays those frames at 30 fps / 50 per second as objects with ``bytes()``,
``pts`` and ``time_base``, so aiortc's sender only re-packetizes them and the load generator
spends no CPU encoding. Probes (full aiortc receive path, ``media.encoded.install()``, so they
get ``EncodedFrame.data``) match each received frame to the send time of the frame with the
same bytes: the relay forwards bytes unchanged. A direct publisher → probe connection in the
same process gives the latency without a relay.

Subscribers: each receiver's ``_handle_rtp_packet`` (an instance attribute) is replaced by a
counter, so nothing is depacketized, jitter-buffered or decoded; a video frame is an RTP
packet with the marker bit set (the last packet of a frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import statistics
import struct
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_SECONDS = 3
VIDEO_BITRATE = 1_300_000
AUDIO_RATE, AUDIO_SAMPLES = 48000, 960  # 20 ms Opus frames
VIDEO_BASE, AUDIO_BASE = Fraction(1, 90000), Fraction(1, AUDIO_RATE)
JOIN_CONCURRENCY = 8
HTTP_TIMEOUT = 60


def loopback_only() -> None:
    """aioice never gathers 127.0.0.1 by itself; keep every candidate on loopback."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]


# -- pre-encoded media -----------------------------------------------------------------------
def _texture() -> list[bytes]:
    """Luma rows twice the frame width: gradients, a checkerboard and fine stripes, so panning
    across it gives the encoder real detail to code."""
    rows = []
    for y in range(HEIGHT):
        row = bytearray(2 * WIDTH)
        for x in range(2 * WIDTH):
            check = 70 if (x // 40 + y // 40) % 2 else 0
            stripes = 24 if (x + y) % 16 < 3 else 0
            row[x] = (x // 3 + y // 4 + check + stripes) % 256
        rows.append(bytes(row))
    return rows


def test_pattern(count: int) -> list[Any]:
    """``count`` frames panning across the texture, with a box of fresh noise moving over it
    (the noise keeps the bitrate near a camera's, not a cartoon's)."""
    import random

    import av

    rng = random.Random(5)
    rows = _texture()
    frames = []
    box_w, box_h = 128, 96
    for i in range(count):
        shift = (i * 6) % WIDTH
        luma = bytearray(b"".join(row[shift : shift + WIDTH] for row in rows))
        bx = int((WIDTH - box_w) * (0.5 + 0.5 * math.sin(i / 9)))
        by = int((HEIGHT - box_h) * (0.5 + 0.5 * math.cos(i / 13)))
        for y in range(by, by + box_h):
            luma[y * WIDTH + bx : y * WIDTH + bx + box_w] = rng.randbytes(box_w)
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(bytes([(96 + i) % 256]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([(160 - i) % 256]) * frame.planes[2].buffer_size)
        frame.pts, frame.time_base = i * (90000 // FPS), VIDEO_BASE
        frames.append(frame)
    return frames


def encode_video(seconds: int = VIDEO_SECONDS) -> list[tuple[bytes, bool]]:
    """(VP8 frame, keyframe) for ``seconds`` of video: aiortc's encoder, a keyframe a second."""
    from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

    from media.encoded import is_keyframe

    encoder = Vp8Encoder()
    encoder.target_bitrate = VIDEO_BITRATE
    out = []
    for i, frame in enumerate(test_pattern(seconds * FPS)):
        payloads, _ = encoder.encode(frame, force_keyframe=i % FPS == 0)
        data = b"".join(vp8_depayload(p) for p in payloads)
        out.append((data, is_keyframe("VP8", data)))
    return out


def encode_audio(seconds: int = 1) -> list[bytes]:
    """Opus frames of a 440 Hz tone (a whole number of cycles a second, so it loops)."""
    import av
    from aiortc.codecs.opus import OpusEncoder

    encoder = OpusEncoder()
    out: list[bytes] = []
    n = 0
    while len(out) < seconds * 50:
        samples = [
            int(8000 * math.sin(2 * math.pi * 440 * (n + k) / AUDIO_RATE))
            for k in range(AUDIO_SAMPLES)
        ]
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(struct.pack(f"<{AUDIO_SAMPLES}h", *samples))
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, n, AUDIO_BASE
        n += AUDIO_SAMPLES
        payloads, _ = encoder.encode(frame)
        out.extend(payloads)
    return out[: seconds * 50]


def _track_class() -> type:
    from aiortc import MediaStreamTrack

    from media.encoded import EncodedFrame

    class LoopTrack(MediaStreamTrack):
        """Replays pre-encoded frames in real time; optionally notes when each was sent."""

        def __init__(
            self,
            kind: str,
            frames: list[tuple[bytes, bool]],
            sent: dict[bytes, float] | None = None,
        ) -> None:
            super().__init__()
            self.kind = kind
            self._frames = frames
            self._sent = sent
            self._n = 0
            self._start: float | None = None
            if kind == "video":
                self._codec, self._rate, self._step, self._base = "VP8", FPS, 3000, VIDEO_BASE
            else:
                self._codec, self._rate, self._step, self._base = "opus", 50, 960, AUDIO_BASE

        async def recv(self) -> Any:
            if self._start is None:
                self._start = time.monotonic()
            n = self._n
            self._n += 1
            delay = self._start + n / self._rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            data, keyframe = self._frames[n % len(self._frames)]
            if self._sent is not None:
                self._sent[data] = time.monotonic()
            return EncodedFrame(self._codec, data, n * self._step, self._base, keyframe)

    return LoopTrack


# -- helpers ---------------------------------------------------------------------------------
def _preferences(transceiver: Any, name: str) -> None:
    from aiortc import RTCRtpSender

    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in codecs if c.name.lower() == name])


def _summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0, "p50_ms": None, "p90_ms": None}
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 2),
    }


class Worker:
    def __init__(self) -> None:
        import aiohttp

        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        self.pcs: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def post(self, url: str, body: dict[str, Any]) -> Any:
        async with self.http.post(url, json=body) as response:
            payload = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status} {payload}")
            return payload

    async def answer_offer(self, relay: str, key: str, offer: dict[str, Any], wire: Any) -> None:
        """Answer one relay offer; ``wire(pc, transceivers)`` decides what receives."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        wire(pc, pc.getTransceivers())
        await pc.setLocalDescription(await pc.createAnswer())
        await self.post(
            f"{relay}/answer",
            {"key": key, "peer_id": offer["peer_id"], "sdp": pc.localDescription.sdp},
        )

    async def close(self, _: dict[str, Any] | None = None) -> dict[str, Any]:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        pcs, self.pcs = self.pcs, []
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True), 20
            )
        return {"closed": len(pcs)}


class Publisher(Worker):
    def __init__(self) -> None:
        super().__init__()
        started = time.perf_counter()
        self.video = encode_video()
        self.audio = [(data, True) for data in encode_audio()]
        sizes = [len(d) for d, _ in self.video]
        self.encode_info = {
            "encode_s": round(time.perf_counter() - started, 2),
            "video_kbps": round(sum(sizes) * 8 / VIDEO_SECONDS / 1000),
            "keyframes": sum(k for _, k in self.video),
            "audio_kbps": round(sum(len(d) for d, _ in self.audio) * 8 / 1000),
        }
        self.LoopTrack = _track_class()
        self.relay_sent: dict[bytes, float] = {}
        self.direct_sent: dict[bytes, float] = {}
        self.latency: dict[str, list[float]] = {"relay": [], "direct": []}
        self.probe_frames: dict[str, int] = {}

    async def publish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        relay, room = cmd["relay"], cmd["room"]
        for i, key in enumerate(cmd["keys"]):
            await self.post(
                f"{relay}/join", {"room": room, "key": key, "publish": True, "take": False}
            )
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            self.pcs.append(pc)
            # Rooms: start each publisher at another point of the loop.
            video = self.LoopTrack("video", self._rotated(self.video, i * 7), None)
            if cmd.get("timed") and i == 0:
                video = self.LoopTrack("video", self.video, self.relay_sent)
            _preferences(pc.addTransceiver(video, direction="sendonly"), "vp8")
            _preferences(
                pc.addTransceiver(self.LoopTrack("audio", self.audio), direction="sendonly"), "opus"
            )
            await pc.setLocalDescription(await pc.createOffer())
            answer = await self.post(
                f"{relay}/publish", {"key": key, "sdp": pc.localDescription.sdp}
            )
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return {"published": len(cmd["keys"]), **self.encode_info}

    @staticmethod
    def _rotated(frames: list[tuple[bytes, bool]], by: int) -> list[tuple[bytes, bool]]:
        # Rotate by whole seconds so the loop still starts with a keyframe.
        by = (by % (len(frames) // FPS)) * FPS
        return frames[by:] + frames[:by]

    def _probe(self, name: str, sent: dict[bytes, float]) -> Any:
        samples = self.latency[name]
        self.probe_frames.setdefault(name, 0)

        async def read(track: Any) -> None:
            with contextlib.suppress(Exception):
                while True:
                    frame = await track.recv()
                    if track.kind != "video":
                        continue
                    now = time.monotonic()
                    self.probe_frames[name] += 1
                    at = sent.get(frame.data)
                    if at is not None and 0 <= now - at < 1.0:
                        samples.append(now - at)

        def wire(pc: Any, transceivers: list[Any]) -> None:
            for transceiver in transceivers:
                self.tasks.append(asyncio.create_task(read(transceiver.receiver.track)))

        return wire

    async def probes(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """``count`` probes through the relay, and one direct connection without it."""
        from aiortc import RTCConfiguration, RTCPeerConnection

        relay, room = cmd["relay"], cmd["room"]
        for i in range(cmd["count"]):
            key = f"probe{i}"
            joined = await self.post(f"{relay}/join", {"room": room, "key": key, "publish": False})
            for offer in joined["offers"]:
                await self.answer_offer(relay, key, offer, self._probe("relay", self.relay_sent))
        sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs += [sender, receiver]
        _preferences(
            sender.addTransceiver(
                self.LoopTrack("video", self.video, self.direct_sent), direction="sendonly"
            ),
            "vp8",
        )
        _preferences(
            sender.addTransceiver(self.LoopTrack("audio", self.audio), direction="sendonly"), "opus"
        )
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        self._probe("direct", self.direct_sent)(receiver, receiver.getTransceivers())
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        return {"probes": cmd["count"]}

    async def measure(self, cmd: dict[str, Any]) -> dict[str, Any]:
        result = {
            "t": time.monotonic(),
            "relay": _summary(self.latency["relay"]),
            "direct": _summary(self.latency["direct"]),
            "frames": dict(self.probe_frames),
        }
        if cmd.get("reset"):
            for samples in self.latency.values():
                samples.clear()  # in place: the probes' readers hold these lists
        return result


class Stream:
    __slots__ = ("audio", "bytes", "frames", "key", "last_seq", "lost", "packets")

    def __init__(self, key: str) -> None:
        self.key = key
        self.frames = self.packets = self.lost = self.audio = self.bytes = 0
        self.last_seq: int | None = None


class Subscribers(Worker):
    def __init__(self) -> None:
        super().__init__()
        self.streams: dict[str, Stream] = {}

    def _counting(self, key: str, peer_id: str) -> Any:
        stream = self.streams[peer_id] = Stream(key)

        async def video(packet: Any, arrival_time_ms: int) -> None:
            stream.packets += 1
            stream.bytes += len(packet.payload)
            if packet.marker:
                stream.frames += 1
            seq = packet.sequence_number
            if stream.last_seq is None:
                stream.last_seq = seq
            else:
                gap = (seq - stream.last_seq) & 0xFFFF
                if gap < 0x8000:
                    stream.lost += gap - 1
                    stream.last_seq = seq

        async def audio(packet: Any, arrival_time_ms: int) -> None:
            stream.audio += 1

        def wire(pc: Any, transceivers: list[Any]) -> None:
            for transceiver in transceivers:
                receiver = transceiver.receiver
                receiver._handle_rtp_packet = video if transceiver.kind == "video" else audio

        return wire

    async def _accept_all(self, relay: str, key: str, offers: list[dict[str, Any]]) -> None:
        for offer in offers:
            await self.answer_offer(relay, key, offer, self._counting(key, offer["peer_id"]))

    async def join(self, cmd: dict[str, Any]) -> dict[str, Any]:
        relay, room = cmd["relay"], cmd["room"]
        gate = asyncio.Semaphore(JOIN_CONCURRENCY)
        started = time.perf_counter()

        async def one(key: str) -> None:
            async with gate:
                joined = await self.post(
                    f"{relay}/join", {"room": room, "key": key, "publish": False}
                )
                await self._accept_all(relay, key, joined["offers"])

        await asyncio.gather(*(one(key) for key in cmd["keys"]))
        return {"streams": len(self.streams), "seconds": round(time.perf_counter() - started, 2)}

    async def collect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Answer the offers waiting for ``keys`` (members of rooms, after everyone published)."""
        relay = cmd["relay"]
        pending = await self.post(f"{relay}/offers", {"keys": cmd["keys"]})
        await asyncio.gather(
            *(self._accept_all(relay, key, offers) for key, offers in pending["offers"].items())
        )
        return {"streams": len(self.streams)}

    async def counts(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "t": time.monotonic(),
            "streams": {
                peer: [s.frames, s.packets, s.lost, s.audio, s.bytes]
                for peer, s in self.streams.items()
            },
        }

    async def close(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        self.streams.clear()
        return await super().close(cmd)


async def serve(role: str) -> None:
    worker: Publisher | Subscribers = Publisher() if role == "publisher" else Subscribers()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(payload: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    reply({"ready": True, **getattr(worker, "encode_info", {})})
    try:
        while line := await reader.readline():
            cmd = json.loads(line)
            try:
                reply({"ok": True, **await getattr(worker, cmd["cmd"])(cmd)})
            except Exception as error:  # reported to the orchestrator, which stops the run
                reply({"ok": False, "error": f"{type(error).__name__}: {error}"})
    finally:
        await worker.close()
        await worker.http.close()


def main() -> None:
    role = sys.argv[1]
    if role not in ("publisher", "subscribers"):
        raise SystemExit("usage: media_load.py publisher|subscribers")
    loopback_only()
    # Probes need EncodedFrame.data; subscribers never reach aiortc's handler at all.
    from media import encoded

    encoded.install()
    asyncio.run(serve(role))


if __name__ == "__main__":
    main()
