"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from server.db.engine import create_engine
from server.db.migrate import current_revision, upgrade
from server.db.schema import metadata
from server.settings import Settings


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


async def test_sqlite_is_durable_and_concurrent(settings: Settings) -> None:
    if not settings.uses_sqlite:
        return
    from sqlalchemy import text

    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()
