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
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, false, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import RoomKind
from server.analytics.disclosure import Figure, Key, Relation, decide
from server.analytics.figures import Column, Dashboard, Granularity, ScopeLevel
from server.analytics.metrics import Channel, Metric
from server.analytics.rollup import (
    CHANNEL_BITS,
    CROSS_GROUP_BIT,
    METRIC_BITS,
    ROOM_KIND_BITS,
    bit,
    week_of,
)
from server.analytics.tables import (
    AnalyticsEvent,
    AnalyticsRollup,
    GroupScope,
    LengthHistogram,
    PairTie,
    Period,
    PersonDay,
    PersonWeek,
    PublishedFigure,
    PublishedPeriod,
)
from server.db.base import table_of
from server.db.models import Organization

log = logging.getLogger("officehours.analytics.publish")

# A day is published this long after it ended at the earliest: a transaction that recorded an
# event just before midnight has committed by then (and the fold must have caught up too).
GRACE = timedelta(minutes=5)
MAX_PERIODS_PER_RUN = 62  # per organization and run: a long history is published over runs

ACTIVE = -1  # in place of a mask: anyone with activity events
MEDIANS = frozenset({(Dashboard.MEETINGS, Column.MEDIAN_MINUTES)})
# Figures that add up over days into their week (distinct people do not).
NOT_ADDITIVE_IN_TIME = frozenset({Dashboard.ACTIVE})
GROUP_COLUMNS = frozenset({Dashboard.ACTIVE, Dashboard.TIES_MINUTES, Dashboard.TIES_NEW_PAIRS})
TABLES = [d for d in Dashboard if d is not Dashboard.PEOPLE]

Scope = tuple[ScopeLevel, int | None]
ORG: Scope = (ScopeLevel.ORG, None)
# A figure within one period: (scope, column); atoms (unknown, never published) are
# ("pair", low group, high group).
Local = tuple[Any, ...]


def mentoring_metrics() -> list[Metric]:
    """Mentoring metrics are the ones named ``mentoring_*`` (see docs/analytics.md)."""
    return [m for m in Metric if m.value.startswith("mentoring_")]


def mask_of(*positions: int) -> int:
    mask = 0
    for position in positions:
        mask |= bit(position)
    return mask


def columns_of(dashboard: Dashboard) -> list[Column]:
    """The dimension columns of a dashboard whose columns are not groups."""
    return {
        Dashboard.MESSAGES: [Column(c.value) for c in Channel],
        Dashboard.ROOMS: [Column(k.value) for k in RoomKind],
        Dashboard.MEETINGS: [Column.HELD, Column.MINUTES, Column.MEDIAN_MINUTES],
        Dashboard.MENTORING: [Column(m.value) for m in mentoring_metrics()],
    }.get(dashboard, [])


def has_row_total(dashboard: Dashboard) -> bool:
    return dashboard in (Dashboard.MESSAGES, Dashboard.ROOMS, Dashboard.ACTIVE)


@dataclass
class Tree:
    """An organization's units and groups, as seen in events (``analytics_groups``)."""

    group_unit: dict[int, int | None]

    @property
    def units(self) -> list[int]:
        return sorted({u for u in self.group_unit.values() if u is not None})

    def scopes(self) -> list[Scope]:
        return [
            ORG,
            *((ScopeLevel.UNIT, u) for u in self.units),
            *((ScopeLevel.GROUP, g) for g in sorted(self.group_unit)),
        ]

    def children(self, scope: Scope) -> list[Scope]:
        if scope[0] is ScopeLevel.ORG:
            loose = [(ScopeLevel.GROUP, g) for g, u in sorted(self.group_unit.items()) if u is None]
            return [*((ScopeLevel.UNIT, u) for u in self.units), *loose]
        if scope[0] is ScopeLevel.UNIT:
            return [
                (ScopeLevel.GROUP, g) for g, u in sorted(self.group_unit.items()) if u == scope[1]
            ]
        return []


@dataclass
class PeriodFigures:
    """One dashboard's figures of one period, for every scope, with their relations."""

    figures: dict[Local, Figure] = field(default_factory=dict)
    atoms: dict[Local, float] = field(default_factory=dict)
    relations: list[tuple[Local, list[Local]]] = field(default_factory=list)

    def value(self, key: Local) -> float:
        return self.figures[key].value if key in self.figures else self.atoms.get(key, 0.0)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def period_end(granularity: Granularity, start: date) -> date:
    return start + timedelta(days=1 if granularity is Granularity.DAY else 7)


class _Reader:
    """The queries behind one organization's figures of one period."""

    def __init__(
        self, session: AsyncSession, org_id: int, granularity: Granularity, start: date
    ) -> None:
        self.session = session
        self.org_id = org_id
        self.granularity = granularity
        self.start = start
        self.stop = period_end(granularity, start)

    def _people_table(self) -> tuple[Any, Any]:
        if self.granularity is Granularity.WEEK:
            return PersonWeek, PersonWeek.week
        return PersonDay, PersonDay.day

    async def people(self, masks: list[int], tree: Tree) -> dict[Scope, list[int]]:
        """Distinct people per scope meeting each mask (one pass per scope level)."""
        table, day = self._people_table()
        flags = [
            func.max(
                case(
                    (
                        table.events > 0
                        if mask == ACTIVE
                        else table.contributions.op("&")(mask) != 0,
                        1,
                    ),
                    else_=0,
                )
            ).label(f"f{i}")
            for i, mask in enumerate(masks)
        ]
        where = and_(table.org_id == self.org_id, day == self.start)
        found: dict[Scope, list[int]] = {s: [0] * len(masks) for s in tree.scopes()}
        for level, column in (
            (ScopeLevel.GROUP, table.group_id),
            (ScopeLevel.UNIT, table.unit_id),
            (ScopeLevel.ORG, None),
        ):
            keys = [table.person] if column is None else [column, table.person]
            inner = select(*keys[:-1], *flags).where(where).group_by(*keys).subquery()
            sums = [func.coalesce(func.sum(inner.c[f"f{i}"]), 0) for i in range(len(masks))]
            if column is None:
                row = (await self.session.execute(select(*sums))).one()
                found[ORG] = [int(n) for n in row]
                continue
            outer = inner.c[column.key]
            for row in await self.session.execute(select(outer, *sums).group_by(outer)):
                scope: Scope = (level, row[0])
                if row[0] is not None and scope in found:
                    found[scope] = [int(n) for n in row[1:]]
        return found

    def _rollups(self, metric: Metric) -> Any:
        R = AnalyticsRollup
        return and_(
            R.org_id == self.org_id,
            R.period == Period.DAY,
            R.metric == metric,
            R.bucket >= _midnight(self.start),
            R.bucket < _midnight(self.stop),
        )

    async def sums(
        self, metric: Metric, dimension: Any, tree: Tree, *, seconds: bool
    ) -> dict[Scope, dict[Any, float]]:
        """Sum of counts (or seconds) per scope and dimension value (None without one)."""
        R = AnalyticsRollup
        value = func.sum(R.seconds if seconds else R.count)
        dim = dimension if dimension is not None else None
        keys = [R.unit_id, R.group_id, *([dim] if dim is not None else [])]
        result: dict[Scope, dict[Any, float]] = {s: defaultdict(float) for s in tree.scopes()}
        rows = await self.session.execute(
            select(*keys, value).where(self._rollups(metric)).group_by(*keys)
        )
        for row in rows:
            unit_id, group_id = row[0], row[1]
            d = row[2] if dim is not None else None
            amount = float(row[-1] or 0)
            result[ORG][d] += amount
            if unit_id is not None and (ScopeLevel.UNIT, unit_id) in result:
                result[(ScopeLevel.UNIT, unit_id)][d] += amount
            if group_id is not None and (ScopeLevel.GROUP, group_id) in result:
                result[(ScopeLevel.GROUP, group_id)][d] += amount
        return result

    async def medians(self, metric: Metric, tree: Tree) -> dict[Scope, float]:
        L = LengthHistogram
        rows = await self.session.execute(
            select(L.unit_id, L.group_id, L.minutes, func.sum(L.n))
            .where(L.org_id == self.org_id, L.metric == metric)
            .where(L.day >= self.start, L.day < self.stop)
            .group_by(L.unit_id, L.group_id, L.minutes)
        )
        histograms: dict[Scope, list[tuple[int, int]]] = defaultdict(list)
        for unit_id, group_id, minutes, n in rows:
            histograms[ORG].append((minutes, int(n)))
            if unit_id is not None:
                histograms[(ScopeLevel.UNIT, unit_id)].append((minutes, int(n)))
            if group_id is not None:
                histograms[(ScopeLevel.GROUP, group_id)].append((minutes, int(n)))
        return {scope: median_of(h) for scope, h in histograms.items()}

    async def cross_group(self) -> dict[tuple[int, int], float]:
        """Seconds people of two different groups spent together, per pair of groups."""
        R = AnalyticsRollup
        rows = await self.session.execute(
            select(R.group_id, R.peer_group_id, func.sum(R.seconds))
            .where(self._rollups(Metric.ROOM_TOGETHER_SECONDS))
            .where(R.group_id.is_not(None), R.peer_group_id.is_not(None))
            .where(R.group_id != R.peer_group_id)
            .group_by(R.group_id, R.peer_group_id)
        )
        found: dict[tuple[int, int], float] = defaultdict(float)
        for a, b, seconds in rows:
            low, high = sorted((int(a or 0), int(b or 0)))
            found[(low, high)] += float(seconds or 0)
        return found

    async def new_pairs(self) -> dict[tuple[int, int], float]:
        rows = await self.session.execute(
            select(PairTie.group_a, PairTie.group_b, func.count())
            .where(PairTie.org_id == self.org_id)
            .where(PairTie.first_day >= self.start, PairTie.first_day < self.stop)
            .group_by(PairTie.group_a, PairTie.group_b)
        )
        return {(a, b): float(n) for a, b, n in rows}


def median_of(histogram: list[tuple[int, int]]) -> float:
    """The median of values given as (value, how many) pairs."""
    ordered = sorted(histogram)
    n = sum(count for _, count in ordered)
    wanted = [(n - 1) // 2, n // 2]
    found: list[int] = []
    seen = 0
    for value, count in ordered:
        while wanted and wanted[0] < seen + count:
            found.append(value)
            wanted.pop(0)
        seen += count
    return statistics.fmean(found) if found else 0.0


def _hierarchy(
    out: PeriodFigures, tree: Tree, column: Column, *, leaf: Column | None = None
) -> None:
    """Relations "a parent's figure is its children's plus what no child holds"."""
    for scope in tree.scopes():
        children = tree.children(scope)
        if not children:
            continue
        whole = (*scope, column)
        if whole not in out.figures:
            continue
        parts = [
            (*child, leaf if leaf is not None and child[0] is ScopeLevel.GROUP else column)
            for child in children
        ]
        out.relations.append((whole, [p for p in parts if p in out.figures]))


async def compute(
    session: AsyncSession,
    org_id: int,
    dashboard: Dashboard,
    granularity: Granularity,
    start: date,
    tree: Tree,
) -> PeriodFigures:
    """Every figure of one dashboard and period, for every scope of the organization."""
    reader = _Reader(session, org_id, granularity, start)
    out = PeriodFigures()
    scopes = tree.scopes()
    if dashboard is Dashboard.ACTIVE:
        people = await reader.people([ACTIVE], tree)
        for scope in scopes:
            column = Column.VALUE if scope[0] is ScopeLevel.GROUP else Column.TOTAL
            out.figures[(*scope, column)] = Figure(float(people[scope][0]), people[scope][0])
        _hierarchy(out, tree, Column.TOTAL, leaf=Column.VALUE)
        return out
    if dashboard in (Dashboard.TIES_MINUTES, Dashboard.TIES_NEW_PAIRS):
        people = await reader.people([bit(CROSS_GROUP_BIT)], tree)
        if dashboard is Dashboard.TIES_MINUTES:
            atoms = {p: s / 60 for p, s in (await reader.cross_group()).items()}
        else:
            atoms = await reader.new_pairs()
        for (a, b), amount in atoms.items():
            out.atoms[("pair", a, b)] = amount
        for group in sorted(tree.group_unit):
            mine = [("pair", a, b) for (a, b) in atoms if group in (a, b)]
            total = sum(out.atoms[p] for p in mine)
            value = round(total, 1) if dashboard is Dashboard.TIES_MINUTES else total
            own: Scope = (ScopeLevel.GROUP, group)
            out.figures[(*own, Column.VALUE)] = Figure(value, people[own][0])
            out.relations.append(((*own, Column.VALUE), mine))
        return out
    columns = columns_of(dashboard)
    if dashboard is Dashboard.MESSAGES:
        channels = list(Channel)
        people = await reader.people(
            [*(bit(CHANNEL_BITS[c]) for c in channels), bit(METRIC_BITS[Metric.MESSAGE_SENT])],
            tree,
        )
        sums = await reader.sums(Metric.MESSAGE_SENT, AnalyticsRollup.channel, tree, seconds=False)
        values = {s: [sums[s].get(c, 0.0) for c in channels] for s in scopes}
    elif dashboard is Dashboard.ROOMS:
        kinds = list(RoomKind)
        people = await reader.people(
            [*(bit(ROOM_KIND_BITS[k]) for k in kinds), bit(METRIC_BITS[Metric.ROOM_SECONDS])],
            tree,
        )
        sums = await reader.sums(Metric.ROOM_SECONDS, AnalyticsRollup.room_kind, tree, seconds=True)
        values = {s: [round(sums[s].get(k, 0.0) / 60, 1) for k in kinds] for s in scopes}
    elif dashboard is Dashboard.MEETINGS:
        mask = mask_of(METRIC_BITS[Metric.MEETING_HELD], METRIC_BITS[Metric.MEETING_SECONDS])
        found = await reader.people([mask], tree)
        people = {s: found[s] * 3 for s in scopes}
        held = await reader.sums(Metric.MEETING_HELD, None, tree, seconds=False)
        length = await reader.sums(Metric.MEETING_HELD, None, tree, seconds=True)
        medians = await reader.medians(Metric.MEETING_HELD, tree)
        values = {
            s: [
                held[s].get(None, 0.0),
                round(length[s].get(None, 0.0) / 60, 1),
                medians.get(s, 0.0),
            ]
            for s in scopes
        }
    else:  # mentoring
        metrics = mentoring_metrics()
        people = await reader.people([bit(METRIC_BITS[m]) for m in metrics], tree)
        values = {s: [0.0] * len(metrics) for s in scopes}
        for i, metric in enumerate(metrics):
            sums = await reader.sums(metric, None, tree, seconds=False)
            for s in scopes:
                values[s][i] = sums[s].get(None, 0.0)
    for scope in scopes:
        for i, column in enumerate(columns):
            out.figures[(*scope, column)] = Figure(values[scope][i], people[scope][i])
        if has_row_total(dashboard):
            out.figures[(*scope, Column.TOTAL)] = Figure(
                sum(values[scope]), people[scope][len(columns)]
            )
            out.relations.append(((*scope, Column.TOTAL), [(*scope, c) for c in columns]))
    for column in columns:
        if (dashboard, column) not in MEDIANS:
            _hierarchy(out, tree, column)
    return out


def _relation(
    whole: Local, parts: Sequence[Local], value: Callable[[Local], float]
) -> Relation | None:
    """A relation whose constant is what the parts do not explain (given to the LP as known)."""
    if not parts:  # nothing to add up: saying "whole = its own value" would pin it
        return None
    constant = value(whole) - sum(value(p) for p in parts)
    return Relation(whole, tuple(parts), 0.0 if abs(constant) < 1e-9 else constant)


@dataclass
class System:
    """The linear system of one dashboard's publication (and the periods it must agree with)."""

    figures: dict[Key, Figure] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)

    def add(self, label: Any, period: PeriodFigures, fixed: dict[Local, bool] | None) -> None:
        for key, figure in period.figures.items():
            if fixed is not None:
                figure = Figure(figure.value, figure.people, fixed.get(key, True), fixed=True)
            self.figures[(label, *key)] = figure
        for whole, parts in period.relations:
            self._keep(
                _relation(
                    (label, *whole),
                    [(label, *p) for p in parts],
                    lambda key: period.value(tuple(key[1:])),
                )
            )

    def _keep(self, relation: Relation | None) -> None:
        if relation is not None:
            self.relations.append(relation)

    def over_time(self, week: Any, days: list[Any], periods: dict[Any, PeriodFigures]) -> None:
        """Days add up to their week, figure by figure and pair by pair."""

        def value(key: Local) -> float:
            return periods[key[0]].value(tuple(key[1:]))

        keys = set(periods[week].figures) | set(periods[week].atoms)
        for key in sorted(keys, key=repr):
            parts = [
                (d, *key) for d in days if key in periods[d].figures or key in periods[d].atoms
            ]
            self._keep(_relation((week, *key), parts, value))


async def tree_of(session: AsyncSession, org_id: int) -> Tree:
    rows = await session.execute(
        select(GroupScope.group_id, GroupScope.unit_id).where(GroupScope.org_id == org_id)
    )
    return Tree({g: u for g, u in rows})


async def _stored_visibility(
    session: AsyncSession, org_id: int, dashboard: Dashboard, days: list[date]
) -> dict[date, dict[Local, bool]]:
    P = PublishedFigure
    rows = await session.execute(
        select(P.period, P.scope, P.scope_id, P.column, P.suppressed).where(
            P.org_id == org_id,
            P.dashboard == dashboard,
            P.granularity == Granularity.DAY,
            P.period.in_(days),
        )
    )
    found: dict[date, dict[Local, bool]] = defaultdict(dict)
    for period, level, scope_id, column, suppressed in rows:
        found[period][(level, scope_id, column)] = bool(suppressed)
    return found


@dataclass
class Publication:
    rows: list[dict[str, Any]]
    linear_programs: int = 0
    unresolved: int = 0


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


async def prepare_period(
    session: AsyncSession, org_id: int, granularity: Granularity, start: date, k: int
) -> Publication:
    """Compute and suppress one period's figures of every dashboard; writes nothing (so the
    linear programs run outside any write transaction: SQLite has one writer)."""
    tree = await tree_of(session, org_id)
    publication = Publication([])
    label = (granularity, start)
    for dashboard in TABLES:
        current = await compute(session, org_id, dashboard, granularity, start, tree)
        system = System()
        system.add(label, current, None)
        if granularity is Granularity.WEEK and dashboard not in NOT_ADDITIVE_IN_TIME:
            # The week's days are published already (and immutable): they enter the system
            # as they were shown, and only the week's own figures may still be hidden.
            days = [start + timedelta(days=i) for i in range(7)]
            shown = await _stored_visibility(session, org_id, dashboard, days)
            periods: dict[Any, PeriodFigures] = {label: current}
            for day in days:
                periods[(Granularity.DAY, day)] = await compute(
                    session, org_id, dashboard, Granularity.DAY, day, tree
                )
                system.add((Granularity.DAY, day), periods[(Granularity.DAY, day)], shown[day])
            system.over_time(label, [(Granularity.DAY, d) for d in days], periods)
        # Linear programs are CPU work: off the event loop, so the office stays responsive.
        outcome = await asyncio.to_thread(decide, system.figures, system.relations, k)
        publication.linear_programs += outcome.linear_programs
        publication.unresolved += len(outcome.unresolved)
        for (level, scope_id, column), figure in current.figures.items():
            hidden = (label, level, scope_id, column) in outcome.hidden
            publication.rows.append(
                {
                    "org_id": org_id,
                    "dashboard": dashboard,
                    "granularity": granularity,
                    "period": start,
                    "scope": level,
                    "scope_id": scope_id,
                    "unit_id": _unit_of(tree, level, scope_id),
                    "column": column,
                    "value": None if hidden else figure.value,
                    "suppressed": hidden,
                }
            )
    return publication


def _unit_of(tree: Tree, level: ScopeLevel, scope_id: int | None) -> int | None:
    if level is ScopeLevel.UNIT:
        return scope_id
    if level is ScopeLevel.GROUP and scope_id is not None:
        return tree.group_unit.get(scope_id)
    return None


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
    end = _midnight(day + timedelta(days=1))
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
