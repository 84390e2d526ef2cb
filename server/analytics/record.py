"""The write-only entry point of analytics.

``record`` takes an enum metric, ids and numbers. There is no parameter that could carry free
text, so a feature cannot send content into analytics even by mistake. It writes inside the
caller's transaction: an action that rolls back records nothing. Times are kept to the hour.

Events are written with a Core INSERT, not as ORM objects: the ORM needs each new row's
primary key back and, on SQLite, gets it one INSERT (and four driver round trips) at a time,
which made recording the most expensive part of ingestion (bench/analytics.py). Nothing
reads an event back by identity, so nothing is lost by not mapping them.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.layout import RoomKind
from server.analytics.metrics import Channel, Metric
from server.analytics.tables import AnalyticsEvent
from server.db.base import table_of

_EVENTS = table_of(AnalyticsEvent)


@dataclass(frozen=True)
class Subject:
    """Where an event belongs: organization, optional unit/group, pseudonymous person."""

    org_id: int
    unit_id: int | None = None
    group_id: int | None = None
    person: uuid.UUID | None = None


@dataclass(frozen=True)
class Event:
    """One event of the raw stream, checked when made. ``peer`` (time spent together) is the
    other person's pseudonym; it only ever becomes a keyed pair hash in the rollups."""

    metric: Metric
    subject: Subject
    at: datetime
    count: int = 1
    seconds: float = 0.0
    room_kind: RoomKind | None = None
    peer_group_id: int | None = None
    peer: uuid.UUID | None = None
    channel: Channel | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.metric, Metric):
            raise TypeError("metric must be a Metric")
        if self.room_kind is not None and not isinstance(self.room_kind, RoomKind):
            raise TypeError("room_kind must be a RoomKind")
        if self.channel is not None and not isinstance(self.channel, Channel):
            raise TypeError("channel must be a Channel")
        if self.peer is not None and not isinstance(self.peer, uuid.UUID):
            raise TypeError("peer must be a pseudonymous uuid")
        if self.subject.person is not None and not isinstance(self.subject.person, uuid.UUID):
            raise TypeError("person must be a pseudonymous uuid")
        if self.count < 0 or not math.isfinite(self.seconds) or self.seconds < 0:
            raise ValueError("count and seconds are non-negative numbers")

    def row(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "org_id": self.subject.org_id,
            "unit_id": self.subject.unit_id,
            "group_id": self.subject.group_id,
            "person": self.subject.person,
            "room_kind": self.room_kind,
            "peer_group_id": self.peer_group_id,
            "peer": self.peer,
            "channel": self.channel,
            "count": int(self.count),
            "seconds": float(self.seconds),
            # To the hour: dashboards need no finer, and an exact time would join an event
            # to the message or action it counts (and so a pseudonym to a person).
            "at": self.at.replace(minute=0, second=0, microsecond=0),
            "folded": False,
        }


async def record(
    session: AsyncSession,
    metric: Metric,
    subject: Subject,
    *,
    at: datetime,
    count: int = 1,
    seconds: float = 0.0,
    room_kind: RoomKind | None = None,
    peer_group_id: int | None = None,
    peer: uuid.UUID | None = None,
    channel: Channel | None = None,
) -> None:
    """Add one event to the raw stream."""
    await record_events(
        session,
        [Event(metric, subject, at, count, seconds, room_kind, peer_group_id, peer, channel)],
    )


async def record_events(session: AsyncSession, events: Iterable[Event]) -> None:
    """Add several events in one statement (a batch commit records its events this way)."""
    rows = [event.row() for event in events]
    if rows:
        await session.execute(insert(_EVENTS), rows)
