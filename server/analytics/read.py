"""The read side of analytics: dashboards, scoped by role, from rollups only, suppressed.

This is the only module the admin sub-application imports. Every query here reads the
analytics tables (never raw events, never content); only ``person_names`` touches the
identity tables, for per-person activity where the organization's policy allows it, and the
admin sub-app runs it on the service's main connection (the dashboard role cannot).
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, case, distinct, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.layout import RoomKind
from server.analytics.metrics import Channel, Metric
from server.analytics.rollup import (
    CHANNEL_BITS,
    CROSS_GROUP_BIT,
    METRIC_BITS,
    ROOM_KIND_BITS,
    bit,
    week_of,
)
from server.analytics.suppression import Cell, suppress_small, suppress_table
from server.analytics.tables import (
    AnalyticsPolicy,
    AnalyticsRollup,
    GroupScope,
    LengthHistogram,
    PairTie,
    Period,
    PersonDay,
    PersonWeek,
)
from server.db.models import Group, Organization, Unit, User
from server.errors import forbidden, invalid, not_found
from server.identity import Principal, Role
from server.permissions import may_manage

MAX_DAYS = 366


class ScopeKind(StrEnum):
    ORG = "org"
    UNIT = "unit"
    GROUP = "group"


class Dashboard(StrEnum):
    ACTIVE = "active"  # distinct active people, by group
    MESSAGES = "messages"  # messages sent, by channel
    MEETINGS = "meetings"  # meetings held, their minutes and median length
    ROOMS = "rooms"  # minutes in rooms, by room kind
    MENTORING = "mentoring"  # mentoring metrics (mentoring_*), when there are any
    TIES_MINUTES = "ties_minutes"  # minutes with people of other groups, by group
    TIES_NEW_PAIRS = "ties_new_pairs"  # cross-group pairs that met for the first time
    PEOPLE = "people"  # per-person activity (policy), not a table of figures


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    org_id: int
    unit_id: int | None = None
    group_id: int | None = None

    @property
    def label(self) -> str:
        if self.kind is ScopeKind.GROUP:
            return f"group:{self.group_id}"
        if self.kind is ScopeKind.UNIT:
            return f"unit:{self.unit_id}"
        return "org"

    def covers(self, unit_id: int | None, group_id: int | None) -> bool:
        if self.kind is ScopeKind.GROUP:
            return group_id == self.group_id
        if self.kind is ScopeKind.UNIT:
            return unit_id == self.unit_id
        return True


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # inclusive
    granularity: Granularity = Granularity.WEEK

    def __post_init__(self) -> None:
        object.__setattr__(self, "granularity", Granularity(self.granularity))
        if self.end < self.start:
            raise invalid("the period ends before it starts")
        if (self.end - self.start).days >= MAX_DAYS:
            raise invalid(f"a period covers at most {MAX_DAYS} days")
        if self.granularity is Granularity.WEEK:
            # Weeks are whole ISO weeks, so they can be counted from the person-weeks rollup
            # (and a first or last week never covers fewer days than its label says).
            object.__setattr__(self, "start", week_of(self.start))
            object.__setattr__(self, "end", week_of(self.end) + timedelta(days=6))

    def periods(self) -> list[tuple[date, date]]:
        """[start, end) of each day or ISO week (Monday to Sunday), clipped to the window."""
        stop = self.end + timedelta(days=1)
        result = []
        cursor = self.start
        while cursor < stop:
            if self.granularity is Granularity.DAY:
                nxt = cursor + timedelta(days=1)
            else:
                nxt = cursor + timedelta(days=7 - cursor.weekday())
            nxt = min(nxt, stop)
            result.append((cursor, nxt))
            cursor = nxt
        return result


def default_window(today: date) -> Window:
    """This ISO week and the three before it."""
    return Window(week_of(today) - timedelta(weeks=3), today, Granularity.WEEK)


# -- scopes --------------------------------------------------------------------------------


def _parse_scope(text: str) -> tuple[ScopeKind, int | None]:
    if text == "org":
        return ScopeKind.ORG, None
    kind, _, number = text.partition(":")
    if kind in ("unit", "group") and number.isdigit() and 0 < len(number) <= 9:
        return ScopeKind(kind), int(number)
    raise invalid("scope is org, unit:<id> or group:<id>")


def may_view_dashboards(principal: Principal) -> bool:
    return not principal.is_guest and any(
        g.role in (Role.ORG_ADMIN, Role.UNIT_ADMIN, Role.GROUP_LEAD) for g in principal.grants
    )


def scopes_of(principal: Principal) -> list[str]:
    """The scopes a person's grants give them, widest first."""
    labels: list[str] = []
    for grant in principal.grants:
        if grant.role is Role.ORG_ADMIN:
            labels.insert(0, "org")
        elif grant.role is Role.UNIT_ADMIN and grant.unit_id is not None:
            labels.append(f"unit:{grant.unit_id}")
        elif grant.role is Role.GROUP_LEAD and grant.group_id is not None:
            labels.append(f"group:{grant.group_id}")
    return list(dict.fromkeys(labels))


async def resolve_scope(session: AsyncSession, principal: Principal, text: str | None) -> Scope:
    """The scope asked for, if the principal may see it: 403 inside their organization,
    404 for a scope that is not in it (nothing about other organizations leaks)."""
    if not may_view_dashboards(principal):
        raise forbidden("dashboards are for organization admins, unit admins and group leads")
    if text is None:
        text = scopes_of(principal)[0]
    kind, number = _parse_scope(text)
    org_id = principal.org_id
    if kind is ScopeKind.ORG:
        if not may_manage(principal, org_id=org_id, unit_id=None, group_id=None):
            raise forbidden("only organization admins see the whole organization")
        return Scope(ScopeKind.ORG, org_id)
    if kind is ScopeKind.UNIT:
        for grant in principal.grants:
            if grant.role is Role.UNIT_ADMIN and grant.unit_id == number:
                return Scope(ScopeKind.UNIT, org_id, unit_id=number)
        owner = await session.scalar(
            select(GroupScope.org_id).where(GroupScope.unit_id == number).limit(1)
        )
        if owner is None or owner != org_id:
            raise not_found("no engagement data for that unit")
        if not may_manage(principal, org_id=org_id, unit_id=number, group_id=None):
            raise forbidden("that unit is outside your scope")
        return Scope(ScopeKind.UNIT, org_id, unit_id=number)
    for grant in principal.grants:
        if grant.role is Role.GROUP_LEAD and grant.group_id == number:
            return Scope(ScopeKind.GROUP, org_id, unit_id=grant.unit_id, group_id=number)
    known = await session.get(GroupScope, number)
    if known is None or known.org_id != org_id:
        raise not_found("no engagement data for that group")
    if not may_manage(principal, org_id=org_id, unit_id=known.unit_id, group_id=number):
        raise forbidden("that group is outside your scope")
    return Scope(ScopeKind.GROUP, org_id, unit_id=known.unit_id, group_id=number)


async def _groups_in(session: AsyncSession, scope: Scope) -> list[int]:
    if scope.kind is ScopeKind.GROUP:
        assert scope.group_id is not None
        return [scope.group_id]
    query = select(GroupScope.group_id).where(GroupScope.org_id == scope.org_id)
    if scope.kind is ScopeKind.UNIT:
        query = query.where(GroupScope.unit_id == scope.unit_id)
    return list((await session.scalars(query.order_by(GroupScope.group_id))).all())


def _in_scope(table: Any, scope: Scope) -> ColumnElement[bool]:
    conditions = [table.org_id == scope.org_id]
    if scope.kind is ScopeKind.UNIT:
        conditions.append(table.unit_id == scope.unit_id)
    elif scope.kind is ScopeKind.GROUP:
        conditions.append(table.group_id == scope.group_id)
    return and_(*conditions)


# -- tables --------------------------------------------------------------------------------


@dataclass
class Table:
    dashboard: Dashboard
    scope: Scope
    window: Window
    unit: str
    min_group_size: int
    columns: list[str]
    rows: list[str]
    grid: list[list[Cell]]
    row_totals: list[Cell] | None = None
    column_totals: list[Cell] | None = None
    total: Cell | None = None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def cell(c: Cell | None) -> dict[str, Any] | None:
            if c is None:
                return None
            return {"value": c.shown(), "suppressed": c.suppressed}

        return {
            "dashboard": self.dashboard.value,
            "scope": self.scope.label,
            "from": self.window.start.isoformat(),
            "to": self.window.end.isoformat(),
            "granularity": self.window.granularity.value,
            "unit": self.unit,
            "min_group_size": self.min_group_size,
            "columns": self.columns,
            "rows": [
                {
                    "period": label,
                    "cells": [cell(c) for c in self.grid[r]],
                    "total": cell(self.row_totals[r]) if self.row_totals else None,
                }
                for r, label in enumerate(self.rows)
            ],
            "column_totals": (
                [cell(c) for c in self.column_totals] if self.column_totals is not None else None
            ),
            "total": cell(self.total),
        }

    def as_csv(self) -> str:
        """One line per period, one column per figure; hidden figures read ``suppressed``."""

        def text(c: Cell | None) -> str:
            if c is None:
                return ""
            return "suppressed" if c.suppressed else _number(c.value)

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        totals = self.row_totals is not None
        writer.writerow(["period", *self.columns, *(["total"] if totals else [])])
        for r, label in enumerate(self.rows):
            line = [label, *(text(c) for c in self.grid[r])]
            if self.row_totals is not None:
                line.append(text(self.row_totals[r]))
            writer.writerow(line)
        if self.column_totals is not None:
            writer.writerow(["total", *(text(c) for c in self.column_totals), text(self.total)])
        return out.getvalue()


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _period_of(column: Any, periods: list[tuple[date, date]], as_datetime: bool) -> Any:
    """A CASE mapping a day (or day bucket) to the index of its period."""
    whens = [
        (column < (_midnight(end) if as_datetime else end), index)
        for index, (_, end) in enumerate(periods[:-1])
    ]
    return case(*whens, else_=len(periods) - 1) if whens else literal(len(periods) - 1)


def _mask(*positions: int) -> int:
    mask = 0
    for position in positions:
        mask |= bit(position)
    return mask


ACTIVE = -1  # in place of a mask: "active that day" (activity events), not a contribution bit


@dataclass
class _People:
    cells: list[list[int]]  # [period][column]
    row_totals: list[int]
    column_totals: list[int]
    total: int


def _person_rows(window: Window) -> tuple[Any, Any]:
    """The per-person table to count people in, and its date column: whole ISO weeks read
    ``analytics_person_weeks`` (a seventh of the rows), days read ``analytics_person_days``."""
    if window.granularity is Granularity.WEEK:
        return PersonWeek, PersonWeek.week
    return PersonDay, PersonDay.day


def _flag(table: Any, mask: int) -> ColumnElement[bool]:
    if mask == ACTIVE:
        return cast(ColumnElement[bool], table.events > 0)
    return cast(ColumnElement[bool], table.contributions.op("&")(mask) != 0)


async def _people_by_bits(
    session: AsyncSession, scope: Scope, window: Window, masks: list[int], total_mask: int
) -> _People:
    """Distinct people per (period, column), per period, per column and overall, where a
    column holds the people whose contributions meet its mask.

    One pass per answer: rows are first reduced to one per (period, person) with a 0/1 flag
    per column (``max``), then flags are summed. Counting ``DISTINCT`` once per column would
    sort the rows once per column instead.
    """
    table, day = _person_rows(window)
    periods = window.periods()
    where = and_(_in_scope(table, scope), day >= window.start, day <= window.end)
    flags = [
        func.max(case((_flag(table, mask), 1), else_=0)).label(f"f{i}")
        for i, mask in enumerate([*masks, total_mask])
    ]
    index = _period_of(day, periods, as_datetime=False).label("p")
    per_period = select(index, *flags).where(where).group_by(index, table.person).subquery()
    per_window = select(*flags).where(where).group_by(table.person).subquery()

    def sums(source: Any) -> list[Any]:
        return [func.coalesce(func.sum(source.c[f"f{i}"]), 0) for i in range(len(masks) + 1)]

    cells = [[0] * len(masks) for _ in periods]
    row_totals = [0] * len(periods)
    for row in await session.execute(
        select(per_period.c.p, *sums(per_period)).group_by(per_period.c.p)
    ):
        cells[row[0]] = [int(n) for n in row[1:-1]]
        row_totals[row[0]] = int(row[-1])
    overall = [int(n) for n in (await session.execute(select(*sums(per_window)))).one()]
    return _People(cells, row_totals, overall[:-1], overall[-1])


async def _people_by_group(
    session: AsyncSession, scope: Scope, window: Window, groups: list[int], mask: int
) -> _People:
    """Distinct people whose contributions meet ``mask``, per (period, group), per period,
    per group and overall: four ``COUNT(DISTINCT person)`` grouped by the dimension itself,
    rather than one conditional count per group."""
    table, day = _person_rows(window)
    periods = window.periods()
    column = {g: c for c, g in enumerate(groups)}
    where = and_(
        _in_scope(table, scope), day >= window.start, day <= window.end, _flag(table, mask)
    )
    index = _period_of(day, periods, as_datetime=False).label("p")
    people = func.count(distinct(table.person))
    cells = [[0] * len(groups) for _ in periods]
    for p, group_id, n in await session.execute(
        select(index, table.group_id, people).where(where).group_by(index, table.group_id)
    ):
        if group_id in column:
            cells[p][column[group_id]] = int(n)
    row_totals = [0] * len(periods)
    for p, n in await session.execute(select(index, people).where(where).group_by(index)):
        row_totals[p] = int(n)
    column_totals = [0] * len(groups)
    for group_id, n in await session.execute(
        select(table.group_id, people).where(where).group_by(table.group_id)
    ):
        if group_id in column:
            column_totals[column[group_id]] = int(n)
    total = int(await session.scalar(select(people).where(where)) or 0)
    return _People(cells, row_totals, column_totals, total)


async def _sums(
    session: AsyncSession,
    scope: Scope,
    window: Window,
    metric: Metric,
    dimension: Any,
    *,
    seconds: bool,
) -> dict[tuple[int, Any], float]:
    """Sum of count (or seconds) of a metric per (period index, dimension value)."""
    R = AnalyticsRollup
    periods = window.periods()
    index = _period_of(R.bucket, periods, as_datetime=True).label("p")
    value = func.sum(R.seconds if seconds else R.count)
    keys = [index] if dimension is None else [index, dimension]
    rows = await session.execute(
        select(*keys, value)
        .where(
            _in_scope(R, scope),
            R.period == Period.DAY,
            R.metric == metric,
            R.bucket >= _midnight(window.start),
            R.bucket < _midnight(window.end + timedelta(days=1)),
        )
        .group_by(*keys)
    )
    if dimension is None:
        return {(row[0], None): float(row[1] or 0) for row in rows}
    return {(row[0], row[1]): float(row[2] or 0) for row in rows}


def _cells(values: list[list[float]], people: list[list[int]]) -> list[list[Cell]]:
    return [
        [Cell(v, p) for v, p in zip(vs, ps, strict=True)]
        for vs, ps in zip(values, people, strict=True)
    ]


def _additive(
    dashboard: Dashboard,
    scope: Scope,
    window: Window,
    k: int,
    columns: list[str],
    values: list[list[float]],
    people: _People,
    unit: str,
    *,
    across_periods: bool = True,
) -> Table:
    """A table whose cells add up across columns into row totals (and, ``across_periods``,
    down the periods into column totals and a grand total)."""
    grid = _cells(values, people.cells)
    row_totals = [Cell(sum(vs), p) for vs, p in zip(values, people.row_totals, strict=True)]
    column_totals: list[Cell] | None = [
        Cell(sum(values[r][c] for r in range(len(values))), people.column_totals[c])
        for c in range(len(columns))
    ]
    total: Cell | None = Cell(sum(map(sum, values)), people.total)
    if not across_periods:
        column_totals = total = None
    suppress_table(grid, row_totals, column_totals, total, k)
    return Table(
        dashboard,
        scope,
        window,
        unit,
        k,
        columns,
        [start.isoformat() for start, _ in window.periods()],
        grid,
        row_totals,
        column_totals,
        total,
    )


def _plain(
    dashboard: Dashboard,
    scope: Scope,
    window: Window,
    k: int,
    columns: list[str],
    grid: list[list[Cell]],
    unit: str,
) -> Table:
    suppress_small([c for row in grid for c in row], k)
    rows = [start.isoformat() for start, _ in window.periods()]
    return Table(dashboard, scope, window, unit, k, columns, rows, grid)


async def dashboard(
    session: AsyncSession, dashboard: Dashboard, scope: Scope, window: Window, k: int
) -> Table:
    """One dashboard table for a resolved scope (see ``resolve_scope``)."""
    if dashboard is Dashboard.PEOPLE:
        raise invalid("per-person activity is not a table of figures; use people_activity")
    builder = _BUILDERS[dashboard]
    return await builder(session, scope, window, max(3, k))


async def _active(session: AsyncSession, scope: Scope, window: Window, k: int) -> Table:
    groups = await _groups_in(session, scope)
    people = await _people_by_group(session, scope, window, groups, ACTIVE)
    values = [[float(n) for n in row] for row in people.cells]
    # People in different groups add up within a period; the same people on different days
    # do not add up across periods, so there are no column totals to subtract from.
    table = _additive(
        Dashboard.ACTIVE,
        scope,
        window,
        k,
        [f"group:{g}" for g in groups],
        values,
        people,
        "people",
        across_periods=False,
    )
    if table.row_totals is not None:
        for cell, n in zip(table.row_totals, people.row_totals, strict=True):
            cell.value = float(n)
    return table


async def _messages(session: AsyncSession, scope: Scope, window: Window, k: int) -> Table:
    channels = list(Channel)
    sums = await _sums(
        session, scope, window, Metric.MESSAGE_SENT, AnalyticsRollup.channel, seconds=False
    )
    values = [[sums.get((r, ch), 0.0) for ch in channels] for r in range(len(window.periods()))]
    people = await _people_by_bits(
        session,
        scope,
        window,
        [bit(CHANNEL_BITS[ch]) for ch in channels],
        bit(METRIC_BITS[Metric.MESSAGE_SENT]),
    )
    return _additive(
        Dashboard.MESSAGES,
        scope,
        window,
        k,
        [c.value for c in channels],
        values,
        people,
        "messages",
    )


async def _rooms(session: AsyncSession, scope: Scope, window: Window, k: int) -> Table:
    kinds = list(RoomKind)
    sums = await _sums(
        session, scope, window, Metric.ROOM_SECONDS, AnalyticsRollup.room_kind, seconds=True
    )
    values = [
        [round(sums.get((r, kind), 0.0) / 60, 1) for kind in kinds]
        for r in range(len(window.periods()))
    ]
    people = await _people_by_bits(
        session,
        scope,
        window,
        [bit(ROOM_KIND_BITS[kind]) for kind in kinds],
        bit(METRIC_BITS[Metric.ROOM_SECONDS]),
    )
    return _additive(
        Dashboard.ROOMS, scope, window, k, [kind.value for kind in kinds], values, people, "minutes"
    )


async def _meetings(session: AsyncSession, scope: Scope, window: Window, k: int) -> Table:
    periods = window.periods()
    held = await _sums(session, scope, window, Metric.MEETING_HELD, None, seconds=False)
    length = await _sums(session, scope, window, Metric.MEETING_HELD, None, seconds=True)
    mask = _mask(METRIC_BITS[Metric.MEETING_HELD], METRIC_BITS[Metric.MEETING_SECONDS])
    people = await _people_by_bits(session, scope, window, [mask], mask)
    medians = await _median_minutes(session, scope, window, Metric.MEETING_HELD)
    grid = [
        [
            Cell(held.get((r, None), 0.0), people.row_totals[r]),
            Cell(round(length.get((r, None), 0.0) / 60, 1), people.row_totals[r]),
            Cell(medians.get(r), people.row_totals[r]),
        ]
        for r in range(len(periods))
    ]
    return _plain(
        Dashboard.MEETINGS,
        scope,
        window,
        k,
        ["held", "minutes", "median_minutes"],
        grid,
        "meetings, minutes",
    )


async def _median_minutes(
    session: AsyncSession, scope: Scope, window: Window, metric: Metric
) -> dict[int, float]:
    L = LengthHistogram
    periods = window.periods()
    index = _period_of(L.day, periods, as_datetime=False).label("p")
    rows = await session.execute(
        select(index, L.minutes, func.sum(L.n))
        .where(_in_scope(L, scope), L.metric == metric, L.day >= window.start)
        .where(L.day <= window.end)
        .group_by(index, L.minutes)
    )
    histograms: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p, minutes, n in rows:
        histograms[p].append((minutes, int(n)))
    return {p: median_of(h) for p, h in histograms.items()}


def lower_bound_people(pairs: int) -> int:
    """The fewest distinct people that can form ``pairs`` pairs across two groups."""
    return 0 if pairs <= 0 else math.ceil(2 * math.sqrt(pairs))


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
    return sum(found) / len(found)


def mentoring_metrics() -> list[Metric]:
    """Mentoring metrics are the ones named ``mentoring_*`` (see docs/analytics.md)."""
    return [m for m in Metric if m.value.startswith("mentoring_")]


async def _mentoring(session: AsyncSession, scope: Scope, window: Window, k: int) -> Table:
    metrics = mentoring_metrics()
    periods = window.periods()
    grid: list[list[Cell]] = [[] for _ in periods]
    people = await _people_by_bits(
        session,
        scope,
        window,
        [bit(METRIC_BITS[m]) for m in metrics],
        _mask(*(METRIC_BITS[m] for m in metrics)),
    )
    for c, metric in enumerate(metrics):
        sums = await _sums(session, scope, window, metric, None, seconds=False)
        for r in range(len(periods)):
            grid[r].append(Cell(sums.get((r, None), 0.0), people.cells[r][c]))
    return _plain(Dashboard.MENTORING, scope, window, k, [m.value for m in metrics], grid, "events")


async def _ties_minutes(session: AsyncSession, scope: Scope, window: Window, k: int) -> Table:
    R = AnalyticsRollup
    groups = await _groups_in(session, scope)
    column = {g: c for c, g in enumerate(groups)}
    periods = window.periods()
    index = _period_of(R.bucket, periods, as_datetime=True).label("p")
    cross = and_(
        R.org_id == scope.org_id,
        R.period == Period.DAY,
        R.metric == Metric.ROOM_TOGETHER_SECONDS,
        R.group_id.is_not(None),
        R.peer_group_id.is_not(None),
        R.group_id != R.peer_group_id,
        R.bucket >= _midnight(window.start),
        R.bucket < _midnight(window.end + timedelta(days=1)),
    )
    seconds = [[0.0] * len(groups) for _ in periods]
    # Time together counts for both groups: summed by each side in SQL (a few rows per group
    # and period) rather than fetching every pair of groups that met.
    for side in (R.group_id, R.peer_group_id):
        rows = await session.execute(
            select(index, side, func.sum(R.seconds)).where(cross).group_by(index, side)
        )
        for p, group_id, total in rows:
            if group_id in column:
                seconds[p][column[group_id]] += float(total or 0)
    people = await _people_by_group(session, scope, window, groups, bit(CROSS_GROUP_BIT))
    grid = [
        [Cell(round(seconds[r][c] / 60, 1), people.cells[r][c]) for c in range(len(groups))]
        for r in range(len(periods))
    ]
    return _plain(
        Dashboard.TIES_MINUTES,
        scope,
        window,
        k,
        [f"group:{g}" for g in groups],
        grid,
        "minutes with people of other groups",
    )


async def _ties_new_pairs(session: AsyncSession, scope: Scope, window: Window, k: int) -> Table:
    groups = await _groups_in(session, scope)
    column = {g: c for c, g in enumerate(groups)}
    periods = window.periods()
    index = _period_of(PairTie.first_day, periods, as_datetime=False).label("p")
    rows = await session.execute(
        select(index, PairTie.group_a, PairTie.group_b, func.count())
        .where(
            PairTie.org_id == scope.org_id,
            PairTie.first_day >= window.start,
            PairTie.first_day <= window.end,
        )
        .group_by(index, PairTie.group_a, PairTie.group_b)
    )
    pairs = [[0] * len(groups) for _ in periods]
    for p, group_a, group_b, n in rows:
        for g in (group_a, group_b):
            if g in column:
                pairs[p][column[g]] += int(n)
    # The pair hash hides who met; the fewest people that many pairs can involve stands in
    # for the people a figure covers, so a small count is hidden rather than shown.
    grid = [[Cell(float(n), lower_bound_people(n)) for n in pairs[r]] for r in range(len(periods))]
    return _plain(
        Dashboard.TIES_NEW_PAIRS,
        scope,
        window,
        k,
        [f"group:{g}" for g in groups],
        grid,
        "new cross-group pairs",
    )


_BUILDERS = {
    Dashboard.ACTIVE: _active,
    Dashboard.MESSAGES: _messages,
    Dashboard.MEETINGS: _meetings,
    Dashboard.ROOMS: _rooms,
    Dashboard.MENTORING: _mentoring,
    Dashboard.TIES_MINUTES: _ties_minutes,
    Dashboard.TIES_NEW_PAIRS: _ties_new_pairs,
}


# -- per-person activity (policy) -----------------------------------------------------------


async def per_person_activity_allowed(session: AsyncSession, org_id: int) -> bool:
    return bool(
        await session.scalar(
            select(AnalyticsPolicy.per_person_activity).where(AnalyticsPolicy.org_id == org_id)
        )
    )


@dataclass(frozen=True)
class PersonActivity:
    person: uuid.UUID
    events: int
    messages: int
    meetings: int
    last_active: date | None


async def people_activity(
    session: AsyncSession, scope: Scope, window: Window
) -> list[PersonActivity]:
    """Counts in the window and the last active day (up to its end) of each person seen in
    the scope. Refused unless the organization's policy turns it on."""
    if not await per_person_activity_allowed(session, scope.org_id):
        raise forbidden("this organization's policy does not show per-person activity")
    P = PersonDay
    in_window = P.day >= window.start

    def within(column: Any) -> Any:
        return func.coalesce(func.sum(case((in_window, column), else_=0)), 0)

    rows = await session.execute(
        select(
            P.person,
            within(P.events),
            within(P.messages),
            within(P.meetings),
            func.max(case((P.events > 0, P.day))),
        )
        .where(_in_scope(P, scope), P.day <= window.end)
        .group_by(P.person)
        .order_by(P.person)
    )
    return [
        PersonActivity(person, int(events), int(messages), int(meetings), last)
        for person, events, messages, meetings, last in rows
    ]


async def person_names(
    session: AsyncSession, org_id: int, persons: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, str]]:
    """User id and display name behind pseudonyms (main connection only; see module doc)."""
    if not persons:
        return {}
    rows = await session.execute(
        select(User.analytics_id, User.id, User.display_name).where(
            User.org_id == org_id, User.analytics_id.in_(persons)
        )
    )
    return {person: (user_id, name) for person, user_id, name in rows if person is not None}


async def scope_names(session: AsyncSession, principal: Principal) -> dict[str, str]:
    """Names of the organization, units and groups whose dashboards the principal may open,
    keyed by scope label (main connection only, like ``person_names``): the dashboard page
    offers these scopes and names its columns with them."""
    org_id = principal.org_id
    names: dict[str, str] = {}
    if may_manage(principal, org_id=org_id, unit_id=None, group_id=None):
        org_name = await session.scalar(select(Organization.name).where(Organization.id == org_id))
        names["org"] = org_name or "Organization"
    units = await session.execute(
        select(Unit.id, Unit.name).where(Unit.org_id == org_id).order_by(Unit.name, Unit.id)
    )
    for unit_id, name in units:
        if may_manage(principal, org_id=org_id, unit_id=unit_id, group_id=None):
            names[f"unit:{unit_id}"] = name
    groups = await session.execute(
        select(Group.id, Group.unit_id, Group.name)
        .where(Group.org_id == org_id)
        .order_by(Group.name, Group.id)
    )
    for group_id, unit_id, name in groups:
        if may_manage(principal, org_id=org_id, unit_id=unit_id, group_id=group_id):
            names[f"group:{group_id}"] = name
    return names


def people_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user_id", "display_name", "events", "messages", "meetings", "last_active"])
    for row in rows:
        writer.writerow(
            [
                row["user_id"] if row["user_id"] is not None else "",
                row["display_name"] or "",
                row["events"],
                row["messages"],
                row["meetings"],
                row["last_active"] or "",
            ]
        )
    return out.getvalue()


def figure_mask(dashboard: Dashboard) -> int | None:
    """Which contribution bits put a person into a dashboard's figures (None: ACTIVE and
    PEOPLE, which count anyone with ``events > 0``)."""
    if dashboard in (Dashboard.ACTIVE, Dashboard.PEOPLE):
        return None
    masks = {
        Dashboard.MESSAGES: bit(METRIC_BITS[Metric.MESSAGE_SENT]),
        Dashboard.ROOMS: bit(METRIC_BITS[Metric.ROOM_SECONDS]),
        Dashboard.MEETINGS: _mask(
            METRIC_BITS[Metric.MEETING_HELD], METRIC_BITS[Metric.MEETING_SECONDS]
        ),
        Dashboard.MENTORING: _mask(*(METRIC_BITS[m] for m in mentoring_metrics())),
        Dashboard.TIES_MINUTES: bit(CROSS_GROUP_BIT),
        Dashboard.TIES_NEW_PAIRS: bit(CROSS_GROUP_BIT),
    }
    return masks[dashboard]


__all__ = [
    "Dashboard",
    "Granularity",
    "PersonActivity",
    "Scope",
    "ScopeKind",
    "Table",
    "Window",
    "dashboard",
    "default_window",
    "may_view_dashboards",
    "people_activity",
    "person_names",
    "resolve_scope",
    "scope_names",
    "scopes_of",
]
