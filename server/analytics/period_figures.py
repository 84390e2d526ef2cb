"""One organization's figures of one closed period, for every scope at once.

What a publication holds before anything is hidden: per dashboard, each scope's figures (the
organization, each unit, each group), the cross-group "atoms" no scope shows, and the relations
between them (groups add up to their unit, units to the organization, columns to the row
total). Read from the rollups and person-days the fold wrote; writes nothing. Deciding what to
hide is ``server.analytics.publication``; when periods are published is
``server.analytics.publish``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.layout import RoomKind
from server.analytics.disclosure import Figure
from server.analytics.figures import Column, Dashboard, Granularity, ScopeLevel
from server.analytics.metrics import Channel, Metric
from server.analytics.rollup import (
    CHANNEL_BITS,
    CROSS_GROUP_BIT,
    METRIC_BITS,
    ROOM_KIND_BITS,
    bit,
)
from server.analytics.tables import (
    AnalyticsRollup,
    GroupScope,
    LengthHistogram,
    PairTie,
    Period,
    PersonDay,
    PersonWeek,
)

ACTIVE = -1  # in place of a mask: anyone with activity events
MEDIANS = frozenset({(Dashboard.MEETINGS, Column.MEDIAN_MINUTES)})
# Dashboards whose columns are groups (not channels, room kinds or metrics).
GROUP_COLUMNS = frozenset({Dashboard.ACTIVE, Dashboard.TIES_MINUTES, Dashboard.TIES_NEW_PAIRS})

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


def midnight(day: date) -> datetime:
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
            R.bucket >= midnight(self.start),
            R.bucket < midnight(self.stop),
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


async def tree_of(session: AsyncSession, org_id: int) -> Tree:
    rows = await session.execute(
        select(GroupScope.group_id, GroupScope.unit_id).where(GroupScope.org_id == org_id)
    )
    return Tree({g: u for g, u in rows})
