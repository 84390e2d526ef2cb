"""Publishing closed periods: the only figures dashboards show.

Why publish instead of computing each table on request: figures computed per request, per
scope and per window could be combined — an organization total minus a shown group gave a
hidden group back, and the same figure read before and after one person's action gave that
action. Here each organization's figures of a period are computed once the period has
closed (a UTC day once it has ended and every event of it is folded; an ISO week once its
seven days are published), for every scope at once (the organization, each unit, each group),
and what to hide is decided over that whole set with its relations (groups add up to their
unit, units to the organization, columns to the row total, days to the week) by
``server.analytics.disclosure``. The rows are written once and never changed; a request only
reads them, filtered to the caller's scope, so every role reads one and the same publication.

This module is the when and the writing: which periods have closed, one publisher at a time,
one short transaction per period. The figures are computed by ``server.analytics.period_figures``
and what to hide is prepared by ``server.analytics.publication``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import delete, false, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.figures import Granularity
from server.analytics.period_figures import midnight
from server.analytics.publication import Publication, prepare_period
from server.analytics.rollup import week_of
from server.analytics.tables import AnalyticsEvent, PersonDay, PublishedFigure, PublishedPeriod
from server.db.base import table_of
from server.db.models import Organization

log = logging.getLogger("officehours.analytics.publish")

# A day is published this long after it ended at the earliest: a transaction that recorded an
# event just before midnight has committed by then (and the fold must have caught up too).
GRACE = timedelta(minutes=5)
MAX_PERIODS_PER_RUN = 62  # per organization and run: a long history is published over runs


async def publish_period(
    session: AsyncSession,
    org_id: int,
    granularity: Granularity,
    start: date,
    k: int,
    now: datetime,
) -> Publication:
    """Compute, suppress and store one period's figures of every dashboard (caller commits)."""
    publication = await prepare_period(session, org_id, granularity, start, k)
    if publication.rows:
        await session.execute(insert(table_of(PublishedFigure)), publication.rows)
    session.add(
        PublishedPeriod(org_id=org_id, granularity=granularity, period=start, published_at=now)
    )
    return publication


_ADVISORY_KEY = 0x0FF1CE0B  # "one publisher at a time"


async def _lock(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_ADVISORY_KEY)))
    else:  # take SQLite's write lock before reading, as the fold does
        await session.execute(delete(PublishedPeriod).where(false()))


async def _is_published(
    session: AsyncSession, org_id: int, granularity: Granularity, start: date
) -> bool:
    found = await session.get(PublishedPeriod, (org_id, granularity, start))
    return found is not None


async def _next_day(session: AsyncSession, org_id: int) -> date | None:
    """The first day of the organization not yet published: after the last published one,
    or the Monday of the week of its first figures (so every week's days are all there)."""
    P = PublishedPeriod
    last = await session.scalar(
        select(func.max(P.period)).where(P.org_id == org_id, P.granularity == Granularity.DAY)
    )
    if last is not None:
        return last + timedelta(days=1)
    first = await session.scalar(select(func.min(PersonDay.day)).where(PersonDay.org_id == org_id))
    return None if first is None else week_of(first)


async def _oldest_unfolded(session: AsyncSession, org_id: int) -> datetime | None:
    return await session.scalar(
        select(func.min(AnalyticsEvent.at)).where(
            AnalyticsEvent.org_id == org_id, AnalyticsEvent.folded.is_(False)
        )
    )


def closed(day: date, now: datetime, oldest_unfolded: datetime | None) -> bool:
    """A day is closed once it has ended (plus ``GRACE``) and every event of it is folded."""
    end = midnight(day + timedelta(days=1))
    return end + GRACE <= now and (oldest_unfolded is None or oldest_unfolded >= end)


async def _store(
    db: async_sessionmaker[AsyncSession],
    org_id: int,
    granularity: Granularity,
    start: date,
    publication: Publication,
    now: datetime,
) -> bool:
    """Write a prepared period in one short transaction, unless another publisher has;
    returns whether this one did."""
    async with db() as session:
        await _lock(session)
        if await _is_published(session, org_id, granularity, start):
            return False
        if publication.rows:
            await session.execute(insert(table_of(PublishedFigure)), publication.rows)
        session.add(
            PublishedPeriod(org_id=org_id, granularity=granularity, period=start, published_at=now)
        )
        await session.commit()
    _logged(org_id, granularity, start, publication)
    return True


async def publish_org(
    db: async_sessionmaker[AsyncSession], org_id: int, now: datetime, k: int
) -> int:
    """Publish the organization's closed days (and each week once its Sunday is published),
    one committed transaction per period; returns how many periods this call wrote."""
    done = 0
    for _ in range(MAX_PERIODS_PER_RUN):
        async with db() as session:
            day = await _next_day(session, org_id)
            if day is None or not closed(day, now, await _oldest_unfolded(session, org_id)):
                return done
            prepared = await prepare_period(session, org_id, Granularity.DAY, day, k)
        done += await _store(db, org_id, Granularity.DAY, day, prepared, now)
        if day.weekday() != 6:
            continue
        monday = week_of(day)
        async with db() as session:
            if await _is_published(session, org_id, Granularity.WEEK, monday):
                continue
            prepared = await prepare_period(session, org_id, Granularity.WEEK, monday, k)
        done += await _store(db, org_id, Granularity.WEEK, monday, prepared, now)
    return done


def _logged(org_id: int, granularity: Granularity, start: date, result: Publication) -> None:
    log.info(
        "analytics.published",
        extra={
            "org_id": org_id,
            "granularity": granularity.value,
            "period": start.isoformat(),
            "figures": len(result.rows),
            "linear_programs": result.linear_programs,
        },
    )
    if result.unresolved:
        log.warning(
            "analytics.publication_unresolved",
            extra={"org_id": org_id, "period": start.isoformat(), "count": result.unresolved},
        )


async def publish_due(db: async_sessionmaker[AsyncSession], now: datetime, k: int) -> int:
    """Publish every organization's closed periods (the analytics job, after each fold)."""
    async with db() as session:
        orgs = list(
            (await session.scalars(select(Organization.id).order_by(Organization.id))).all()
        )
    total = 0
    for org_id in orgs:
        total += await publish_org(db, org_id, now, k)
    return total
