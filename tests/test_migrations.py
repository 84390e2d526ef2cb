"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from server.db.engine import create_engine
from server.db.migrate import current_revision, upgrade
from server.db.schema import metadata
from server.infra.settings import Settings
from tests.conftest import empty_database, sqlite_only


@empty_database
async def test_migrated_schema_matches_the_models(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        await upgrade(engine)  # idempotent: a second run has nothing to do

        def diff(connection: Connection) -> list[Any]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
        assert await current_revision(engine) is not None
    finally:
        await engine.dispose()


@sqlite_only
async def test_sqlite_is_durable_and_concurrent(settings: Settings) -> None:
    assert settings.uses_sqlite
    from sqlalchemy import text

    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()


@empty_database
async def test_person_weeks_are_filled_from_existing_person_days(settings: Settings) -> None:
    """An office upgrading to 0008 keeps its weekly history: each person's days of a week
    become one row with the bits OR-ed and the counts summed."""
    import uuid
    from datetime import UTC, date, datetime

    from sqlalchemy import select

    from server.analytics.tables import PersonDay, PersonWeek

    engine = create_engine(settings)
    ada, bob = uuid.uuid4(), uuid.uuid4()
    monday = date(2026, 1, 5)
    days = [  # (day, person, group, contributions, events, messages, meetings, last hour)
        (monday, ada, 7, 0b001, 2, 1, 0, 9),
        (date(2026, 1, 9), ada, 7, 0b100, 3, 0, 1, 17),  # the Friday of the same week
        (date(2026, 1, 12), ada, 7, 0b010, 1, 4, 0, 10),  # the next week
        (monday, bob, 8, 0b001, 5, 2, 2, 11),
    ]
    try:
        await upgrade(engine, "0007")
        async with engine.begin() as connection:
            await connection.execute(
                PersonDay.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "day": day,
                        "org_id": 1,
                        "unit_id": None if person == ada and day == monday else 70,
                        "group_id": group,
                        "person": person,
                        "contributions": bits,
                        "events": events,
                        "messages": messages,
                        "meetings": meetings,
                        "last_at": datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
                    }
                    for day, person, group, bits, events, messages, meetings, hour in days
                ],
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(PersonWeek.__table__))).mappings().all()
        weeks = {(r["person"], r["week"]): r for r in rows}
        assert len(weeks) == 3
        first = weeks[(ada, monday)]
        assert (first["contributions"], first["events"], first["messages"]) == (0b101, 5, 1)
        assert (first["meetings"], first["unit_id"], first["group_id"]) == (1, 70, 7)
        assert first["last_at"].replace(tzinfo=UTC) == datetime(2026, 1, 9, 17, tzinfo=UTC)
        assert weeks[(ada, date(2026, 1, 12))]["messages"] == 4
        assert weeks[(bob, monday)]["events"] == 5
    finally:
        await engine.dispose()
