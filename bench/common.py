"""Shared by the benchmarks: a seeded office on a fresh database, processes pinned to cores,
and their CPU and memory read from /proc."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "b" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(core: int) -> list[str]:
    """Prefix a command with taskset, so server and load generator do not share a core."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") else []


def server_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFICEHOURS_")}
    env.update(
        OFFICEHOURS_DATA_DIR=str(data_dir),
        OFFICEHOURS_PORT=str(port),
        OFFICEHOURS_BASE_URL=f"http://127.0.0.1:{port}",
        OFFICEHOURS_SECRET_KEY=SECRET,
        OFFICEHOURS_LOG_LEVEL="WARNING",
    )
    env.update({f"OFFICEHOURS_{k.upper()}": v for k, v in settings.items()})
    return env


async def seed_office(
    env: dict[str, str], people: int, rooms: list[tuple[str, int, int, int, int, int]]
) -> tuple[list[str], list[int], list[int]]:
    """An organization with one floor of ``rooms`` (name, x, y, w, h, capacity) and
    ``people`` members with live sessions, created directly (the benchmarks measure the
    office, not sign-in: one password hash is computed once and shared). Returns session
    tokens, room ids and user ids in order."""
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
    tokens: list[str] = []
    user_ids: list[int] = []
    password_hash = await hash_password("bench-password-not-secret")
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            org = await accounts.create_organization(session, "Bench", "bench", now=now)
            plan = FloorPlan(
                "Bench floor",
                1000,
                1000,
                tuple(
                    RoomPlan(name, RoomKind.TOWN_HALL, Rect(x, y, w, h), capacity)
                    for name, x, y, w, h, capacity in rooms
                ),
            )
            await add_floor(session, org.id, plan, position=1)
            for i in range(people):
                user = await accounts.create_user(
                    session,
                    org.id,
                    email=f"u{i}@bench.example",
                    display_name=f"User {i}",
                    password_hash=password_hash,
                    now=now,
                )
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
                tokens.append(token)
                user_ids.append(user.id)
            names = [r[0] for r in rooms]
            by_name = {
                n: i
                for n, i in (
                    await session.execute(
                        select(Room.name, Room.id).where(
                            Room.org_id == org.id, Room.name.in_(names)
                        )
                    )
                ).all()
            }
            await session.commit()
    finally:
        await engine.dispose()
    return tokens, [by_name[n] for n in names], user_ids


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
