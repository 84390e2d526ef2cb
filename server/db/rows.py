"""Row operations that differ by dialect, written once."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_if_missing(
    session: AsyncSession, model: type[Any], key: list[str], **values: Any
) -> None:
    """Insert a row unless one with the same ``key`` columns exists (a concurrent inserter
    wins quietly: no unique-constraint error, on SQLite and PostgreSQL alike)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=key))
