"""Presence benchmark: N people on one floor, a share of them moving; every move must reach
every observer.

Four servers, one after another in the same run, each pinned to core 0 while a Node
socket.io-client load generator (bench/load_presence.mjs) runs on core 1:

  officehours  the real server (moves coalesced per organization, one delta per 50 ms)
  baseline     the obvious python-socketio server: one broadcast per move (bench/naive_server.py)
  coalescing   the same python-socketio server coalescing like officehours (latest position per
               mover, one batch per 50 ms, uvloop): separates the design from the implementation
  node         the obvious server in Node socket.io (bench/naive_server.mjs)

Prints delivered position updates per second (observers x updates), p50/p99 delay from a move
to its receipt by an observer, server CPU (% of one core, move phase only) and RSS. With
coalescing a fast mover's intermediate positions are dropped on purpose: "delivered" counts
what observers received, "share" is delivered / (moves x connected clients).

    python bench/presence.py [--quick] [--clients 500] [--seconds 20] [--movers 0.2] [--hz 5]
                             [--saturate]

With --saturate each server is run again at 2x, 4x and 8x the moves per second (at most 50),
or at 1/2, 1/4 and 1/8 when it is already saturated, and its capacity at saturation is
reported (see ``saturate``).

The last line of output is one JSON object (see ``summary``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cpu_seconds, free_port, pinned, rss_mb, seed_office, server_env

BENCH = Path(__file__).resolve().parent
ROOM_CAPACITY = 500  # the most rooms/layout.py allows
COALESCE_MS = 50  # officehours' default presence window (OFFICEHOURS_COALESCE_MS)
SERVER_CORE, LOAD_CORE = 0, 1
CAPACITY_P99_MS = 500  # --saturate: a step counts while observers get moves this fast


@dataclass(frozen=True)
class Target:
    name: str
    key: str  # JSON key prefix: "" for officehours, "baseline_", "node_"
    command: list[str]
    env: dict[str, str] | None
    url: str
    ready_path: str
    job: dict[str, Any]


def core_times(core: int) -> tuple[float, float, float]:
    """(busy, steal, total) jiffies of one core from /proc/stat: steal is time the host gave
    this virtual core to someone else, the noise a shared machine adds."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            v = [int(f) for f in line.split()[1:9]]
            user, nice, system, _idle, _iowait, irq, softirq, steal = v
            return float(user + nice + system + irq + softirq), float(steal), float(sum(v))
    return 0.0, 0.0, 0.0


async def wait_up(url: str, path: str, server: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode} before it came up")
            try:
                async with http.get(url + path) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def measure(target: Target, seconds: float, logs: Path) -> dict[str, Any]:
    """Start the server on core 0 and the load generator on core 1; sample the server's CPU,
    the cores' steal and the server's RSS over the move phase; stop both, whatever happens."""
    stderr_path = logs / f"{target.key or 'officehours_'}stderr.log"
    with stderr_path.open("wb") as stderr:
        server = subprocess.Popen(
            [*pinned(SERVER_CORE), *target.command],
            env=target.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    loader: asyncio.subprocess.Process | None = None
    result: dict[str, Any] = {"server": target.name}
    try:
        await wait_up(target.url, target.ready_path, server)
        loader = await asyncio.create_subprocess_exec(
            *pinned(LOAD_CORE),
            "node",
            str(BENCH / "load_presence.mjs"),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert loader.stdin is not None and loader.stdout is not None
        loader.stdin.write(json.dumps(target.job).encode())
        loader.stdin.close()
        lines: list[str] = []
        start: dict[str, Any] = {}
        phase: dict[str, float] = {}
        async with asyncio.timeout(seconds + 180):
            while raw := await loader.stdout.readline():
                line = raw.decode().strip()
                if line == "phase:start":
                    start = {
                        "wall": time.monotonic(),
                        "server": cpu_seconds(server.pid),
                        "load": cpu_seconds(loader.pid),
                        "core": core_times(SERVER_CORE),
                        "load_core": core_times(LOAD_CORE),
                    }
                elif line == "phase:end" and start:
                    wall = time.monotonic() - start["wall"]
                    busy, steal, total = (
                        b - a for a, b in zip(start["core"], core_times(SERVER_CORE), strict=True)
                    )
                    lbusy, lsteal, ltotal = (
                        b - a
                        for a, b in zip(start["load_core"], core_times(LOAD_CORE), strict=True)
                    )
                    server_cpu = cpu_seconds(server.pid) - start["server"]
                    phase = {
                        "server_cpu_pct": server_cpu / wall * 100,
                        # Near 100 % the load generator adds delay: latencies become upper bounds.
                        "load_cpu_pct": (cpu_seconds(loader.pid) - start["load"]) / wall * 100,
                        "core0_busy_pct": busy / max(total, 1) * 100,
                        "core0_steal_pct": steal / max(total, 1) * 100,
                        "core1_busy_pct": lbusy / max(ltotal, 1) * 100,
                        "core1_steal_pct": lsteal / max(ltotal, 1) * 100,
                        # RSS with every client still connected.
                        "server_rss_mb": rss_mb(server.pid),
                    }
                elif line:
                    lines.append(line)
        await loader.wait()
        if not lines:
            raise RuntimeError(f"load generator exited with {loader.returncode} and no result")
        result.update(json.loads(lines[-1]))
        if "fatal" in result:
            raise RuntimeError(f"load generator: {result['fatal']}")
        if not phase:
            raise RuntimeError("the load generator never reported its move phase")
        result.update(phase)
        result["server_alive"] = server.poll() is None
    finally:
        if loader is not None and loader.returncode is None:
            loader.kill()
            await loader.wait()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    result["server_exit"] = server.returncode
    if result.get("errors") or not result.get("server_alive", False):
        print(
            f"--- {target.name}: errors {result.get('error_kinds')}, samples:\n"
            + "\n".join(json.dumps(s) for s in result.get("error_samples", []))
            + f"\n--- last lines of its stderr ({stderr_path}):\n{tail(stderr_path)}",
            file=sys.stderr,
        )
    return result


def floor_rooms(clients: int) -> list[tuple[str, int, int, int, int, int]]:
    """One 1000 x 1000 floor: one hall, or stacked halls when more people than a room holds."""
    count = max(1, math.ceil(clients / ROOM_CAPACITY))
    height = 1000 // count
    capacity = math.ceil(clients / count)
    return [(f"Hall {i + 1}", 0, i * height, 1000, height, capacity) for i in range(count)]


def source_state() -> dict[str, Any]:
    """Which server code ran: the commit and any uncommitted changes to it (others may be
    editing the tree while a benchmark runs)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "server", "rooms", "pyproject.toml")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip() or None,
        "uncommitted": [line[3:] for line in changed.splitlines()],
    }


def per_core(r: dict[str, Any]) -> float:
    cores: float = max(r["server_cpu_pct"] / 100, 1e-9)
    return float(r["delivered_per_s"]) / cores


def summary(args: argparse.Namespace, results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"clients": args.clients}
    for key, r in zip(("", "baseline_", "coalescing_", "node_"), results, strict=True):
        out |= {
            f"{key}delivered_per_s": round(r["delivered_per_s"], 1),
            f"{key}delivered_share": round(r["delivered_share"], 4),
            f"{key}p50_ms": round(r["p50_ms"] or 0, 1),
            f"{key}p90_ms": round(r["p90_ms"] or 0, 1),
            f"{key}p99_ms": round(r["p99_ms"] or 0, 1),
            f"{key}cpu_pct": round(r["server_cpu_pct"], 1),
            f"{key}core0_busy_pct": round(r["core0_busy_pct"], 1),
            f"{key}delivered_per_core_s": round(per_core(r), 1),
            f"{key}rss_mb": round(r["server_rss_mb"], 1),
            f"{key}moves": r["moves"],
            f"{key}errors": r["errors"],
            f"{key}load_cpu_pct": round(r["load_cpu_pct"], 1),
            f"{key}core0_steal_pct": round(r["core0_steal_pct"], 1),
        }
    return out


def step_figures(r: dict[str, Any], hz: float) -> dict[str, Any]:
    return {
        "hz": hz,
        "delivered_per_s": float(r["delivered_per_s"]),
        "p99_ms": float(r["p99_ms"] or 0),
        "cpu_pct": float(r["server_cpu_pct"]),
        "errors": int(r["errors"]),
    }


async def saturate(
    target: Target, first: dict[str, Any], args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    """Step the movers' rate up until the server no longer keeps up (p99 over the bound or
    errors); capacity is the best step that kept up. Dividing throughput by the CPU of a server
    that is not saturated flatters whichever does less per update; this compares what each
    delivers when it has no more to give."""
    steps = [step_figures(first, args.hz)]

    def kept_up(step: dict[str, Any]) -> bool:
        return step["p99_ms"] < CAPACITY_P99_MS and not step["errors"]

    # Already past saturation: step down until it keeps up.
    for factor in (0.5, 0.25, 0.125):
        if kept_up(steps[-1]):
            break
        hz = args.hz * factor
        stepped = replace(target, job=target.job | {"hz": hz})
        steps.append(step_figures(await measure(stepped, args.seconds, logs), hz))
    for factor in (2, 4, 8) if kept_up(steps[0]) else ():
        hz = min(args.hz * factor, 50.0)
        if hz <= steps[-1]["hz"]:
            break
        if not kept_up(steps[-1]):
            break  # past saturation
        stepped = replace(target, job=target.job | {"hz": hz})
        steps.append(step_figures(await measure(stepped, args.seconds, logs), hz))
    best = max(filter(kept_up, steps), key=lambda st: st["delivered_per_s"], default=None)
    return {
        "delivered_per_s": best["delivered_per_s"] if best else 0.0,
        "hz": best["hz"] if best else None,
        "steps": steps,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="150 clients, 8 s (< 1 minute)")
    parser.add_argument("--clients", type=int, default=None, help="default 500")
    parser.add_argument("--seconds", type=float, default=None, help="move phase, default 20")
    parser.add_argument("--movers", type=float, default=0.2, help="share of clients moving")
    parser.add_argument("--hz", type=float, default=5.0, help="moves per second per mover")
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="all movers send at the same instant (a burst per period) instead of spread evenly",
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="clients offer permessage-deflate as browsers do (the baseline then compresses "
        "every frame per recipient, and inflating them loads the load generator)",
    )
    parser.add_argument(
        "--coalesce-ms",
        type=int,
        default=None,
        help="OFFICEHOURS_COALESCE_MS for the officehours server (default: the server's own)",
    )
    parser.add_argument(
        "--saturate",
        action="store_true",
        help="capacity at saturation: each server again at 2x, 4x and 8x --hz (at most 50/s), or "
        "at 1/2, 1/4, 1/8 if it is already saturated; "
        "its capacity is the most updates/s it delivered with p99 under "
        f"{CAPACITY_P99_MS} ms and no error (several minutes; not part of --quick)",
    )
    args = parser.parse_args()
    args.clients = args.clients or (150 if args.quick else 500)
    args.seconds = args.seconds or (8.0 if args.quick else 20.0)
    if not 1 <= args.clients <= 5000:
        parser.error("--clients must be between 1 and 5000")
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    if not 0 <= args.movers <= 1 or not 0 < args.hz <= 50:
        parser.error("--movers must be in [0, 1] and --hz in (0, 50]")
    if not (ROOT / "node_modules" / "socket.io").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True
        )
    source = source_state()
    results = []
    with tempfile.TemporaryDirectory(prefix="oh-bench-presence-") as tmp:
        logs = Path(tmp)
        port = free_port()
        extra = {"coalesce_ms": str(args.coalesce_ms)} if args.coalesce_ms else {}
        env = server_env(logs / "var", port, **extra)
        rooms = floor_rooms(args.clients)
        tokens, room_ids, user_ids = await seed_office(env, args.clients, rooms)
        common = {
            "moverShare": args.movers,
            "seconds": args.seconds,
            "hz": args.hz,
            "lockstep": args.lockstep,
            "deflate": args.deflate,
        }
        url = f"http://127.0.0.1:{port}"
        office_clients = [
            {
                "token": token,
                "user_id": user_id,
                "room_id": room_ids[i % len(room_ids)],
                "rect": list(rooms[i % len(rooms)][1:5]),
            }
            for i, (token, user_id) in enumerate(zip(tokens, user_ids, strict=True))
        ]
        naive_clients = [{"user_id": u} for u in user_ids]
        targets = [
            Target(
                "officehours",
                "",
                [sys.executable, "-m", "server", "serve"],
                env,
                url,
                "/healthz",
                {"url": url, "mode": "office", "clients": office_clients, **common},
            )
        ]
        for name, key, command in (
            ("baseline (python-socketio)", "baseline_", [sys.executable, "naive_server.py"]),
            (
                "coalescing (python-socketio)",
                "coalescing_",
                [
                    sys.executable,
                    "naive_server.py",
                    "--coalesce",
                    str((args.coalesce_ms or COALESCE_MS) / 1000),
                ],
            ),
            ("node (socket.io)", "node_", ["node", "naive_server.mjs"]),
        ):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            targets.append(
                Target(
                    name,
                    key,
                    [command[0], str(BENCH / command[1]), str(port), *command[2:]],
                    None,
                    url,
                    "/socket.io/?EIO=4&transport=polling",
                    {"url": url, "mode": "naive", "clients": naive_clients, **common},
                )
            )
        for target in targets:
            results.append(await measure(target, args.seconds, logs))
        capacity: dict[str, dict[str, Any]] = {}
        if args.saturate:
            for target, first in zip(targets, results, strict=True):
                capacity[target.key] = await saturate(target, first, args, logs)

    movers = results[0]["movers"]
    print(
        f"{args.clients} clients, {movers} moving at {args.hz:g}/s"
        f"{' in lockstep' if args.lockstep else ''}, {args.seconds:g} s"
        f"{', clients offer deflate' if args.deflate else ''}; server on core "
        f"{SERVER_CORE}, load generator on core {LOAD_CORE}; server code {source['commit']}"
        + (f" + uncommitted {', '.join(source['uncommitted'])}" if source["uncommitted"] else "")
    )
    header = (
        f"{'server':<27}{'delivered/s':>12}{'share':>7}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'cpu %':>7}{'core0 %':>8}{'per core/s':>11}{'rss MB':>8}{'moves':>7}"
        f"{'errors':>7}{'load %':>7}{'steal %':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r['server']:<27}{r['delivered_per_s']:>12,.0f}{r['delivered_share']:>7.1%}"
            f"{r['p50_ms'] or 0:>9.1f}{r['p99_ms'] or 0:>9.1f}{r['server_cpu_pct']:>7.0f}"
            f"{r['core0_busy_pct']:>8.0f}{per_core(r):>11,.0f}{r['server_rss_mb']:>8.0f}"
            f"{r['moves']:>7}{r['errors']:>7}{r['load_cpu_pct']:>7.0f}{r['core0_steal_pct']:>8.1f}"
        )
    print(
        "share = delivered / (moves x connected clients); cpu = the server process (utime + "
        "stime); core0 = everything on the server's core, loopback softirq included; per core "
        "= delivered/s per core of server process CPU; load = the load generator's process "
        "CPU; steal = core 0 time the host gave to other machines"
    )
    extra: dict[str, Any] = {}
    if capacity:
        print(
            f"capacity at saturation (the most position updates/s delivered with p99 < "
            f"{CAPACITY_P99_MS} ms and no error, --hz stepped up to 8x):"
        )
        for r, (key, c) in zip(results, capacity.items(), strict=True):
            steps = ", ".join(
                f"{st['hz']:g}/s: {st['delivered_per_s']:,.0f} p99 {st['p99_ms']:,.0f} ms"
                f" cpu {st['cpu_pct']:.0f} %"
                for st in c["steps"]
            )
            print(f"  {r['server']:<27}{c['delivered_per_s']:>12,.0f}   ({steps})")
            extra[f"{key}capacity_delivered_per_s"] = round(c["delivered_per_s"], 1)
            extra[f"{key}capacity_hz"] = c["hz"]
        office_capacity = capacity[""]["delivered_per_s"]
        for key in ("baseline_", "coalescing_", "node_"):
            if key in capacity and capacity[key]["delivered_per_s"]:
                extra[f"capacity_ratio_to_{key.rstrip('_')}"] = round(
                    office_capacity / capacity[key]["delivered_per_s"], 2
                )
    print(json.dumps(summary(args, results) | extra | source))


if __name__ == "__main__":
    asyncio.run(main())
