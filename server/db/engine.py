"""Opening the database: one async engine per process, tuned per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.infra.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.uses_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def create_analytics_engine(settings: Settings) -> AsyncEngine | None:
    """The dashboards' own connection (a SELECT-only role), when one is configured."""
    if settings.analytics_database_url is None:
        return None
    return create_async_engine(
        settings.analytics_database_url, pool_size=5, max_overflow=5, pool_pre_ping=True
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL for concurrent readers, FULL sync so an acknowledged write survives a crash."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Where a session carries the audit chain's keys (``server.audit.log`` reads them).
AUDIT_KEYS = "officehours.audit_keys"


def session_factory(
    engine: AsyncEngine, *, audit_keys: tuple[bytes, ...] = ()
) -> async_sessionmaker[AsyncSession]:
    """Sessions that write the audit log need its keys (``Settings.audit_chain_keys``)."""
    return async_sessionmaker(engine, expire_on_commit=False, info={AUDIT_KEYS: audit_keys})
