"""Analytics tables: ids, enums, numbers, dates and pseudonyms — no text column anywhere.

Enum columns carry no CHECK constraint so a new metric needs no migration; ``record()``
accepts enum members only. None has a foreign key into the rest of the schema on purpose: on
PostgreSQL the dashboard role gets SELECT on these tables and nothing else, and erasure only
has to forget the link from a user to their ``analytics_id``.

``analytics_events`` is the raw stream; ``server.analytics.rollup`` folds it into the other
tables, which are what dashboards read.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from rooms.layout import RoomKind
from server.analytics.figures import Column, Dashboard, Granularity, ScopeLevel
from server.analytics.metrics import Channel, Metric
from server.db.base import Base
from server.db.types import UTCDateTime, text_enum

_ID = BigInteger().with_variant(Integer, "sqlite")


class Period(StrEnum):
    HOUR = "hour"
    DAY = "day"


class AnalyticsEvent(Base):
    __tablename__ = "analytics_events"
    __table_args__ = (Index("ix_analytics_events_folded", "folded", "id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    metric: Mapped[Metric] = mapped_column(text_enum(Metric, name="metric", checked=False))
    org_id: Mapped[int] = mapped_column(Integer, index=True)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    person: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # For pairwise metrics (time spent together): the other person's group, and their
    # pseudonym (folded into a keyed pair hash; never shown).
    peer_group_id: Mapped[int | None] = mapped_column(Integer)
    peer: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    room_kind: Mapped[RoomKind | None] = mapped_column(
        text_enum(RoomKind, name="analytics_room_kind", checked=False)
    )
    channel: Mapped[Channel | None] = mapped_column(
        text_enum(Channel, name="analytics_channel", length=16, checked=False)
    )
    count: Mapped[int] = mapped_column(Integer, default=1)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Set once the event is in the rollups; only folded events may be purged.
    folded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AnalyticsRollup(Base):
    """Sums per hour and per day for each (org, unit, group) and each dimension of a metric.

    Unit and organization figures are sums over these rows; distinct people come from
    ``analytics_person_days`` instead (they do not add up).
    """

    __tablename__ = "analytics_rollups"
    # A dashboard reads one metric's day rows over a window; the fold looks rows up by
    # (period, metric, bucket) too, so every column of the index is constrained either way.
    __table_args__ = (Index("ix_analytics_rollups_metric", "org_id", "period", "metric", "bucket"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    period: Mapped[Period] = mapped_column(
        text_enum(Period, name="analytics_period", length=8, checked=False)
    )
    bucket: Mapped[datetime] = mapped_column(UTCDateTime())  # start of the hour or UTC day
    org_id: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    metric: Mapped[Metric] = mapped_column(text_enum(Metric, name="metric", checked=False))
    room_kind: Mapped[RoomKind | None] = mapped_column(
        text_enum(RoomKind, name="analytics_room_kind", checked=False)
    )
    channel: Mapped[Channel | None] = mapped_column(
        text_enum(Channel, name="analytics_channel", length=16, checked=False)
    )
    peer_group_id: Mapped[int | None] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer, default=0)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class _PersonFigures:
    """What a person took part in over a day or a week, in one group: the columns person-days
    and person-weeks share. ``contributions`` is a bit set (``server.analytics.rollup.bit``)
    of the metrics and dimensions they contributed to."""

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    person: Mapped[uuid.UUID] = mapped_column(Uuid)
    contributions: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)  # activity events (see ACTIVE)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    meetings: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PersonDay(_PersonFigures, Base):
    """One row per pseudonymous person, UTC day and group, so "how many distinct people does
    this figure cover" is counted over these rows, never over raw events."""

    __tablename__ = "analytics_person_days"
    __table_args__ = (
        Index("ix_analytics_person_days_scope", "org_id", "day"),
        Index("ix_analytics_person_days_person", "person", "day"),
    )

    day: Mapped[date] = mapped_column(Date)


class PersonWeek(_PersonFigures, Base):
    """``analytics_person_days`` folded into ISO weeks (``week`` is the Monday): the same bits
    and sums, one row per person, week and group. Weekly dashboards count distinct people
    over these rows, a seventh as many as over person-days (docs/benchmarks.md)."""

    __tablename__ = "analytics_person_weeks"
    __table_args__ = (
        Index("ix_analytics_person_weeks_scope", "org_id", "week"),
        Index("ix_analytics_person_weeks_person", "person", "week"),
    )

    week: Mapped[date] = mapped_column(Date)


class PairTie(Base):
    """Two people of different groups who spent time together, under a keyed pair hash.

    ``pair`` cannot be turned back into the two pseudonyms without the server's secret; it
    exists so a pair counts as "new" only in the week it first met.
    """

    __tablename__ = "analytics_pairs"
    __table_args__ = (
        UniqueConstraint("org_id", "pair"),
        Index("ix_analytics_pairs_first_day", "org_id", "first_day"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    pair: Mapped[uuid.UUID] = mapped_column(Uuid)
    group_a: Mapped[int] = mapped_column(Integer)  # group_a < group_b
    group_b: Mapped[int] = mapped_column(Integer)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class LengthHistogram(Base):
    """How many meetings (per metric) lasted each whole number of minutes, per day and group:
    enough for medians without keeping each meeting."""

    __tablename__ = "analytics_lengths"
    __table_args__ = (Index("ix_analytics_lengths_scope", "org_id", "day"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    org_id: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    metric: Mapped[Metric] = mapped_column(text_enum(Metric, name="metric", checked=False))
    minutes: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer, default=0)


class GroupScope(Base):
    """Which unit and organization a group id belongs to, as seen in events: lets the
    dashboard check scopes without reading the identity tables."""

    __tablename__ = "analytics_groups"

    group_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    unit_id: Mapped[int | None] = mapped_column(Integer, index=True)
    org_id: Mapped[int] = mapped_column(Integer, index=True)


class AnalyticsPolicy(Base):
    """An organization's analytics policy. Without a row, the defaults (all off) hold."""

    __tablename__ = "analytics_policies"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Show org admins per-person activity (counts and last-active day) in their scope.
    per_person_activity: Mapped[bool] = mapped_column(Boolean, default=False)


class PublishedFigure(Base):
    """One figure of a closed period as published: written once by the publication job
    (``server.analytics.publish``), never changed; dashboards read only these. ``value`` is
    NULL where the figure is hidden. The whole organization's figures of a period are decided
    together (docs/analytics.md, "Publication")."""

    __tablename__ = "analytics_published"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "dashboard", "granularity", "period", "scope", "scope_id", "column"
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    dashboard: Mapped[Dashboard] = mapped_column(
        text_enum(Dashboard, name="analytics_dashboard", length=16, checked=False)
    )
    granularity: Mapped[Granularity] = mapped_column(
        text_enum(Granularity, name="analytics_granularity", length=8, checked=False)
    )
    period: Mapped[date] = mapped_column(Date)  # the day, or the Monday of the ISO week
    scope: Mapped[ScopeLevel] = mapped_column(
        text_enum(ScopeLevel, name="analytics_scope_level", length=8, checked=False)
    )
    scope_id: Mapped[int | None] = mapped_column(Integer)  # the unit or group; NULL for org
    unit_id: Mapped[int | None] = mapped_column(Integer)  # a group's unit (scope filtering)
    column: Mapped[Column] = mapped_column(
        text_enum(Column, name="analytics_column", length=24, checked=False)
    )
    value: Mapped[float | None] = mapped_column(Float)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)


class PublishedPeriod(Base):
    """A period of an organization whose figures are published (all dashboards at once):
    a period without a row is not yet published ("pending"), whatever its figures."""

    __tablename__ = "analytics_published_periods"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    granularity: Mapped[Granularity] = mapped_column(
        text_enum(Granularity, name="analytics_granularity", length=8, checked=False),
        primary_key=True,
    )
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
