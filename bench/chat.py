"""Chat persistence benchmark: many clients sending at once, acknowledged only after commit.

For SQLite (and PostgreSQL when OFFICEHOURS_TEST_POSTGRES is set) it runs the real server twice
in the same run: with group commit (the default) and with one transaction per message
(OFFICEHOURS_CHAT_GROUP_COMMIT=false, the obvious alternative). Clients are real Socket.IO
clients in a second process (Node's socket.io-client, bench/chat_clients.mjs; python-socketio
with --python-clients); each sends in a closed loop (next message after the ack) into its
room's chat. Prints persisted messages/s, ack p50/p99 (an unanswered ack counts at its
time-out), and checks the database holds exactly the acknowledged messages.

    python bench/chat.py [--quick] [--clients 200] [--rooms 20] [--seconds 15] [--python-clients]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cpu_seconds, free_port, pinned, seed_office, server_env


def chat_rooms(count: int) -> list[tuple[str, int, int, int, int, int]]:
    return [(f"Room {i}", (i % 10) * 100, (i // 10) * 100, 90, 90, 500) for i in range(count)]


async def load(base: str, tokens: list[str], room_ids: list[int], seconds: float) -> dict[str, Any]:
    """Runs in the load process: connect everyone, walk into rooms, send for ``seconds``."""
    import socketio

    clients: list[Any] = []
    conversations: list[int] = []
    errors = 0

    async def open_one(i: int, token: str) -> None:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            base,
            headers={"Cookie": f"officehours_session={token}", "Origin": base},
            transports=["websocket"],
            wait_timeout=30,
        )
        room = room_ids[i % len(room_ids)]
        entered = await client.call("room:enter", {"room_id": room}, timeout=30)
        assert entered["ok"], entered
        chat = await client.call("chat:room", {"room_id": room}, timeout=30)
        assert chat["ok"], chat
        clients.append(client)
        conversations.append(chat["conversation"]["id"])

    for start in range(0, len(tokens), 50):
        await asyncio.gather(
            *[open_one(i, t) for i, t in enumerate(tokens[start : start + 50], start)]
        )
    latencies: list[float] = []
    acked = 0
    stop_at = time.monotonic() + seconds
    started = time.monotonic()

    async def sender(client: Any, conversation: int) -> None:
        nonlocal acked, errors
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            sent = time.perf_counter()
            try:
                ack = await client.call(
                    "chat:send",
                    {
                        "conversation_id": conversation,
                        "client_id": uuid.uuid4().hex,
                        "body": f"benchmark message {n} with a little text in it",
                    },
                    timeout=30,
                )
            except Exception:
                errors += 1
                continue
            if ack.get("ok"):
                acked += 1
                latencies.append((time.perf_counter() - sent) * 1000)
            else:
                errors += 1

    await asyncio.gather(*[sender(c, conv) for c, conv in zip(clients, conversations, strict=True)])
    elapsed = time.monotonic() - started
    for client in clients:
        await client.disconnect()
    latencies.sort()
    return {
        "acked": acked,
        "errors": errors,
        "seconds": elapsed,
        "msgs_per_s": acked / elapsed if elapsed else 0.0,
        "ack_p50_ms": statistics.median(latencies) if latencies else None,
        "ack_p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else None,
    }


async def count_stored(env: dict[str, str]) -> int:
    from sqlalchemy import func, select

    from server.content.messages import Message
    from server.db.engine import create_engine, session_factory
    from server.infra.settings import Settings

    engine = create_engine(Settings.from_env(env))
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Message)) or 0)
    finally:
        await engine.dispose()


async def run_case(
    database: str, group_commit: bool, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    port = free_port()
    env = server_env(
        workdir / f"var-{port}",
        port,
        chat_burst="10000",
        chat_per_second="10000",
        chat_group_commit="true" if group_commit else "false",
    )
    admin_db = None
    if database == "postgres":
        import asyncpg

        admin = os.environ["OFFICEHOURS_TEST_POSTGRES"].replace(
            "postgresql+asyncpg://", "postgresql://"
        )
        admin_db = f"oh_bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(admin)
        await conn.execute(f'CREATE DATABASE "{admin_db}"')
        await conn.close()
        env["OFFICEHOURS_DATABASE_URL"] = (
            admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            + f"/{admin_db}"
        )
    tokens, room_ids, _ = await seed_office(env, args.clients, chat_rooms(args.rooms))
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*pinned(0), sys.executable, "-m", "server", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        cpu_before = cpu_seconds(server.pid)
        job = {"base": base, "tokens": tokens, "room_ids": room_ids, "seconds": args.seconds}
        generator = (
            [sys.executable, __file__, "--load-worker"]
            if args.python_clients
            else ["node", str(ROOT / "bench" / "chat_clients.mjs")]
        )
        loader = await asyncio.create_subprocess_exec(
            *pinned(1),
            *generator,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(
            loader.communicate(json.dumps(job).encode()), timeout=args.seconds + 120
        )
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        # Includes connecting and walking into rooms: an upper bound per message.
        result["server_cpu_ms_per_msg"] = (
            (cpu_seconds(server.pid) - cpu_before) * 1000 / max(result["acked"], 1)
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    result["stored"] = await count_stored(env)
    if admin_db is not None:
        import asyncpg

        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{admin_db}" WITH (FORCE)')
        await conn.close()
    result.update(database=database, group_commit=group_commit)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small and short (< 1 minute)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--python-clients",
        action="store_true",
        help="python-socketio clients instead of Node's socket.io-client (the generator then "
        "needs about as much CPU as the server)",
    )
    args = parser.parse_args()
    if args.quick:
        args.clients, args.rooms, args.seconds = 60, 6, 4.0
    databases = ["sqlite"] + (["postgres"] if os.environ.get("OFFICEHOURS_TEST_POSTGRES") else [])
    results = []
    with tempfile.TemporaryDirectory(prefix="oh-bench-chat-") as tmp:
        for database in databases:
            for group_commit in (True, False):
                result = await run_case(database, group_commit, args, Path(tmp))
                results.append(result)
    print(f"{args.clients} clients in {args.rooms} rooms, {args.seconds:g} s each, closed loop")
    print(
        f"{'database':<10}{'commit':<14}{'msgs/s':>9}{'ack p50':>10}{'ack p99':>10}"
        f"{'cpu/msg':>9}{'errors':>8}{'acked':>8}{'stored':>8}"
    )
    for r in results:
        print(
            f"{r['database']:<10}{'group' if r['group_commit'] else 'one per msg':<14}"
            f"{r['msgs_per_s']:>9.0f}{r['ack_p50_ms'] or 0:>9.1f}ms{r['ack_p99_ms'] or 0:>8.1f}ms"
            f"{r['server_cpu_ms_per_msg']:>7.2f}ms{r['errors']:>8}{r['acked']:>8}{r['stored']:>8}"
        )
    lost = [r for r in results if r["stored"] != r["acked"]]
    if lost:
        print(
            "MISMATCH: stored != acknowledged in",
            [(r["database"], r["group_commit"]) for r in lost],
        )
    summary: dict[str, Any] = {"clients": args.clients, "rooms": args.rooms}
    for r in results:
        prefix = r["database"] + ("" if r["group_commit"] else "_baseline")
        summary[f"{prefix}_msgs_per_s"] = round(r["msgs_per_s"], 1)
        summary[f"{prefix}_ack_timeouts"] = r.get("ack_timeouts", 0)
        if r["group_commit"]:
            summary[f"{prefix}_ack_p50_ms"] = round(r["ack_p50_ms"] or 0, 2)
            summary[f"{prefix}_ack_p99_ms"] = round(r["ack_p99_ms"] or 0, 2)
        else:
            summary[f"{prefix}_ack_p99_ms"] = round(r["ack_p99_ms"] or 0, 2)
    summary["acknowledged_equals_stored"] = not lost
    print(json.dumps(summary))


def load_worker() -> None:
    job = json.loads(sys.stdin.read())
    result = asyncio.run(load(job["base"], job["tokens"], job["room_ids"], job["seconds"]))
    print(json.dumps(result))


if __name__ == "__main__":
    if "--load-worker" in sys.argv:
        load_worker()
    else:
        asyncio.run(main())
