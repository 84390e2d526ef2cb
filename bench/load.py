"""Load benchmark: many Socket.IO connections across two server processes sharing PostgreSQL
and Redis, a mixed office workload, and what the servers hold and spend.

The benchmark starts its own PostgreSQL and Redis on loopback (in a temporary directory,
stopped at exit), seeds organizations with floors of rooms and members with live sessions,
starts two ``python -m server serve`` processes (one pinned to each core) and a Node
socket.io-client load generator (bench/load_clients.mjs) that opens the connections, half on
each process, puts everyone in a room, then for a bounded time runs a mixed workload: presence
changes, room moves (``room:enter`` then ``chat:room``), position moves, and room chat (typing,
then ``chat:send`` with a ``client_id`` a second later). Every client event is sent with an
ack; messages that got no ack are sent again at the end with the same ``client_id``, as the
protocol asks of clients. People belong to organizations of ``--org-size`` (office deltas go
to a whole organization, so fan-out grows with its size), in rooms of 50 seats holding
``--per-room`` people on average at the start; each organization's half of its people is on
each process, so every delta and room message crosses Redis.

Prints connections held, client→server events acked per second and server→client events
received per second, ack round trip p50/p99 (all events and per event; an ack that never came
counts at its time-out, and so does a chat receipt the generator expected and never got), chat
send → other members' receipt p50/p99, errors by kind, server CPU per client action, chat
messages acked vs stored in the database (must be equal), server RSS per connection ((RSS of
both processes - their idle RSS) / connections) and the CPU of each process (servers, load
generator, PostgreSQL, Redis).

    python bench/load.py [--quick] [--soak] [--clients 5000] [--seconds 60] [--rate 0.05]
                         [--org-size 100] [--per-room 20]

``--quick``: 500 connections, 20 s (under a minute). ``--soak``: a 10-minute workload phase,
RSS sampled every 30 s; memory growth after a 2-minute warm-up in MB and %/minute.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SECRET, cpu_seconds, free_port, pinned, rss_mb, server_env

BENCH = Path(__file__).resolve().parent
ROOM_CAPACITY = 50
ROOMS_PER_FLOOR = 100  # a 10 x 10 grid of 100 x 100 rooms on a 1000 x 1000 floor
MIX = {"position": 40, "presence": 15, "move": 15, "chat": 30}  # chat = typing + send
SOAK_SECONDS, SOAK_EVERY, SOAK_WARMUP = 600.0, 30.0, 120.0


def raise_fd_limit() -> int:
    """Soft open-file limit up to the hard one; children (servers, Node) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Services:
    """A throwaway PostgreSQL and Redis on loopback, as .ci/services.sh starts them."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "services"
        self.dir.mkdir()
        self.dir.chmod(0o755)
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not bins or not shutil.which("redis-server"):
            raise RuntimeError("needs PostgreSQL (/usr/lib/postgresql/*/bin) and redis-server")
        self.pg_bin = bins[-1]
        self.pg_port, self.redis_port = free_port(), free_port()
        self.pg_started = False
        self.redis: subprocess.Popen[bytes] | None = None

    def _as_postgres(self, *command: str) -> None:
        if os.getuid() == 0:
            command = ("su", "postgres", "-s", "/bin/sh", "-c", " ".join(map(_quote, command)))
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        pg = self.dir / "pg"
        pg.mkdir()
        if os.getuid() == 0:
            shutil.chown(pg, "postgres")
        self._as_postgres(
            str(self.pg_bin / "initdb"), "-A", "trust", "-U", "postgres", "-D", f"{pg}/data"
        )
        options = (
            f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {pg} -c fsync=off "
            "-c max_connections=200"
        )
        self.pg_started = True
        self._as_postgres(
            str(self.pg_bin / "pg_ctl"), "-w", "-D", f"{pg}/data", "-l", f"{pg}/server.log",
            "-o", options, "start",
        )  # fmt: skip
        self.redis = subprocess.Popen(
            [
                "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                "--logfile", str(self.dir / "redis.log"), "--maxclients", "1000",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            done = subprocess.run(
                ["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True, text=True
            )
            if done.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("redis did not come up")

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def postgres_pids(self) -> list[int]:
        """The postmaster and its children (backends, writer, ...), for their CPU time."""
        try:
            master = int((self.dir / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [master, *children(master)]

    def stop(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()
        if self.pg_started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._as_postgres(
                    str(self.pg_bin / "pg_ctl"), "-D", f"{self.dir}/pg/data", "-m", "fast", "stop"
                )


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def total_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def machine_times() -> tuple[float, float, float]:
    """(busy, steal, total) jiffies of the whole machine from /proc/stat."""
    v = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return float(user + nice + system + irq + softirq), float(steal), float(sum(v))


def layout(people: int, org_size: int, per_room: int) -> list[tuple[int, int, int]]:
    """Organizations as (people, floors, rooms): rooms of ``ROOM_CAPACITY`` holding
    ``per_room`` people on average at the start, ``ROOMS_PER_FLOOR`` rooms to a floor."""
    orgs = []
    left = people
    while left > 0:
        size = min(org_size, left)
        rooms = max(2, math.ceil(size / per_room))
        orgs.append((size, math.ceil(rooms / ROOMS_PER_FLOOR), rooms))
        left -= size
    return orgs


async def seed(env: dict[str, str], orgs: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """Organizations, floors of rooms, and members with live sessions, written directly (the
    benchmark measures the office, not sign-in: one password hash is computed once and
    shared). Returns per organization its rooms and its members' user ids and tokens."""
    from sqlalchemy import select

    from rooms.layout import FloorPlan, Rect, RoomKind, RoomPlan
    from server.db.engine import create_engine, session_factory
    from server.db.migrate import upgrade
    from server.db.models import AuthSession, Room
    from server.infra.settings import Settings
    from server.office.floorplans import add_floor
    from server.people import accounts
    from server.people.identity import Role
    from server.people.passwords import hash_password
    from server.people.tokens import keyed_hash, new_token

    engine = create_engine(Settings.from_env(env))
    now = datetime.now(UTC)
    password_hash = await hash_password("bench-password-not-secret")
    result = []
    serial = 0
    try:
        await upgrade(engine)
        for o, (people, floors, room_count) in enumerate(orgs):
            async with session_factory(engine)() as session:
                org = await accounts.create_organization(session, f"Load {o}", f"load-{o}", now=now)
                names = []
                for f in range(floors):
                    plans = []
                    for r in range(min(ROOMS_PER_FLOOR, room_count - f * ROOMS_PER_FLOOR)):
                        name = f"Room {f + 1}.{r + 1}"
                        rect = Rect((r % 10) * 100, (r // 10) * 100, 100, 100)
                        plans.append(RoomPlan(name, RoomKind.TEAM_ROOM, rect, ROOM_CAPACITY))
                        names.append(name)
                    await add_floor(
                        session,
                        org.id,
                        FloorPlan(f"Floor {f + 1}", 1000, 1000, tuple(plans)),
                        f + 1,
                    )
                members = []
                for _ in range(people):
                    user = await accounts.create_user(
                        session,
                        org.id,
                        email=f"u{serial}@load.example",
                        display_name=f"User {serial}",
                        password_hash=password_hash,
                        now=now,
                    )
                    serial += 1
                    await accounts.grant(session, user, Role.MEMBER)
                    token = new_token()
                    session.add(
                        AuthSession(
                            token_hash=keyed_hash(SECRET, f"session:{token}"),
                            user_id=user.id,
                            csrf_token=new_token(),
                            created_at=now,
                            expires_at=now + timedelta(days=1),
                        )
                    )
                    members.append({"user_id": user.id, "token": token})
                rows = await session.execute(
                    select(Room.name, Room.id, Room.x, Room.y, Room.w, Room.h).where(
                        Room.org_id == org.id, Room.name.in_(names)
                    )
                )
                rooms = [
                    {"id": rid, "rect": [x, y, w, h], "capacity": ROOM_CAPACITY}
                    for _, rid, x, y, w, h in sorted(rows.all(), key=lambda r: names.index(r[0]))
                ]
                await session.commit()
            result.append({"rooms": rooms, "members": members})
    finally:
        await engine.dispose()
    return result


async def count_messages(env: dict[str, str]) -> tuple[int, int]:
    """Chat messages stored, and distinct (sender, client_id) among them."""
    from sqlalchemy import func, select, tuple_

    from server.content.messages import Message
    from server.db.engine import create_engine, session_factory
    from server.infra.settings import Settings

    engine = create_engine(Settings.from_env(env))
    try:
        async with session_factory(engine)() as session:
            stored = await session.scalar(select(func.count()).select_from(Message))
            distinct = await session.scalar(
                select(func.count(func.distinct(tuple_(Message.sender_id, Message.client_id))))
            )
    finally:
        await engine.dispose()
    return int(stored or 0), int(distinct or 0)


async def wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode} before it came up")
            try:
                async with http.get(url + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def log_events(paths: list[Path]) -> dict[str, int]:
    """Warnings and errors the servers logged (JSON lines), counted by event and exception."""
    counts: dict[str, int] = {}
    for path in paths:
        with contextlib.suppress(OSError), path.open(errors="replace") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and "event" in entry:
                    key = entry["event"] + (
                        f" ({entry['exception']})" if "exception" in entry else ""
                    )
                    counts[key] = counts.get(key, 0) + 1
    return counts


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM/SIGHUP raise SystemExit, so every ``finally`` stops what it started."""

    def handler(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    services = Services(tmp)
    servers: list[subprocess.Popen[bytes]] = []
    loader: asyncio.subprocess.Process | None = None
    try:
        services.start()
        settings = {
            "database_url": services.database_url,
            "redis_url": services.redis_url,
            "redis_prefix": f"oh-load-{os.getpid()}",
            "log_format": "json",
        }
        ports = [free_port(), free_port()]
        envs = [server_env(tmp / f"var{i}", port, **settings) for i, port in enumerate(ports)]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        orgs = layout(args.clients, args.org_size, args.per_room)
        t0 = time.monotonic()
        seeded = await seed(envs[0], orgs)
        seed_s = time.monotonic() - t0
        for i, env in enumerate(envs):
            with (tmp / f"server{i}.log").open("wb") as log:
                servers.append(
                    subprocess.Popen(
                        [*pinned(i), sys.executable, "-m", "server", "serve"],
                        env=env,
                        cwd=ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        for url, server in zip(urls, servers, strict=True):
            await wait_ready(url, server)
        await asyncio.sleep(2)
        idle_rss = [rss_mb(s.pid) for s in servers]

        clients = []
        for o, org in enumerate(seeded):
            rooms = org["rooms"]
            for k, member in enumerate(org["members"]):
                n = len(clients)
                clients.append(
                    {
                        "url": urls[n % 2],  # alternate: half on each process
                        "token": member["token"],
                        "user_id": member["user_id"],
                        "org": o,
                        "room_id": rooms[k % len(rooms)]["id"],
                    }
                )
        job = {
            "clients": clients,
            "orgs": [{"rooms": org["rooms"]} for org in seeded],
            "seconds": args.seconds,
            "rate": args.rate,
            "mix": MIX,
            "batch": args.batch,
        }
        loader = await asyncio.create_subprocess_exec(
            "node",
            "--max-old-space-size=4096",
            str(BENCH / "load_clients.mjs"),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 24,
        )
        assert loader.stdin is not None and loader.stdout is not None
        loader.stdin.write(json.dumps(job).encode())
        await loader.stdin.drain()
        loader.stdin.close()

        pids = {"server_a": servers[0].pid, "server_b": servers[1].pid, "load": loader.pid}
        ramp: dict[str, Any] = {}
        start: dict[str, Any] = {}
        end: dict[str, Any] = {}
        rss_samples: list[tuple[float, float]] = []
        sampler: asyncio.Task[None] | None = None

        async def sample() -> None:
            while True:
                await asyncio.sleep(args.sample_every)
                rss_samples.append(
                    (time.monotonic() - start["wall"], sum(rss_mb(s.pid) for s in servers))
                )
                print(
                    f"  t={rss_samples[-1][0]:5.0f} s  servers' RSS {rss_samples[-1][1]:7.1f} MB",
                    flush=True,
                )

        def cpu_now() -> dict[str, float]:
            now = {k: total_cpu([pid]) for k, pid in pids.items()}
            now["postgres"] = total_cpu(services.postgres_pids())
            assert services.redis is not None
            now["redis"] = total_cpu([services.redis.pid])
            return now

        lines: list[str] = []
        run_log: dict[str, int] = {}
        async with asyncio.timeout(args.seconds + 900):
            while raw := await loader.stdout.readline():
                line = raw.decode().strip()
                if line.startswith("ramp:done"):
                    ramp = json.loads(line.split(" ", 1)[1])
                    ramp["rss"] = [rss_mb(s.pid) for s in servers]
                    print(
                        f"ramp: {ramp['connected']}/{len(clients)} connected in "
                        f"{ramp['ramp_s']:.1f} s; servers' RSS {sum(ramp['rss']):.0f} MB "
                        f"(idle {sum(idle_rss):.0f} MB)",
                        flush=True,
                    )
                elif line == "phase:start":
                    start = {"wall": time.monotonic(), "cpu": cpu_now(), "machine": machine_times()}
                    sampler = asyncio.create_task(sample())
                elif line == "phase:end" and start:
                    if sampler is not None:
                        sampler.cancel()
                    wall = time.monotonic() - start["wall"]
                    cpu = cpu_now()
                    busy, steal, total = (
                        b - a for a, b in zip(start["machine"], machine_times(), strict=True)
                    )
                    end = {
                        "wall": wall,
                        "rss": [rss_mb(s.pid) for s in servers],
                        "cpu_pct": {
                            k: round((cpu[k] - start["cpu"][k]) / wall * 100, 1) for k in cpu
                        },
                        "machine_busy_pct": round(busy / max(total, 1) * 100, 1),
                        "machine_steal_pct": round(steal / max(total, 1) * 100, 1),
                        "servers_alive": all(s.poll() is None for s in servers),
                    }
                elif line == "teardown":
                    run_log = log_events([tmp / f"server{i}.log" for i in range(2)])
                elif line:
                    lines.append(line)
        await loader.wait()
        if not lines:
            raise RuntimeError(f"load generator exited with {loader.returncode} and no result")
        result: dict[str, Any] = json.loads(lines[-1])
        if "fatal" in result:
            raise RuntimeError(f"load generator: {result['fatal']}")
        if not end:
            raise RuntimeError("the load generator never reported its workload phase")
        stored, distinct = await count_messages(envs[0])
        result.update(
            seed_s=seed_s,
            orgs=len(orgs),
            rooms=sum(r for _, _, r in orgs),
            idle_rss=idle_rss,
            ramp_rss=ramp["rss"],
            end=end,
            rss_samples=rss_samples,
            chat_stored=stored,
            chat_stored_distinct=distinct,
        )
        for server in servers:  # the servers' own shutdown is not part of the measurement
            stop(server)
        all_log = log_events([tmp / f"server{i}.log" for i in range(2)])
        result["server_log_events"] = run_log
        result["teardown_log_events"] = {
            k: v - run_log.get(k, 0) for k, v in all_log.items() if v > run_log.get(k, 0)
        }
        if result["errors"] or not end["servers_alive"]:
            for i in range(2):
                print(f"--- last lines of server {i}'s stderr:\n{tail(tmp / f'server{i}.log', 8)}")
            print("--- error samples:\n" + "\n".join(map(json.dumps, result["error_samples"])))
        return result
    finally:
        if loader is not None and loader.returncode is None:
            loader.kill()
            await loader.wait()
        for server in servers:
            stop(server)
        services.stop()
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            for i in range(2):
                with contextlib.suppress(OSError):
                    shutil.copy(tmp / f"server{i}.log", args.logs / f"server{i}.log")


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


def growth(samples: list[tuple[float, float]], warmup: float) -> tuple[float, float]:
    """Memory growth after warm-up: MB from the first to the last sample, and the
    least-squares slope as % of the first sample per minute."""
    after = [(t, m) for t, m in samples if t >= warmup]
    if len(after) < 2:
        return 0.0, 0.0
    n = len(after)
    mt = sum(t for t, _ in after) / n
    mm = sum(m for _, m in after) / n
    slope = sum((t - mt) * (m - mm) for t, m in after) / max(
        sum((t - mt) ** 2 for t, _ in after), 1e-9
    )
    return after[-1][1] - after[0][1], slope * 60 / after[0][1] * 100


def report(args: argparse.Namespace, fd_limit: int, r: dict[str, Any]) -> dict[str, Any]:
    end = r["end"]
    held = r["connected_at_end"]
    idle, ramp_rss, end_rss = sum(r["idle_rss"]), sum(r["ramp_rss"]), sum(end["rss"])
    per_conn = (end_rss - idle) * 1024 / max(held, 1)
    per_conn_ramp = (ramp_rss - idle) * 1024 / max(r["connected"], 1)
    events = r["acked_per_s"] + r["received_per_s"]
    print(
        f"{r['attempted']} connections attempted over 2 server processes ({r['orgs']} "
        f"organizations of up to {args.org_size}, {r['rooms']} rooms of {ROOM_CAPACITY}); fd "
        f"limit {fd_limit}; seeded in {r['seed_s']:.0f} s; {args.rate:g} actions/s per "
        f"connection for {r['seconds']:.0f} s, mix {MIX}"
    )
    print(
        f"connections held: {held}/{r['attempted']} at the end (ramp: {r['connected']} in "
        f"{r['ramp_s']:.1f} s)"
    )
    print(
        f"events/s: {r['acked_per_s']:,.0f} client→server acked, {r['received_per_s']:,.0f} "
        f"server→client received ({r['acked']:,} / {r['received']:,}; "
        f"{', '.join(f'{k} {v:,}' for k, v in sorted(r['received_by_event'].items()))})"
    )
    ack, chat = r["ack"], r["chat_delivery"]
    print(
        f"ack round trip: p50 {ack['p50_ms'] or 0:.1f} ms, p99 {ack['p99_ms'] or 0:.1f} ms, max "
        f"{ack['max_ms'] or 0:.0f} ms"
    )
    for event, s in sorted(r["ack_by_event"].items()):
        print(
            f"  {event:<15} {s['n'] - s['timeouts']:>8,} acked of {s['sent']:>8,} "
            f"({s['timeouts']:,} unanswered)  p50 {s['p50_ms']:7.1f}  "
            f"p99 {s['p99_ms']:7.1f}  max {s['max_ms']:7.0f} ms"
        )
    print(
        f"chat send → other members' receipt: p50 {chat['p50_ms'] or 0:.1f} ms, p99 "
        f"{chat['p99_ms'] or 0:.1f} ms; {r['chat_delivered']:,} receipts of "
        f"{r['chat_expected']:,} expected by the generator's room map"
    )
    print(
        f"chat messages acked {r['chat_acked']:,} ({r['chat_resent_acked']:,} of them on a resend "
        f"of {r['chat_resent']:,} unacknowledged, same client_id), stored {r['chat_stored']:,} "
        f"({r['chat_stored_distinct']:,} distinct client ids): "
        + ("equal" if r["chat_acked"] == r["chat_stored"] else "NOT EQUAL")
    )
    print(
        f"unanswered acks: {r['ack_timeouts']:,} (each counted in the percentiles above at the "
        f"{r['ack_timeout_ms'] / 1000:.0f} s time-out); chat receipts missing: "
        f"{r['chat_missing']:,} (counted likewise)"
    )
    print(f"errors: {r['errors']} {r['error_kinds']}")
    print(f"server log warnings/errors during the run: {r['server_log_events']}")
    print(
        "... when every connection closed at once at the end: "
        f"{r['teardown_log_events']} (each disconnect updates presence in Redis)"
    )
    print(
        f"server RSS: idle {idle:.0f} MB, after ramp {ramp_rss:.0f} MB, at the end {end_rss:.0f} "
        f"MB (both processes) → {per_conn:.1f} KB per connection at the end, "
        f"{per_conn_ramp:.1f} KB after ramp"
    )
    cpu = end["cpu_pct"]
    # Server CPU per client action, deliveries included (they are what the action costs).
    actions = max(r["acked"] + r["ack_timeouts"], 1)
    phase_ms = end["wall"] * 1000
    server_ms = (cpu["server_a"] + cpu["server_b"]) / 100 * phase_ms / actions
    services_ms = (cpu["postgres"] + cpu["redis"]) / 100 * phase_ms / actions
    print(
        f"CPU per client action: {server_ms:.2f} ms in the servers, {services_ms:.2f} ms in "
        "PostgreSQL + Redis"
    )
    print(
        "CPU (% of one core over the workload phase): "
        + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        + f"; machine busy {end['machine_busy_pct']:.0f} %, steal {end['machine_steal_pct']:.1f} %"
    )
    out: dict[str, Any] = {
        "connections": held,
        "attempted": r["attempted"],
        "ramp_s": round(r["ramp_s"], 1),
        "events_per_s": round(events, 1),
        "acked_per_s": round(r["acked_per_s"], 1),
        "received_per_s": round(r["received_per_s"], 1),
        "p50_ms": round(ack["p50_ms"] or 0, 1),
        "p99_ms": round(ack["p99_ms"] or 0, 1),
        "chat_p50_ms": round(chat["p50_ms"] or 0, 1),
        "chat_p99_ms": round(chat["p99_ms"] or 0, 1),
        "errors": r["errors"],
        "ack_timeouts": r["ack_timeouts"],
        "chat_missing": r["chat_missing"],
        "cpu_ms_per_action": round(server_ms, 3),
        "services_cpu_ms_per_action": round(services_ms, 3),
        "error_kinds": r["error_kinds"],
        "server_log_events": r["server_log_events"],
        "teardown_log_events": r["teardown_log_events"],
        "chat_acked": r["chat_acked"],
        "chat_stored": r["chat_stored"],
        "chat_resent": r["chat_resent"],
        "rss_kb_per_connection": round(per_conn, 1),
        "rss_mb": [round(m, 1) for m in end["rss"]],
        "cpu_pct": cpu,
        "steal_pct": end["machine_steal_pct"],
        "seconds": round(r["seconds"], 1),
        "rate": args.rate,
    }
    if args.soak:
        warmup = min(SOAK_WARMUP, args.seconds / 4)  # shorter for a shortened soak
        mb, pct = growth(r["rss_samples"], warmup)
        print(
            f"soak: servers' RSS after {warmup:.0f} s warm-up grew {mb:+.1f} MB "
            f"({pct:+.3f} %/minute, least squares over {len(r['rss_samples'])} samples)"
        )
        out |= {
            "soak_growth_mb": round(mb, 1),
            "soak_growth_pct_per_min": round(pct, 3),
            "soak_warmup_s": warmup,
            "rss_samples": [[round(t), round(m, 1)] for t, m in r["rss_samples"]],
        }
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="500 connections, 20 s")
    parser.add_argument("--soak", action="store_true", help="10 minutes, RSS every 30 s")
    parser.add_argument("--clients", type=int, default=None, help="default 5000")
    parser.add_argument("--seconds", type=float, default=None, help="workload, default 60")
    parser.add_argument(
        "--rate", type=float, default=0.05, help="actions per second per connection"
    )
    parser.add_argument("--org-size", type=int, default=100, help="people per organization")
    parser.add_argument("--per-room", type=int, default=20, help="people per room at the start")
    parser.add_argument("--batch", type=int, default=100, help="connections opened at once")
    parser.add_argument("--logs", type=Path, default=None, help="copy the servers' logs here")
    args = parser.parse_args()
    args.clients = args.clients or (500 if args.quick else 5000)
    args.seconds = args.seconds or (SOAK_SECONDS if args.soak else 20.0 if args.quick else 60.0)
    args.sample_every = SOAK_EVERY if args.soak else 10.0
    if not 2 <= args.clients <= 10000:
        parser.error("--clients must be between 2 and 10000")
    if not 0 < args.seconds <= 900:
        parser.error("--seconds must be in (0, 900]")
    if not 0 < args.rate <= 10 or args.org_size < 2 or not 1 <= args.per_room <= 40:
        parser.error("--rate in (0, 10], --org-size >= 2, --per-room in [1, 40]")
    if not 1 <= args.batch <= 1000:
        parser.error("--batch must be in [1, 1000]")
    fd_limit = raise_fd_limit()
    if fd_limit < args.clients + 1000:
        print(f"warning: open-file limit {fd_limit} is low for {args.clients} connections")
    with terminate_as_exit(), tempfile.TemporaryDirectory(prefix="oh-bench-load-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 -- PostgreSQL runs as the postgres user under root
        source = source_state()
        result = await run(args, Path(tmp))
    print(
        f"server code {source['commit']}"
        + (f" + uncommitted {', '.join(source['uncommitted'])}" if source["uncommitted"] else "")
    )
    print(json.dumps(report(args, fd_limit, result) | source))


if __name__ == "__main__":
    asyncio.run(main())
