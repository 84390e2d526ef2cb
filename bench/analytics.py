"""Analytics benchmark: a synthetic year of engagement, ingested and folded, then dashboard
queries answered from published figures beside the same figures computed on request and from
raw events.

A seeded random office (full: 5,000 people in 100 groups of 10 units, 260 working days,
about 12 million events; --quick: 300 people, 30 days) records every event through the real
``record_events()`` in transactions of 2,000 while the real fold turns them into rollups;
``record()`` one call per event is timed on a sample beside it. Dashboard
queries (org-wide messages by channel and active people by group, one group's messages, the
last weeks by week) are timed three ways in the same run, on the same database: read from the
published figures (what ``server.analytics.read`` does), computed on request from the rollups
for the whole organization (``server.analytics.period_figures.compute``, what a request would
have to do without publication, before any suppression), and as the equivalent SQL over
``analytics_events`` (given the index such a query wants: organization, metric, time); each
query's p50/p99 from each source is reported on its own; totals are checked to agree.
Publishing those weeks (their days, then the weeks, with the LP-verified suppression) is timed
too.

    python bench/analytics.py [--quick] [--people 5000] [--days 260] [--repeat 30] [--weeks 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import and_, case, distinct, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import RoomKind
from server.analytics import read
from server.analytics.figures import Granularity
from server.analytics.metrics import Channel, Metric
from server.analytics.period_figures import compute, tree_of
from server.analytics.publish import publish_period
from server.analytics.record import Event, Subject, record, record_events
from server.analytics.rollup import fold_pending
from server.analytics.tables import AnalyticsEvent
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.infra.settings import Settings

ORG = 1
SECRET = "b" * 40
YEAR_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
GROUP_SIZE = 50
CHANNELS = list(Channel)
KINDS = [RoomKind.TEAM_ROOM, RoomKind.MEETING_ROOM, RoomKind.LOBBY, RoomKind.PRIVATE_OFFICE]


class Office:
    def __init__(self, people: int, rng: random.Random) -> None:
        self.groups = max(1, people // GROUP_SIZE)
        self.people = [
            (uuid.UUID(int=rng.getrandbits(128)), 1 + i % self.groups) for i in range(people)
        ]
        self.members: dict[int, list[uuid.UUID]] = {}
        for person, group in self.people:
            self.members.setdefault(group, []).append(person)

    @staticmethod
    def unit(group: int) -> int:
        return 1000 + (group - 1) // 10


def working_days(days: int) -> list[datetime]:
    result: list[datetime] = []
    day = YEAR_START
    while len(result) < days:
        if day.weekday() < 5:
            result.append(day)
        day += timedelta(days=1)
    return result


def day_events(office: Office, day: datetime, rng: random.Random) -> list[tuple[Any, ...]]:
    """One working day: (metric, subject, at, kwargs) for everyone, in time order."""
    events: list[tuple[Any, ...]] = []

    def at() -> datetime:
        return day + timedelta(hours=8, seconds=rng.randrange(10 * 3600))

    for person, group in office.people:
        subject = Subject(ORG, office.unit(group), group, person)
        events.append((Metric.SIGNED_IN, subject, at(), {}))
        events.append((Metric.REALTIME_CONNECTED, subject, at(), {}))
        events.append((Metric.REALTIME_SECONDS, subject, at(), {"seconds": 6 * 3600.0}))
        for _ in range(2):
            kind = rng.choice(KINDS)
            events.append((Metric.ROOM_ENTERED, subject, at(), {"room_kind": kind}))
            events.append(
                (Metric.ROOM_SECONDS, subject, at(), {"room_kind": kind, "seconds": 1800.0})
            )
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            events.append((Metric.MESSAGE_SENT, subject, at(), {"channel": rng.choice(CHANNELS)}))
        peer_group = group if rng.random() < 0.7 else 1 + rng.randrange(office.groups)
        peer = rng.choice(office.members[peer_group])
        events.append(
            (
                Metric.ROOM_TOGETHER_SECONDS,
                subject,
                at(),
                {"peer_group_id": peer_group, "peer": peer, "seconds": 900.0},
            )
        )
    for group, members in office.members.items():
        host = rng.choice(members)
        subject = Subject(ORG, office.unit(group), group, host)
        events.append(
            (Metric.MEETING_HELD, subject, at(), {"seconds": float(rng.randrange(600, 5400))})
        )
        for person in rng.sample(members, min(5, len(members))):
            who = Subject(ORG, office.unit(group), group, person)
            events.append((Metric.MEETING_SECONDS, who, at(), {"seconds": 1500.0}))
    events.sort(key=lambda e: e[2])
    return events


async def ingest(
    db: async_sessionmaker[AsyncSession], office: Office, days: list[datetime], seed: int
) -> tuple[int, float, float]:
    """Record every event with ``record_events()`` in transactions of 2,000 (how a batching
    producer such as the chat writer's group commit writes them), folding as the server does,
    a little behind the stream. Returns (events, record s, fold s)."""
    rng = random.Random(seed)
    total = 0
    record_seconds = fold_seconds = 0.0
    for index, day in enumerate(days):
        events = [
            Event(metric, subject, at, **kwargs)
            for metric, subject, at, kwargs in day_events(office, day, rng)
        ]
        started = time.perf_counter()
        for start in range(0, len(events), 2000):
            async with db() as session:
                await record_events(session, events[start : start + 2000])
                await session.commit()
        record_seconds += time.perf_counter() - started
        total += len(events)
        if index % 5 == 4 or index == len(days) - 1:  # about a week of data per fold
            started = time.perf_counter()
            await fold_pending(db, secret=SECRET)
            fold_seconds += time.perf_counter() - started
        if index % 20 == 19:
            print(f"  day {index + 1}/{len(days)}: {total:,} events", file=sys.stderr)
    return total, record_seconds, fold_seconds


async def record_one_by_one(
    db: async_sessionmaker[AsyncSession], office: Office, day: datetime, limit: int
) -> float:
    """``record()`` once per event, one transaction of 2,000: the path of a producer that
    records one event with its own action. Returns events/s. (Rolled back, not kept.)"""
    events = day_events(office, day, random.Random(1))[:limit]
    async with db() as session:
        started = time.perf_counter()
        for metric, subject, at, kwargs in events:
            await record(session, metric, subject, at=at, **kwargs)
        elapsed = time.perf_counter() - started
        await session.rollback()
    return len(events) / elapsed


def _period(column: Any, periods: list[tuple[date, date]]) -> Any:
    starts = [datetime(e.year, e.month, e.day, tzinfo=UTC) for _, e in periods[:-1]]
    if not starts:  # one period: CASE needs at least one WHEN
        return literal(0)
    return case(*[(column < s, i) for i, s in enumerate(starts)], else_=len(periods) - 1)


async def raw_messages(
    session: AsyncSession, window: read.Window, group: int | None
) -> dict[str, Any]:
    """The messages table (sums by channel, distinct senders per cell and per period) straight
    from raw events: what a dashboard without rollups would run."""
    E = AnalyticsEvent
    periods = window.periods()
    index = _period(E.at, periods).label("p")
    where = [
        E.org_id == ORG,
        E.metric == Metric.MESSAGE_SENT,
        E.at >= datetime.combine(window.start, datetime.min.time(), UTC),
        E.at < datetime.combine(window.end + timedelta(days=1), datetime.min.time(), UTC),
    ]
    if group is not None:
        where.append(E.group_id == group)
    cells = await session.execute(
        select(index, E.channel, func.sum(E.count), func.count(distinct(E.person)))
        .where(and_(*where))
        .group_by(index, E.channel)
    )
    rows = await session.execute(
        select(index, func.count(distinct(E.person))).where(and_(*where)).group_by(index)
    )
    values = list(cells)
    list(rows)
    return {"total": sum(int(v[2]) for v in values)}


async def raw_active(session: AsyncSession, window: read.Window) -> dict[str, Any]:
    E = AnalyticsEvent
    periods = window.periods()
    index = _period(E.at, periods).label("p")
    where = and_(
        E.org_id == ORG,
        E.metric.not_in([Metric.ACCOUNT_CREATED, Metric.GUEST_JOINED]),
        E.person.is_not(None),
        E.at >= datetime.combine(window.start, datetime.min.time(), UTC),
        E.at < datetime.combine(window.end + timedelta(days=1), datetime.min.time(), UTC),
    )
    cells = list(
        await session.execute(
            select(index, E.group_id, func.count(distinct(E.person)))
            .where(where)
            .group_by(index, E.group_id)
        )
    )
    rows = list(
        await session.execute(
            select(index, func.count(distinct(E.person))).where(where).group_by(index)
        )
    )
    return {"cells": len(cells), "last_period_people": int(rows[-1][1]) if rows else 0}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def on_request(
    session: AsyncSession, dashboard: read.Dashboard, window: read.Window
) -> list[Any]:
    """The same table computed from the rollups when asked: every period of the window, the
    whole organization (suppression not included)."""
    tree = await tree_of(session, ORG)
    return [
        await compute(session, ORG, dashboard, window.granularity, start, tree)
        for start, _ in window.periods()
    ]


QUERIES = ("messages/org", "active/org", "messages/group")
SOURCES = ("published", "on_request", "raw")


async def measure(
    db: async_sessionmaker[AsyncSession], window: read.Window, repeat: int, group: int
) -> dict[str, Any]:
    """Each query's p50/p99 from each source, one figure per query (never pooled)."""
    org_scope = read.Scope(read.ScopeKind.ORG, ORG)
    group_scope = read.Scope(read.ScopeKind.GROUP, ORG, Office.unit(group), group)
    timings = {name: {source: [] for source in SOURCES} for name in QUERIES}
    checks: dict[str, Any] = {}
    for _ in range(repeat):
        for name, published, computed, raw in (
            (
                "messages/org",
                lambda s: read.dashboard(s, read.Dashboard.MESSAGES, org_scope, window, 5),
                lambda s: on_request(s, read.Dashboard.MESSAGES, window),
                lambda s: raw_messages(s, window, None),
            ),
            (
                "active/org",
                lambda s: read.dashboard(s, read.Dashboard.ACTIVE, org_scope, window, 5),
                lambda s: on_request(s, read.Dashboard.ACTIVE, window),
                lambda s: raw_active(s, window),
            ),
            (
                "messages/group",
                lambda s: read.dashboard(s, read.Dashboard.MESSAGES, group_scope, window, 5),
                lambda s: on_request(s, read.Dashboard.MESSAGES, window),
                lambda s: raw_messages(s, window, group),
            ),
        ):
            times: dict[str, list[float]] = timings[name]
            async with db() as session:
                started = time.perf_counter()
                table = await published(session)
                times["published"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await computed(session)
                times["on_request"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                answer = await raw(session)
                times["raw"].append((time.perf_counter() - started) * 1000)
            if name == "messages/org":
                totals = [t.value for t in table.row_totals or []]
                checks["published_messages"] = (
                    sum(v for v in totals if v is not None) if None not in totals else None
                )
                checks["raw_messages"] = answer["total"]
    figures = {
        name: {
            f"{source}_{q}_ms": round(statistics.median(t) if q == "p50" else pct(t, 0.99), 2)
            for source, t in by_source.items()
            for q in ("p50", "p99")
        }
        for name, by_source in timings.items()
    }
    return {"queries": figures, **checks}


async def index_raw_events(db: async_sessionmaker[AsyncSession]) -> None:
    """The index a competent engineer would give a dashboard over raw events: organization,
    metric, time (the baseline's WHERE), then refreshed planner statistics."""
    async with db() as session:
        await session.execute(
            text(
                "CREATE INDEX IF NOT EXISTS bench_raw_org_metric_at "
                "ON analytics_events (org_id, metric, at)"
            )
        )
        await session.execute(text("ANALYZE"))
        await session.commit()


async def publish_weeks(
    db: async_sessionmaker[AsyncSession], mondays: list[date]
) -> dict[str, float]:
    """Publish each week's days, then the week, as the job does; seconds per day and week."""
    days: list[float] = []
    weeks: list[float] = []
    programs = 0
    now = datetime.now(UTC)
    for monday in mondays:
        for offset in range(7):
            async with db() as session:
                started = time.perf_counter()
                done = await publish_period(
                    session, ORG, Granularity.DAY, monday + timedelta(days=offset), 5, now
                )
                await session.commit()
                days.append(time.perf_counter() - started)
                programs += done.linear_programs
        async with db() as session:
            started = time.perf_counter()
            done = await publish_period(session, ORG, Granularity.WEEK, monday, 5, now)
            await session.commit()
            weeks.append(time.perf_counter() - started)
            programs += done.linear_programs
    return {
        "publish_day_p50_s": round(statistics.median(days), 2),
        "publish_day_max_s": round(max(days), 2),
        "publish_week_p50_s": round(statistics.median(weeks), 2),
        "publish_week_max_s": round(max(weeks), 2),
        "linear_programs": programs,
    }


async def every_dashboard(
    db: async_sessionmaker[AsyncSession], window: read.Window, repeat: int
) -> dict[str, dict[str, float]]:
    """p50 and p99 of each dashboard table for the whole organization, from published rows."""
    org = read.Scope(read.ScopeKind.ORG, ORG)
    figures: dict[str, dict[str, float]] = {"p50": {}, "p99": {}}
    for name in read.Dashboard:
        if name is read.Dashboard.PEOPLE:
            continue
        timings = []
        for _ in range(repeat):
            async with db() as session:
                started = time.perf_counter()
                await read.dashboard(session, name, org, window, 5)
                timings.append((time.perf_counter() - started) * 1000)
        figures["p50"][name.value] = round(statistics.median(timings), 1)
        figures["p99"][name.value] = round(pct(timings, 0.99), 1)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small and short (< 1 minute)")
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--days", type=int, default=260)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--weeks", type=int, default=2, help="weeks published and read")
    args = parser.parse_args()
    if args.quick:
        args.people, args.days, args.repeat = 300, 30, 10
    rng = random.Random(20260105)
    office = Office(args.people, rng)
    days = working_days(args.days)
    with tempfile.TemporaryDirectory(prefix="oh-bench-analytics-") as tmp:
        env = {
            "OFFICEHOURS_DATA_DIR": tmp,
            "OFFICEHOURS_SECRET_KEY": SECRET,
            "OFFICEHOURS_DATABASE_URL": args.database_url
            or f"sqlite+aiosqlite:///{Path(tmp) / 'analytics.db'}",
        }
        settings = Settings.from_env(env)
        engine = create_engine(settings)
        await upgrade(engine)
        db = session_factory(engine)
        started = time.perf_counter()
        events, record_s, fold_s = await ingest(db, office, days, seed=7)
        wall = time.perf_counter() - started
        one_by_one = await record_one_by_one(db, office, days[0], 2000 if args.quick else 20_000)
        end = days[-1].date()
        window = read.Window(
            end - timedelta(weeks=args.weeks - 1), end, read.Granularity.WEEK
        )  # whole ISO weeks
        publication = await publish_weeks(db, [start for start, _ in window.periods()])
        print(f"  publication: {publication}", file=sys.stderr)
        await index_raw_events(db)
        result = await measure(db, window, args.repeat, group=1)
        dashboards = await every_dashboard(db, window, args.repeat)
        async with db() as session:
            raw_rows = int(await session.scalar(select(func.count()).select_from(AnalyticsEvent)))
        await engine.dispose()
    database = settings.database_url.split(":", 1)[0]
    ingest_rate = events / (record_s + fold_s)
    print(
        f"{args.people:,} people in {office.groups} groups, {len(days)} working days, "
        f"{events:,} events on {database} ({raw_rows:,} raw rows kept)"
    )
    print(
        f"ingest: record_events() {events / record_s:,.0f} events/s, fold "
        f"{events / fold_s:,.0f} events/s, together {ingest_rate:,.0f} events/s ({wall:.1f} s)"
    )
    print(f"record() one call per event, same database: {one_by_one:,.0f} events/s")
    print(
        f"publication, {args.weeks} weeks (each day, then the week, LP-verified suppression): "
        f"a day p50 {publication['publish_day_p50_s']} s (max {publication['publish_day_max_s']}"
        f" s), a week p50 {publication['publish_week_p50_s']} s (max "
        f"{publication['publish_week_max_s']} s), {publication['linear_programs']:,} LPs"
    )
    print(
        f"dashboard queries ({args.weeks} weeks by week, {args.repeat} rounds each; raw events "
        "indexed on (organization, metric, time)):"
    )
    print(f"{'query':<16}" + "".join(f"{source + ' p50/p99':>24}" for source in SOURCES))
    for name, figures in result["queries"].items():
        print(
            f"{name:<16}"
            + "".join(
                f"{figures[f'{source}_p50_ms']:>11.1f}/{figures[f'{source}_p99_ms']:>7.1f} ms"
                for source in SOURCES
            )
        )
    print(
        f"every dashboard, whole organization, from published figures (p50 / p99 of "
        f"{args.repeat}): "
        + ", ".join(
            f"{name} {ms:.0f}/{dashboards['p99'][name]:.0f} ms"
            for name, ms in dashboards["p50"].items()
        )
    )
    shown = result["published_messages"]
    agree = shown in (None, result["raw_messages"])
    print(
        "org messages in the window: published "
        + (
            "hidden (a week whose empty weekend would be given away)"
            if shown is None
            else str(shown)
        )
        + f", raw {result['raw_messages']} ({'agree' if agree else 'MISMATCH'})"
    )
    summary = {
        "people": args.people,
        "days": len(days),
        "events": events,
        "database": database,
        "ingest_events_per_s": round(ingest_rate, 1),
        "record_events_per_s": round(events / record_s, 1),
        "fold_events_per_s": round(events / fold_s, 1),
        "record_one_call_events_per_s": round(one_by_one, 1),
        "queries": result["queries"],
        **publication,
        "totals_agree": agree,
        "dashboards_org_p50_ms": dashboards["p50"],
        "rollup_p99_ms_by_dashboard": dashboards["p99"],
        "raw_p99_ms_by_dashboard": {
            name: figures["raw_p99_ms"] for name, figures in result["queries"].items()
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
