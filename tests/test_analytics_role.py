"""Defence in depth on PostgreSQL: the dashboards run as a role that can SELECT the analytics
rollups and nothing else (docs/operations.md, "A database role for the dashboards")."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from server.analytics.metrics import Channel, Metric
from server.analytics.publish import publish_due
from server.analytics.record import Subject, record
from server.analytics.rollup import fold_pending
from server.app import create_app
from server.db.engine import create_engine
from server.db.migrate import upgrade
from server.http.keys import ANALYTICS_DB, DB
from server.infra.clock import FakeClock
from server.people import accounts
from server.people.identity import Role
from server.people.passwords import hash_password
from tests.conftest import PASSWORD, Backend, fresh_postgres_database, make_settings, sign_in

# The statements docs/operations.md gives, with the role and database named per test.
GRANTS = """
GRANT CONNECT ON DATABASE "{database}" TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT ON analytics_rollups, analytics_person_days, analytics_person_weeks, analytics_pairs,
    analytics_lengths, analytics_groups, analytics_policies, analytics_published,
    analytics_published_periods TO {role};
"""


def with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


async def test_dashboards_work_as_a_role_that_cannot_read_messages(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], tmp_path: Path
) -> None:
    clock = FakeClock()
    role = f"oh_dash_{uuid.uuid4().hex[:10]}"
    secret = uuid.uuid4().hex
    async with fresh_postgres_database() as database_url:
        admin_dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        database = urlsplit(admin_dsn).path.lstrip("/")
        engine = create_engine(make_settings(tmp_path, Backend("postgres", database_url, None)))
        await upgrade(engine)
        await engine.dispose()
        owner = await asyncpg.connect(admin_dsn)
        try:
            await owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
            await owner.execute(GRANTS.format(database=database, role=role))
            settings = make_settings(
                tmp_path,
                Backend("postgres", database_url, None),
                analytics_database_url=with_user(database_url, role, secret),
            )
            client = await aiohttp_client(create_app(settings, clock))
            assert client.app[ANALYTICS_DB].kw["bind"].url.username == role
            async with client.app[DB]() as session:
                org = await accounts.create_organization(session, "Acme", "acme", now=clock.now())
                admin = await accounts.create_user(
                    session,
                    org.id,
                    email="admin@acme.example",
                    display_name="Ada",
                    password_hash=await hash_password(PASSWORD),
                    now=clock.now(),
                )
                await accounts.grant(session, admin, Role.ORG_ADMIN)
                for _ in range(6):
                    await record(
                        session,
                        Metric.MESSAGE_SENT,
                        Subject(org.id, 1, 1, uuid.uuid4()),
                        at=clock.now(),
                        channel=Channel.ROOM,
                    )
                await session.commit()
            day = clock.now().date().isoformat()
            clock.advance(86400)  # the day is over: the analytics job publishes it
            await fold_pending(client.app[DB], secret=settings.secret_key)
            await publish_due(client.app[DB], clock.now(), settings.analytics_min_group_size)
            await sign_in(client, "admin@acme.example")
            response = await client.get(
                f"/api/admin/dashboards/messages?scope=group:1&granularity=day&from={day}&to={day}"
            )
            assert response.status == 200, await response.text()
            assert (await response.json())["rows"][0]["total"]["value"] == 6

            dashboards = await asyncpg.connect(with_user(admin_dsn, role, secret))
            try:
                assert await dashboards.fetchval("SELECT count(*) FROM analytics_rollups") > 0
                for table in ("messages", "users", "analytics_events", "audit_entries"):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await dashboards.fetch(f"SELECT * FROM {table} LIMIT 1")  # noqa: S608
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await dashboards.execute("DELETE FROM analytics_rollups")
            finally:
                await dashboards.close()
            await client.close()
        finally:
            await owner.close()
    cleanup = await asyncpg.connect(fresh_postgres_database().admin)
    try:
        await cleanup.execute(f"DROP ROLE IF EXISTS {role}")
    finally:
        await cleanup.close()
