"""Small helpers for tests that start real processes."""

from __future__ import annotations

import os
import socket
from typing import Any


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(
    data_dir: Any,
    port: int,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    **settings: str,
) -> dict[str, str]:
    """The environment of a server process under test: this one's, with no OFFICEHOURS_*
    leaking in, plus the given settings (``secret_key="..."`` → OFFICEHOURS_SECRET_KEY)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFICEHOURS_")}
    env.update(OFFICEHOURS_DATA_DIR=str(data_dir), OFFICEHOURS_PORT=str(port))
    if database_url:
        env["OFFICEHOURS_DATABASE_URL"] = database_url
    if redis_url:
        env["OFFICEHOURS_REDIS_URL"] = redis_url
    env.update({f"OFFICEHOURS_{k.upper()}": v for k, v in settings.items()})
    return env


async def seed_office(
    settings: Any, names: tuple[str, ...], slug: str = "twin"
) -> tuple[dict[str, int], dict[str, int]]:
    """Migrate the database of ``settings`` and create an organization with these people
    (``<name>@<slug>.example``, password ``tests.conftest.PASSWORD``). Returns user ids by
    name and room ids by room name."""
    from sqlalchemy import select

    from server.db.engine import create_engine, session_factory
    from server.db.migrate import upgrade
    from server.db.models import Room
    from server.infra.clock import SystemClock
    from server.people import accounts
    from server.people.identity import Role
    from server.people.passwords import hash_password
    from tests.conftest import PASSWORD

    engine = create_engine(settings)
    try:
        await upgrade(engine)
        now = SystemClock().now()
        password_hash = await hash_password(PASSWORD)
        async with session_factory(engine)() as session:
            org = await accounts.create_organization(session, slug.title(), slug, now=now)
            ids = {}
            for name in names:
                user = await accounts.create_user(
                    session,
                    org.id,
                    email=f"{name}@{slug}.example",
                    display_name=name.title(),
                    password_hash=password_hash,
                    now=now,
                )
                await accounts.grant(session, user, Role.MEMBER)
                ids[name] = user.id
            rooms = {
                name: room_id
                for name, room_id in (
                    await session.execute(select(Room.name, Room.id).where(Room.org_id == org.id))
                ).all()
            }
            await session.commit()
    finally:
        await engine.dispose()
    return ids, rooms
