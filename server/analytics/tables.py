"""The raw engagement event table: ids, an enum, numbers and a time — no text column.

Enum columns carry no CHECK constraint so a new metric needs no migration; ``record()``
accepts enum members only. It has no foreign keys into the rest of the schema on purpose: on
PostgreSQL the dashboard role gets SELECT on these tables and nothing else, and erasure only
has to forget the link from a user to their ``analytics_id``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from rooms.layout import RoomKind
from server.analytics.metrics import Channel, Metric
from server.db.base import Base
from server.db.types import UTCDateTime, text_enum


class AnalyticsEvent(Base):
    __tablename__ = "analytics_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    metric: Mapped[Metric] = mapped_column(text_enum(Metric, name="metric", checked=False))
    org_id: Mapped[int] = mapped_column(Integer, index=True)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    person: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # For pairwise metrics (time spent together): the other person's group, never their id.
    peer_group_id: Mapped[int | None] = mapped_column(Integer)
    room_kind: Mapped[RoomKind | None] = mapped_column(
        text_enum(RoomKind, name="analytics_room_kind", checked=False)
    )
    channel: Mapped[Channel | None] = mapped_column(
        text_enum(Channel, name="analytics_channel", length=16, checked=False)
    )
    count: Mapped[int] = mapped_column(Integer, default=1)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
