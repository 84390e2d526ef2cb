"""Media relay benchmark: one publisher to N subscribers, and rooms where everyone publishes.

Relays one after another in the same run, each in its own process pinned to core 0:

  forwarding  media.relay.Relay: encoded frames forwarded, each subscriber's sender only
              re-packetizes them (media.encoded.install() in the relay process)
  forwarding-mux
              the same relay with every connection on one UDP port (media.udp.UdpMux, as
              OFFICEHOURS_MEDIA_UDP_PORT configures it), to show the mux costs no capacity
  stock       aiortc's MediaRelay (aiortc.contrib.media): each published track is decoded once
              and every subscriber's sender encodes it again (subscribe(track, buffered=False):
              the latest frame, so a relay that cannot keep up drops frames instead of
              queueing decoded pictures without bound)

The load runs on core 1 (bench/media_load.py): a publisher process sending pre-encoded
640x480 30 fps VP8 (≈1.3 Mbit/s, a keyframe a second) + Opus, with latency probes, and one or
two subscriber processes whose receivers only count RTP packets (a video frame is a packet
with the marker bit). Signalling is a small loopback HTTP API served by the relay process.

Phase 1, one publisher to N: subscribers are added step by step (a ramp) and, after a
warm-up, each step measures over a window: relay CPU (% of one core: utime + stime of the
relay process), relay RSS, delivered fps per subscriber (median and min), packet loss, the
load generator's CPU, and, for the forwarding relay, added video latency: probes in the
publisher process receive through the relay and over a direct connection (same clock, frames
matched by their bytes); added = median(relay) - median(direct). A ramp stops when the median
falls clearly below real time. Phase 2, rooms of 2, 4 and 8 publishers: every member
publishes and receives every other member.

    python bench/media.py [--quick] [--fanout 25,50,100,150,200] [--stock 2,4,6,8,12]
                          [--rooms 2,4,8] [--warmup 4] [--window 10] [--no-mux]

The last line of output is one JSON object (see ``summary``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cpu_seconds, free_port, pinned, rss_mb

BENCH = Path(__file__).resolve().parent
RELAY_CORE, LOAD_CORE = 0, 1
REALTIME_FPS = 29.0
GIVE_UP_FPS = 25.0  # a ramp stops below this median: clearly not real time any more
PROBES = 2
TRACE = {"on": False, "t0": time.monotonic()}


def trace(what: str) -> None:
    if TRACE["on"]:
        print(f"[{time.monotonic() - TRACE['t0']:6.1f} s] {what}", file=sys.stderr, flush=True)


# == the relay process ======================================================================
class Mailbox:
    """``media.relay.Signals`` for the benchmark: offers wait here until fetched over HTTP."""

    def __init__(self) -> None:
        self.pending: dict[str, list[dict[str, str]]] = {}

    async def offer(self, member: str, peer_id: str, publisher: str, source: str, sdp: str) -> None:
        self.pending.setdefault(member, []).append({"peer_id": peer_id, "sdp": sdp})

    async def closed(self, member: str, peer_id: str) -> None:
        pass

    async def speaker(self, room: str, member: str | None) -> None:
        pass

    def take(self, member: str) -> list[dict[str, str]]:
        return self.pending.pop(member, [])


class StockRelay:
    """aiortc's MediaRelay behind the same calls as media.relay.Relay (join, publish, answer):
    one connection receives each publisher; each subscriber gets a connection whose tracks
    are ``MediaRelay.subscribe(remote_track)``, so its sender encodes what was decoded."""

    def __init__(self, signals: Mailbox) -> None:
        from aiortc.contrib.media import MediaRelay

        self._signals = signals
        self._media = MediaRelay()
        self._rooms: dict[str, dict[str, dict[str, Any]]] = {}
        self._members: dict[str, dict[str, Any]] = {}
        self._pcs: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._drains: list[asyncio.Task[None]] = []
        self._ids = 0

    async def join(self, room: str, key: str, *, may_publish: bool) -> None:
        member = {"key": key, "room": room, "tracks": [], "receiving": {}}
        members = self._rooms.setdefault(room, {})
        members[key] = member
        self._members[key] = member
        for other in list(members.values()):
            if other is not member and other["tracks"]:
                self._spawn(self._subscribe(member, other))

    async def publish(self, key: str, source: str, offer_sdp: str) -> tuple[str, str]:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        member = self._members[key]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pcs.append(pc)
        tracks: list[Any] = []
        pc.on("track", tracks.append)
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        member["tracks"] = tracks
        for track in tracks:
            # Keep each source read (and decoded) while nobody subscribes, as a server would.
            self._drains.append(
                asyncio.create_task(self._drain(self._media.subscribe(track, buffered=False)))
            )
        for other in list(self._rooms[member["room"]].values()):
            if other is not member:
                self._spawn(self._subscribe(other, member))
        self._ids += 1
        return f"pub-{self._ids}", pc.localDescription.sdp

    async def _drain(self, track: Any) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()

    async def _subscribe(self, member: dict[str, Any], publisher: dict[str, Any]) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pcs.append(pc)
        for track in publisher["tracks"]:
            transceiver = pc.addTransceiver(
                self._media.subscribe(track, buffered=False), direction="sendonly"
            )
            name = "vp8" if track.kind == "video" else "opus"
            codecs = RTCRtpSender.getCapabilities(track.kind).codecs
            transceiver.setCodecPreferences([c for c in codecs if c.name.lower() == name])
        await pc.setLocalDescription(await pc.createOffer())
        self._ids += 1
        peer_id = f"sub-{self._ids}"
        member["receiving"][peer_id] = pc
        await self._signals.offer(
            member["key"], peer_id, publisher["key"], "camera", pc.localDescription.sdp
        )

    async def answer(self, key: str, peer_id: str, answer_sdp: str) -> None:
        from aiortc import RTCSessionDescription

        pc = self._members[key]["receiving"][peer_id]
        await pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in [*self._tasks, *self._drains]:
            task.cancel()
        await asyncio.gather(*(pc.close() for pc in self._pcs), return_exceptions=True)


async def serve_relay(mode: str, port: int) -> None:
    from aiohttp import web

    signals = Mailbox()
    if mode == "forwarding":
        from media.relay import Relay

        relay: Any = Relay(signals)
    elif mode == "forwarding-mux":
        from media.relay import Relay
        from media.udp import UdpMux

        udp = UdpMux(0, announced=["127.0.0.1"], bind_host="127.0.0.1")
        await udp.start()
        relay = Relay(signals, udp=udp)
    else:
        relay = StockRelay(signals)

    async def join(request: web.Request) -> web.Response:
        body = await request.json()
        await relay.join(body["room"], body["key"], may_publish=body["publish"])
        if not body.get("take", True):  # a publisher's own connection: offers are not its
            return web.json_response({"offers": []})
        await relay.settle()
        return web.json_response({"offers": signals.take(body["key"])})

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        peer_id, sdp = await relay.publish(body["key"], "camera", body["sdp"])
        return web.json_response({"peer_id": peer_id, "sdp": sdp})

    async def offers(request: web.Request) -> web.Response:
        body = await request.json()
        await relay.settle()
        return web.json_response({"offers": {k: signals.take(k) for k in body["keys"]}})

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        await relay.answer(body["key"], body["peer_id"], body["sdp"])
        return web.json_response({})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"mode": mode, "pid": os.getpid()})

    app = web.Application()
    app.add_routes(
        [
            web.post("/join", join),
            web.post("/publish", publish),
            web.post("/offers", offers),
            web.post("/answer", answer),
            web.get("/healthz", health),
        ]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(relay.close(), 10)
    await runner.cleanup()


def relay_worker(mode: str, port: int) -> None:
    from media_load import loopback_only

    loopback_only()
    if mode.startswith("forwarding"):
        from media import encoded

        encoded.install()
    asyncio.run(serve_relay(mode, port))


# == the orchestrator ========================================================================
def _die_with_parent() -> None:
    """Children get SIGKILL if the benchmark dies, however it dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def core_times(core: int) -> tuple[float, float, float]:
    """(busy, steal, total) jiffies of one core from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            v = [int(x) for x in line.split()[1:9]]
            user, nice, system, _idle, _iowait, irq, softirq, steal = v
            return float(user + nice + system + irq + softirq), float(steal), float(sum(v))
    return 0.0, 0.0, 1.0


class Child:
    """A load process: one JSON command a line in, one JSON answer a line out."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.info: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, role: str, name: str, log: Path) -> Child:
        proc = await asyncio.create_subprocess_exec(
            *pinned(LOAD_CORE),
            sys.executable,
            str(BENCH / "media_load.py"),
            role,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log.open("ab"),
            preexec_fn=_die_with_parent,
            limit=2**24,
        )
        child = cls(proc, name)
        CHILDREN.append(proc)
        ready = await asyncio.wait_for(child._read(), 120)
        child.info = ready
        return child

    async def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited (see its log)")
        return dict(json.loads(line))

    async def call(self, cmd: str, deadline: float = 300, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        async with self._lock:
            self.proc.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
            await self.proc.stdin.drain()
            answer = await asyncio.wait_for(self._read(), deadline)
        if not answer.get("ok"):
            raise RuntimeError(f"{self.name} {cmd}: {answer.get('error')}")
        return answer


CHILDREN: list[Any] = []


async def start_relay(mode: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import aiohttp

    port = free_port()
    proc = subprocess.Popen(
        [*pinned(RELAY_CORE), sys.executable, __file__, "--relay-worker", mode, str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        preexec_fn=_die_with_parent,
    )
    CHILDREN.append(proc)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return proc, url
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the {mode} relay did not start (see {log})")


def stop_relay(proc: subprocess.Popen[bytes]) -> None:
    """Everything is measured by now: no need for a graceful close of hundreds of peers."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class Load:
    def __init__(self, publisher: Child, subscribers: list[Child]) -> None:
        self.publisher = publisher
        self.subscribers = subscribers

    @property
    def pids(self) -> list[int]:
        return [c.proc.pid for c in (self.publisher, *self.subscribers)]

    async def join(self, relay: str, room: str, keys: list[str]) -> None:
        shares = [keys[i :: len(self.subscribers)] for i in range(len(self.subscribers))]
        await asyncio.gather(
            *(
                child.call("join", relay=relay, room=room, keys=share)
                for child, share in zip(self.subscribers, shares, strict=True)
                if share
            )
        )

    async def collect(self, relay: str, keys: list[str]) -> None:
        shares = [keys[i :: len(self.subscribers)] for i in range(len(self.subscribers))]
        await asyncio.gather(
            *(
                child.call("collect", relay=relay, keys=share)
                for child, share in zip(self.subscribers, shares, strict=True)
                if share
            )
        )

    async def counts(self) -> tuple[float, dict[str, list[int]]]:
        answers = await asyncio.gather(*(c.call("counts") for c in self.subscribers))
        streams: dict[str, list[int]] = {}
        for answer in answers:
            streams.update(answer["streams"])
        return statistics.fmean(a["t"] for a in answers), streams

    async def wait_flowing(self, expected: int, deadline: float) -> int:
        """Until ``expected`` streams have delivered a frame, or ``deadline`` seconds."""
        stop = time.monotonic() + deadline
        flowing = 0
        while time.monotonic() < stop:
            _, streams = await self.counts()
            flowing = sum(1 for s in streams.values() if s[0] > 0)
            if flowing >= expected:
                break
            await asyncio.sleep(0.5)
        return flowing

    async def close(self) -> None:
        await asyncio.gather(*(c.call("close") for c in (self.publisher, *self.subscribers)))


async def window(load: Load, relay_pid: int, seconds: float, probes: bool) -> dict[str, Any]:
    """Measure relay and load over ``seconds``: per-stream fps, CPU, RSS, latency."""
    if probes:
        await load.publisher.call("measure", reset=True)
    t0, before = await load.counts()
    relay0 = cpu_seconds(relay_pid)
    load0 = sum(cpu_seconds(pid) for pid in load.pids)
    cores0 = [core_times(c) for c in (RELAY_CORE, LOAD_CORE)]
    wall0 = time.monotonic()
    await asyncio.sleep(seconds)
    t1, after = await load.counts()
    wall = time.monotonic() - wall0
    relay_cpu = (cpu_seconds(relay_pid) - relay0) / wall * 100
    load_cpu = (sum(cpu_seconds(pid) for pid in load.pids) - load0) / wall * 100
    cores1 = [core_times(c) for c in (RELAY_CORE, LOAD_CORE)]
    elapsed = t1 - t0
    fps, kbps, lost, sent = [], [], 0, 0
    for peer, (frames, packets, lost1, _audio, size) in after.items():
        if peer not in before:
            continue
        f0, p0, l0, _, b0 = before[peer]
        fps.append((frames - f0) / elapsed)
        kbps.append((size - b0) * 8 / elapsed / 1000)
        lost += lost1 - l0
        sent += packets - p0 + lost1 - l0
    result: dict[str, Any] = {
        "streams": len(fps),
        "fps_median": round(statistics.median(fps), 2) if fps else 0.0,
        "fps_min": round(min(fps), 2) if fps else 0.0,
        "fps_p10": round(sorted(fps)[len(fps) // 10], 2) if fps else 0.0,
        "kbps_median": round(statistics.median(kbps)) if kbps else 0,
        "loss_pct": round(lost / max(sent, 1) * 100, 3),
        "relay_cpu_pct": round(relay_cpu, 1),
        "relay_rss_mb": round(rss_mb(relay_pid), 1),
        "load_cpu_pct": round(load_cpu, 1),
    }
    for name, (b0, s0, tot0), (b1, s1, tot1) in zip(
        ("core0", "core1"), cores0, cores1, strict=True
    ):
        result[f"{name}_busy_pct"] = round((b1 - b0) / max(tot1 - tot0, 1) * 100, 1)
        result[f"{name}_steal_pct"] = round((s1 - s0) / max(tot1 - tot0, 1) * 100, 1)
    if probes:
        latency = await load.publisher.call("measure")
        relay_p50, direct_p50 = latency["relay"]["p50_ms"], latency["direct"]["p50_ms"]
        result.update(
            relay_latency_p50_ms=relay_p50,
            relay_latency_p90_ms=latency["relay"]["p90_ms"],
            direct_latency_p50_ms=direct_p50,
            latency_samples=latency["relay"]["n"],
            added_latency_ms=(
                round(relay_p50 - direct_p50, 2)
                if relay_p50 is not None and direct_p50 is not None
                else None
            ),
        )
    return result


async def fan_out(
    mode: str, steps: list[int], load: Load, args: argparse.Namespace, log: Path
) -> dict[str, Any]:
    """One publisher, subscribers added step by step until real time is clearly lost."""
    trace(f"{mode}: starting relay")
    relay, url = await start_relay(mode, log)
    trace(f"{mode}: relay up")
    probes = mode.startswith("forwarding")
    rows: list[dict[str, Any]] = []
    idle: dict[str, Any] = {}
    try:
        await load.publisher.call("publish", relay=url, room="fanout", keys=["pub0"], timed=True)
        if probes:
            await load.publisher.call("probes", relay=url, room="fanout", count=PROBES)
        trace(f"{mode}: published")
        await asyncio.sleep(min(args.warmup, 3.0 if probes else 2.0))
        idle = await window(load, relay.pid, args.idle_window, probes)
        trace(f"{mode}: idle measured")
        joined = 0
        for n in steps:
            started = time.monotonic()
            keys = [f"s{i}" for i in range(joined, n)]
            await load.join(url, "fanout", keys)
            trace(f"{mode}: {n} joined")
            joined = n
            flowing = await load.wait_flowing(n, 15)
            trace(f"{mode}: {flowing} flowing")
            setup = time.monotonic() - started
            await asyncio.sleep(args.warmup)
            row = await window(load, relay.pid, args.window, probes)
            row.update(n=n, flowing=flowing, setup_s=round(setup, 1))
            rows.append(row)
            print_row(mode, row)
            if row["fps_median"] < GIVE_UP_FPS:
                break
    finally:
        stop_relay(relay)
        with contextlib.suppress(Exception):
            await load.close()
        trace(f"{mode}: closed")
    return {"idle": idle, "steps": rows}


async def room(
    mode: str, publishers: int, load: Load, args: argparse.Namespace, log: Path
) -> dict[str, Any]:
    """``publishers`` members who all publish and all receive everyone else."""
    relay, url = await start_relay(mode, log)
    keys = [f"m{i}" for i in range(publishers)]
    try:
        started = time.monotonic()
        await load.publisher.call("publish", relay=url, room="meeting", keys=keys)
        await load.collect(url, keys)
        expected = publishers * (publishers - 1)
        flowing = await load.wait_flowing(expected, 15)
        setup = time.monotonic() - started
        await asyncio.sleep(args.warmup)
        row = await window(load, relay.pid, args.window, probes=False)
        row.update(publishers=publishers, flowing=flowing, setup_s=round(setup, 1))
        print_row(f"{mode} room", row, label=f"{publishers} pub")
        return row
    finally:
        stop_relay(relay)
        with contextlib.suppress(Exception):
            await load.close()
        trace(f"{mode} room of {publishers}: closed")


HEADER = (
    f"{'relay':<17}{'subs':>9}{'fps p50':>9}{'fps min':>9}{'loss':>7}{'relay CPU':>11}"
    f"{'RSS':>9}{'load CPU':>10}{'core0':>7}{'core1':>7}{'steal':>7}{'added lat':>11}"
)


def print_row(mode: str, row: dict[str, Any], label: str | None = None) -> None:
    added = row.get("added_latency_ms")
    print(
        f"{mode:<17}{label or row['n']:>9}{row['fps_median']:>9.1f}{row['fps_min']:>9.1f}"
        f"{row['loss_pct']:>6.2f}%{row['relay_cpu_pct']:>10.1f}%{row['relay_rss_mb']:>7.0f}MB"
        f"{row['load_cpu_pct']:>9.1f}%{row['core0_busy_pct']:>6.0f}%{row['core1_busy_pct']:>6.0f}%"
        f"{max(row['core0_steal_pct'], row['core1_steal_pct']):>6.0f}%"
        f"{'' if added is None else f'{added:.1f} ms':>11}",
        flush=True,
    )


def realtime(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The largest step whose median per-subscriber fps is real time."""
    good = [s for s in steps if s["fps_median"] >= REALTIME_FPS]
    return max(good, key=lambda s: s["n"]) if good else None


def per_subscriber(
    result: dict[str, Any], step: dict[str, Any] | None
) -> tuple[float | None, float | None]:
    """(MB, % of a core) each subscriber adds over the idle relay (publisher and probes only)."""
    idle = result["idle"]
    if step is None or not idle:
        return None, None
    mb = (step["relay_rss_mb"] - idle["relay_rss_mb"]) / step["n"]
    cpu = (step["relay_cpu_pct"] - idle["relay_cpu_pct"]) / step["n"]
    return round(mb, 3), round(cpu, 3)


def summary(fanout: dict[str, dict[str, Any]], rooms: list[dict[str, Any]]) -> dict[str, Any]:
    forwarding, stock = fanout["forwarding"], fanout["stock"]
    best, best_stock = realtime(forwarding["steps"]), realtime(stock["steps"])
    mb, cpu = per_subscriber(forwarding, best)
    stock_mb, stock_cpu = per_subscriber(stock, best_stock)
    light = forwarding["steps"][0] if forwarding["steps"] else {}
    top = forwarding["steps"][-1] if forwarding["steps"] else {}
    muxed = realtime(fanout["forwarding-mux"]["steps"]) if "forwarding-mux" in fanout else None
    return {
        "mux_realtime_subscribers": muxed["n"] if muxed else None,
        "mux_relay_cpu_pct_at_realtime": muxed["relay_cpu_pct"] if muxed else None,
        "mux_fps_median_at_realtime": muxed["fps_median"] if muxed else None,
        "realtime_subscribers": best["n"] if best else 0,
        "baseline_realtime_subscribers": best_stock["n"] if best_stock else 0,
        "mb_per_subscriber": mb,
        "baseline_mb_per_subscriber": stock_mb,
        "cpu_pct_per_subscriber": cpu,
        "baseline_cpu_pct_per_subscriber": stock_cpu,
        "added_video_latency_ms": best.get("added_latency_ms") if best else None,
        "added_video_latency_ms_light": light.get("added_latency_ms"),
        "relay_video_latency_p50_ms": best.get("relay_latency_p50_ms") if best else None,
        "direct_video_latency_p50_ms": best.get("direct_latency_p50_ms") if best else None,
        "fps_median_at_realtime": best["fps_median"] if best else None,
        "fps_min_at_realtime": best["fps_min"] if best else None,
        "relay_cpu_pct_at_realtime": best["relay_cpu_pct"] if best else None,
        "relay_rss_mb_at_realtime": best["relay_rss_mb"] if best else None,
        "load_cpu_pct_at_realtime": best["load_cpu_pct"] if best else None,
        "largest_step": top.get("n"),
        "largest_step_fps_median": top.get("fps_median"),
        "baseline_relay_cpu_pct_at_realtime": best_stock["relay_cpu_pct"] if best_stock else None,
        "fanout": {
            mode: [
                {k: s[k] for k in ("n", "fps_median", "fps_min", "relay_cpu_pct", "relay_rss_mb")}
                for s in result["steps"]
            ]
            for mode, result in fanout.items()
        },
        "rooms": [
            {
                k: r[k]
                for k in (
                    "mode",
                    "publishers",
                    "streams",
                    "fps_median",
                    "fps_min",
                    "relay_cpu_pct",
                    "relay_rss_mb",
                )
            }
            for r in rooms
        ],
    }


def steps(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x.strip()})


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small and short (< 1 minute)")
    parser.add_argument("--fanout", type=steps, default=steps("25,50,100,150,200"))
    parser.add_argument("--stock", type=steps, default=steps("2,4,6,8,12"))
    parser.add_argument("--rooms", type=steps, default=steps("2,4,8"))
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before each window")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per step")
    parser.add_argument("--subscriber-procs", type=int, default=2)
    parser.add_argument(
        "--no-mux", action="store_true", help="skip the relay on one UDP port (forwarding-mux)"
    )
    parser.add_argument("--trace", action="store_true", help="phase timings on stderr")
    args = parser.parse_args()
    TRACE["on"] = args.trace
    args.idle_window = min(args.window, 4.0)
    if args.quick:
        args.fanout, args.stock, args.rooms = [10, 30], [2, 6], [2, 4]
        args.warmup, args.window, args.idle_window = 1.5, 2.5, 1.0
        args.subscriber_procs = 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="oh-bench-media-") as tmp:
        log = Path(tmp) / "children.log"
        try:
            publisher, *subscribers = await asyncio.gather(
                Child.start("publisher", "publisher", log),
                *(
                    Child.start("subscribers", f"subscribers{i}", log)
                    for i in range(args.subscriber_procs)
                ),
            )
            load = Load(publisher, subscribers)
            info = publisher.info
            print(
                f"publisher: 640x480 {info['video_kbps']} kbit/s VP8 ({info['keyframes']} "
                f"keyframes in 3 s), Opus {info['audio_kbps']} kbit/s; relay on core "
                f"{RELAY_CORE}, load on core {LOAD_CORE}; warm-up {args.warmup:g} s, window "
                f"{args.window:g} s",
                flush=True,
            )
            print(HEADER, flush=True)
            fanout = {
                "forwarding": await fan_out("forwarding", args.fanout, load, args, log),
            }
            if not args.no_mux:
                fanout["forwarding-mux"] = await fan_out(
                    "forwarding-mux", args.fanout, load, args, log
                )
            fanout["stock"] = await fan_out("stock", args.stock, load, args, log)
            rooms: list[dict[str, Any]] = []
            for mode in ("forwarding", "stock"):
                for publishers in args.rooms:
                    row = await room(mode, publishers, load, args, log)
                    row["mode"] = mode
                    rooms.append(row)
                    if row["fps_median"] < GIVE_UP_FPS:
                        break
        except BaseException:
            text = log.read_text(errors="replace") if log.exists() else ""
            print("--- children's log (tail) ---\n" + text[-3000:], file=sys.stderr)
            raise
        finally:
            for proc in CHILDREN:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
    for mode in ("forwarding", "stock"):
        idle = fanout[mode]["idle"]
        if idle:
            who = "publisher and probes" if mode == "forwarding" else "publisher"
            print(
                f"{mode} relay with the {who} only: {idle['relay_cpu_pct']:.1f} % CPU, "
                f"{idle['relay_rss_mb']:.0f} MB"
            )
    result = summary(fanout, rooms)
    result["seconds"] = round(time.monotonic() - started, 1)
    print(
        f"real time (median >= {REALTIME_FPS:g} fps): forwarding {result['realtime_subscribers']}, "
        f"stock {result['baseline_realtime_subscribers']} subscribers; "
        f"{result['mb_per_subscriber']} MB and {result['cpu_pct_per_subscriber']} % CPU per "
        f"subscriber (stock {result['baseline_mb_per_subscriber']} MB, "
        f"{result['baseline_cpu_pct_per_subscriber']} %); added video latency "
        f"{result['added_video_latency_ms']} ms; on one UDP port "
        f"{result['mux_realtime_subscribers']} subscribers"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--relay-worker":
        relay_worker(sys.argv[2], int(sys.argv[3]))
    else:
        asyncio.run(main())
