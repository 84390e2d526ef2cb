"""What may reach a person whose office tab is in the background: which kinds of event show a
desktop notification, and whether a short sound plays. Stored per person on the server so
every browser they sign in from follows the same choice; a person who never changed it has no
row and gets the defaults (everything on)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, delete, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import UTCDateTime
from server.infra.clock import Clock
from server.infra.errors import forbidden
from server.people.identity import Principal


def _on() -> Mapped[bool]:
    return mapped_column(Boolean, default=True, server_default=true())


class NotificationSettingsRow(Base):
    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    knocks: Mapped[bool] = _on()
    direct_messages: Mapped[bool] = _on()
    mentions: Mapped[bool] = _on()
    guests_waiting: Mapped[bool] = _on()
    mentoring_sessions: Mapped[bool] = _on()
    sound: Mapped[bool] = _on()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Preferences:
    """One person's choice; the field names are the wire names (GET/PUT /api/me/notifications)."""

    knocks: bool = True
    direct_messages: bool = True
    mentions: bool = True
    guests_waiting: bool = True
    mentoring_sessions: bool = True
    sound: bool = True

    def __post_init__(self) -> None:
        for field in fields(self):
            if not isinstance(getattr(self, field.name), bool):
                raise TypeError(f"{field.name} must be true or false")

    @classmethod
    def of(cls, row: NotificationSettingsRow | None) -> Preferences:
        if row is None:
            return cls()
        return cls(**{field.name: getattr(row, field.name) for field in fields(cls)})

    def as_json(self) -> dict[str, bool]:
        return asdict(self)


FIELDS = tuple(field.name for field in fields(Preferences))


def _account(principal: Principal) -> None:
    if principal.is_guest:
        raise forbidden("guests have no account, so no settings")


async def held(session: AsyncSession, user_id: int) -> NotificationSettingsRow | None:
    """The stored row (None: the person kept the defaults)."""
    return await session.get(NotificationSettingsRow, user_id)


async def forget(session: AsyncSession, user_id: int) -> int:
    """Remove the person's settings (erasure); returns how many rows went."""
    result = await session.execute(
        delete(NotificationSettingsRow).where(NotificationSettingsRow.user_id == user_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class NotificationSettings:
    """Read and replace the signed-in person's own settings (never anyone else's)."""

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, principal: Principal) -> dict[str, Any]:
        _account(principal)
        async with self._db() as session:
            return Preferences.of(await held(session, principal.user_id)).as_json()

    async def replace(self, principal: Principal, chosen: Preferences) -> dict[str, Any]:
        _account(principal)
        values = {**chosen.as_json(), "updated_at": self._clock.now()}
        async with self._db() as session:
            row = await held(session, principal.user_id)
            if row is None:
                session.add(NotificationSettingsRow(user_id=principal.user_id, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            try:
                await session.commit()
            except IntegrityError:  # the same person's other tab created the row just now
                await session.rollback()
                row = await held(session, principal.user_id)
                assert row is not None
                for name, value in values.items():
                    setattr(row, name, value)
                await session.commit()
        return chosen.as_json()
