"""Presence benchmark: N people on one floor, a share of them moving; every move must reach
every observer.

Three servers, one after another in the same run, each pinned to core 0 while a Node
socket.io-client load generator runs on core 1:

  officehours  the real server (moves coalesced per organization, one delta per 100 ms)
  baseline     the obvious python-socketio server: one broadcast per move (bench/naive_server.py)
  node         the same obvious server in Node socket.io (bench/naive_server.mjs)

Prints delivered position updates per second (observers x updates), p50/p99 delay from a move
to its delivery, server CPU (% of one core) and RSS. With coalescing a fast mover's
intermediate positions are dropped on purpose: delivered counts what observers received.

    python bench/presence.py [--quick] [--clients 500] [--seconds 20] [--movers 0.2] [--hz 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cpu_seconds, free_port, pinned, rss_mb, seed_office, server_env

BENCH = Path(__file__).resolve().parent


async def wait_up(url: str, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(url + path) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def run(
    name: str,
    command: list[str],
    env: dict[str, str] | None,
    url: str,
    ready_path: str,
    job: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    server = subprocess.Popen(
        [*pinned(0), *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_up(url, ready_path)
        loader = await asyncio.create_subprocess_exec(
            *pinned(1),
            "node",
            str(BENCH / "load_presence.mjs"),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert loader.stdin is not None and loader.stdout is not None
        loader.stdin.write(json.dumps(job).encode())
        loader.stdin.close()
        # Server CPU over the move phase only (connecting 500 clients is not the workload).
        lines: list[str] = []
        cpu_start = wall_start = load_start = 0.0
        cpu_used = wall = load_used = 0.0
        async with asyncio.timeout(seconds + 180):
            while raw := await loader.stdout.readline():
                line = raw.decode().strip()
                if line == "phase:start":
                    cpu_start, wall_start = cpu_seconds(server.pid), time.monotonic()
                    load_start = cpu_seconds(loader.pid)
                elif line == "phase:end":
                    cpu_used = cpu_seconds(server.pid) - cpu_start
                    wall = time.monotonic() - wall_start
                    load_used = cpu_seconds(loader.pid) - load_start
                elif line:
                    lines.append(line)
        await loader.wait()
        result: dict[str, Any] = json.loads(lines[-1])
        result["server_cpu_pct"] = cpu_used / max(wall, 1e-9) * 100
        # Near 100 % the load generator itself adds delay: then latencies are upper bounds.
        result["load_cpu_pct"] = load_used / max(wall, 1e-9) * 100
        result["server_rss_mb"] = rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    result["server"] = name
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small and short (< 1 minute)")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--movers", type=float, default=0.2, help="share of clients moving")
    parser.add_argument("--hz", type=float, default=5.0, help="moves per second per mover")
    parser.add_argument(
        "--coalesce-ms",
        type=int,
        default=None,
        help="OFFICEHOURS_COALESCE_MS for the officehours server (default: "
        "the server's own default)",
    )
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = 150, 6.0
    if not (ROOT / "node_modules" / "socket.io").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True
        )
    results = []
    with tempfile.TemporaryDirectory(prefix="oh-bench-presence-") as tmp:
        port = free_port()
        extra = {"coalesce_ms": str(args.coalesce_ms)} if args.coalesce_ms else {}
        env = server_env(Path(tmp) / "var", port, **extra)
        tokens, (room_id,), user_ids = await seed_office(
            env, args.clients, [("Hall", 0, 0, 1000, 1000, 500)]
        )
        url = f"http://127.0.0.1:{port}"
        common = {"moverShare": args.movers, "seconds": args.seconds, "hz": args.hz}
        office_clients = [
            {"token": t, "user_id": u, "room_id": room_id}
            for t, u in zip(tokens, user_ids, strict=True)
        ]
        results.append(
            await run(
                "officehours",
                [sys.executable, "-m", "server", "serve"],
                env,
                url,
                "/healthz",
                {"url": url, "mode": "office", "clients": office_clients, **common},
                args.seconds,
            )
        )
        naive_clients = [{"user_id": u} for u in user_ids]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        results.append(
            await run(
                "baseline (python-socketio)",
                [sys.executable, str(BENCH / "naive_server.py"), str(port)],
                None,
                url,
                "/socket.io/?EIO=4&transport=polling",
                {"url": url, "mode": "naive", "clients": naive_clients, **common},
                args.seconds,
            )
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        results.append(
            await run(
                "node (socket.io)",
                ["node", str(BENCH / "naive_server.mjs"), str(port)],
                None,
                url,
                "/socket.io/?EIO=4&transport=polling",
                {"url": url, "mode": "naive", "clients": naive_clients, **common},
                args.seconds,
            )
        )

    print(
        f"{args.clients} clients, {args.movers:.0%} moving at {args.hz:g}/s, "
        f"{args.seconds:g} s; server on core 0, load on core 1"
    )
    print(
        f"{'server':<28}{'delivered/s':>12}{'p50':>9}{'p99':>9}{'cpu %':>7}{'rss MB':>8}"
        f"{'moves':>8}{'errors':>7}"
    )
    for r in results:
        print(
            f"{r['server']:<28}{r['delivered_per_s']:>12.0f}{r['p50_ms'] or 0:>7.1f}ms"
            f"{r['p99_ms'] or 0:>7.1f}ms{r['server_cpu_pct']:>7.0f}{r['server_rss_mb']:>8.0f}"
            f"{r['moves']:>8}{r['errors']:>7}"
        )
    office, baseline, node = results

    def per_core(r: dict[str, Any]) -> float:
        return r["delivered_per_s"] / max(r["server_cpu_pct"] / 100, 1e-9)

    print(
        json.dumps(
            {
                "clients": args.clients,
                "delivered_per_s": round(office["delivered_per_s"], 1),
                "p50_ms": round(office["p50_ms"] or 0, 1),
                "p99_ms": round(office["p99_ms"] or 0, 1),
                "delivered_per_core_s": round(per_core(office), 1),
                "cpu_pct": round(office["server_cpu_pct"], 1),
                "rss_mb": round(office["server_rss_mb"], 1),
                "errors": office["errors"],
                "load_cpu_pct": round(office["load_cpu_pct"], 1),
                "baseline_delivered_per_s": round(baseline["delivered_per_s"], 1),
                "baseline_p99_ms": round(baseline["p99_ms"] or 0, 1),
                "baseline_delivered_per_core_s": round(per_core(baseline), 1),
                "node_delivered_per_s": round(node["delivered_per_s"], 1),
                "node_p99_ms": round(node["p99_ms"] or 0, 1),
                "node_delivered_per_core_s": round(per_core(node), 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
