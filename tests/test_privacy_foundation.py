"""The first privacy guarantees: analytics holds no text, logs hold no secrets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Enum, String, Text, select

from server.analytics.metrics import Metric
from server.analytics.record import Subject, record
from server.analytics.tables import AnalyticsEvent
from server.http.keys import DB
from server.infra.log import JsonFormatter, configure
from tests.conftest import PASSWORD, Office, session_cookie, sign_in


def test_analytics_tables_have_no_free_text_column() -> None:
    """Every analytics table (all of them, not just the raw stream): a string column must be
    an enum; nothing else that could carry text (JSON, bytes) exists at all."""
    from sqlalchemy import JSON, LargeBinary

    from server.db.schema import metadata

    tables = [t for name, t in metadata.tables.items() if name.startswith("analytics_")]
    assert AnalyticsEvent.__table__ in tables and len(tables) >= 7
    for table in tables:
        for column in table.columns:
            where = f"{table.name}.{column.name}"
            if isinstance(column.type, String | Text):
                assert isinstance(column.type, Enum), f"{where} could hold free text"
            assert not isinstance(column.type, JSON | LargeBinary), f"{where} could hold text"


async def test_record_refuses_anything_but_enums_and_numbers(
    client: TestClient[Any, Any], office: Office, clock: Any
) -> None:
    async with client.app[DB]() as session:
        with pytest.raises(TypeError):
            await record(session, "signed_in", Subject(office.org.id), at=clock.now())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="non-negative"):
            await record(
                session,
                Metric.SIGNED_IN,
                Subject(office.org.id),
                at=clock.now(),
                seconds=float("nan"),
            )


async def test_sign_in_and_connection_are_recorded_without_identity(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    await sign_in(client, "alice@acme.example")
    rt = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    await rt.close()
    rows: list[AnalyticsEvent] = []
    async with asyncio.timeout(5):  # the disconnect is recorded after the socket closes
        while len(rows) < 3:
            await asyncio.sleep(0.02)
            async with client.app[DB]() as session:
                rows = list(
                    (
                        await session.scalars(
                            select(AnalyticsEvent).where(
                                AnalyticsEvent.metric != Metric.ACCOUNT_CREATED
                            )
                        )
                    ).all()
                )
    assert sorted(r.metric.value for r in rows) == [
        "realtime_connected",
        "realtime_seconds",
        "signed_in",
    ]
    for row in rows:
        assert row.person == office.alice.analytics_id  # pseudonym, not the user id
        assert row.group_id == office.group_ids[0]
        assert row.org_id == office.org.id


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
async def test_logs_carry_no_passwords_emails_or_tokens(
    client: TestClient[Any, Any], office: Office, caplog: pytest.LogCaptureFixture
) -> None:
    configure("json", "DEBUG")  # the operator's most verbose setting
    logging.getLogger().addHandler(caplog.handler)
    await client.post(
        "/api/auth/sign-in", json={"email": "alice@acme.example", "password": "wrong-password-x"}
    )
    csrf = await sign_in(client, "alice@acme.example")
    cookie = session_cookie(client).split("=", 1)[1]
    await client.post("/api/auth/sign-out", headers={"X-CSRF-Token": csrf})
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "auth.signed_in" in text and "auth.sign_in_failed" in text
    for secret in (PASSWORD, "wrong-password-x", "alice@acme.example", cookie, csrf):
        assert secret not in text


async def test_every_metric_channel_and_room_kind_can_be_stored(
    client: TestClient[Any, Any], office: Office, clock: Any
) -> None:
    """A new enum member must not need a migration, nor be refused by the database."""
    from rooms.layout import RoomKind
    from server.analytics.metrics import Channel

    async with client.app[DB]() as session:
        for metric in Metric:
            await record(session, metric, Subject(office.org.id), at=clock.now())
        for channel in Channel:
            await record(
                session,
                Metric.MESSAGE_SENT,
                Subject(office.org.id),
                at=clock.now(),
                channel=channel,
            )
        for kind in RoomKind:
            await record(
                session,
                Metric.ROOM_SECONDS,
                Subject(office.org.id),
                at=clock.now(),
                room_kind=kind,
                seconds=1.5,
            )
        await session.commit()
    async with client.app[DB]() as session:
        stored = (
            await session.scalars(
                select(AnalyticsEvent).where(AnalyticsEvent.org_id == office.org.id)
            )
        ).all()
    # Read back as written: every metric, channel and room kind comes back as itself.
    assert {e.metric for e in stored} >= set(Metric)
    assert {e.channel for e in stored if e.channel is not None} == set(Channel)
    kinds = {e.room_kind for e in stored if e.metric is Metric.ROOM_SECONDS and e.room_kind}
    assert kinds == set(RoomKind)
    assert {e.seconds for e in stored if e.room_kind is not None} == {1.5}
