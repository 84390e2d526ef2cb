"""The write-only entry point of analytics.

``record`` takes an enum metric, ids and numbers. There is no parameter that could carry free
text, so a feature cannot send content into analytics even by mistake. It writes inside the
caller's transaction: an action that rolls back records nothing.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rooms.layout import RoomKind
from server.analytics.metrics import Channel, Metric
from server.analytics.tables import AnalyticsEvent


@dataclass(frozen=True)
class Subject:
    """Where an event belongs: organization, optional unit/group, pseudonymous person."""

    org_id: int
    unit_id: int | None = None
    group_id: int | None = None
    person: uuid.UUID | None = None


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
    """Add one event to the raw stream. ``peer`` (time spent together) is the other person's
    pseudonym; it only ever becomes a keyed pair hash in the rollups."""
    if not isinstance(metric, Metric):
        raise TypeError("metric must be a Metric")
    if room_kind is not None and not isinstance(room_kind, RoomKind):
        raise TypeError("room_kind must be a RoomKind")
    if channel is not None and not isinstance(channel, Channel):
        raise TypeError("channel must be a Channel")
    if peer is not None and not isinstance(peer, uuid.UUID):
        raise TypeError("peer must be a pseudonymous uuid")
    if count < 0 or not math.isfinite(seconds) or seconds < 0:
        raise ValueError("count and seconds are non-negative numbers")
    session.add(
        AnalyticsEvent(
            metric=metric,
            org_id=subject.org_id,
            unit_id=subject.unit_id,
            group_id=subject.group_id,
            person=subject.person,
            room_kind=room_kind,
            peer_group_id=peer_group_id,
            peer=peer,
            channel=channel,
            count=count,
            seconds=float(seconds),
            at=at,
        )
    )
