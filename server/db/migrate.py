"""Apply Alembic migrations from inside the running event loop.

Alembic's commands are synchronous; sharing one async connection with them (the pattern
Alembic documents for asyncio) lets ``serve`` and the tests migrate without a second loop.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    return config


async def upgrade(
    engine: AsyncEngine, revision: str = "head", *, audit_keys: tuple[bytes, ...] = ()
) -> None:
    """``audit_keys``: the audit chain's keys, for the revision that re-chains existing
    entries under the key (it refuses to run without them when there are entries)."""
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        config.attributes["audit_keys"] = audit_keys
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes may start at once; one migrates, the others wait and find
            # nothing left to do.
            await connection.execute(text("SELECT pg_advisory_xact_lock(7461636865)"))
        await connection.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)
