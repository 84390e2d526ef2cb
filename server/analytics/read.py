"""The read side of analytics: dashboards, scoped by role, from published figures only.

This is the only module the admin sub-application imports. Dashboards read the figures the
publication job wrote for closed periods (``server.analytics.publish``), already suppressed
over the whole organization, filtered to the caller's scope; nothing is computed per request,
so no two answers can be combined into more than the publication shows. Every query here
reads the analytics tables (never raw events, never content); only ``person_names`` touches the
identity tables, for per-person activity where the organization's policy allows it, and the
admin sub-app runs it on the service's main connection (the dashboard role cannot).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics.figures import Column, Dashboard, Granularity, ScopeLevel
from server.analytics.metrics import Metric
from server.analytics.period_figures import (
    GROUP_COLUMNS,
    columns_of,
    has_row_total,
    mask_of,
    mentoring_metrics,
)
from server.analytics.rollup import CROSS_GROUP_BIT, METRIC_BITS, bit, week_of
from server.analytics.suppression import Cell
from server.analytics.tables import (
    AnalyticsPolicy,
    GroupScope,
    PersonDay,
    PublishedFigure,
    PublishedPeriod,
)
from server.db.models import Group, Organization, Unit, User
from server.infra.errors import forbidden, invalid, not_found
from server.people.identity import Principal, Role
from server.people.permissions import may_manage

MAX_DAYS = 366


class ScopeKind(StrEnum):
    ORG = "org"
    UNIT = "unit"
    GROUP = "group"


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
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def cell(c: Cell | None) -> dict[str, Any] | None:
            if c is None:
                return None
            return {"value": c.shown(), "suppressed": c.suppressed, "pending": c.pending}

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
                    "pending": all(c.pending for c in self.grid[r])
                    if self.grid[r]
                    else bool(self.row_totals and self.row_totals[r].pending),
                    "cells": [cell(c) for c in self.grid[r]],
                    "total": cell(self.row_totals[r]) if self.row_totals else None,
                }
                for r, label in enumerate(self.rows)
            ],
        }

    def as_csv(self) -> str:
        """One line per period, one column per figure; hidden figures read ``suppressed``,
        figures of a period not yet closed ``pending``."""

        def text(c: Cell | None) -> str:
            if c is None:
                return ""
            if c.pending:
                return "pending"
            return "suppressed" if c.suppressed else _number(c.value)

        totals = self.row_totals is not None
        lines = [["period", *self.columns, *(["total"] if totals else [])]]
        for r, label in enumerate(self.rows):
            line = [label, *(text(c) for c in self.grid[r])]
            if self.row_totals is not None:
                line.append(text(self.row_totals[r]))
            lines.append(line)
        return csv_text(lines)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


UNITS = {
    Dashboard.ACTIVE: "people",
    Dashboard.MESSAGES: "messages",
    Dashboard.ROOMS: "minutes",
    Dashboard.MEETINGS: "meetings, minutes",
    Dashboard.MENTORING: "events",
    Dashboard.TIES_MINUTES: "minutes with people of other groups",
    Dashboard.TIES_NEW_PAIRS: "new cross-group pairs",
}


async def _published_periods(
    session: AsyncSession, scope: Scope, window: Window, starts: list[date]
) -> set[date]:
    """The periods of the window whose figures are published. A period before the first
    one ever published holds no data at all (publication starts with the first week that
    has any), so it reads as published and empty rather than pending."""
    P = PublishedPeriod
    where = and_(P.org_id == scope.org_id, P.granularity == window.granularity)
    done = set(
        (
            await session.scalars(
                select(P.period).where(where, P.period >= window.start, P.period <= window.end)
            )
        ).all()
    )
    first = await session.scalar(select(func.min(P.period)).where(where))
    if first is not None:
        done |= {start for start in starts if start < first}
    return done


def _figure_filter(dashboard: Dashboard, scope: Scope) -> ColumnElement[bool]:
    F = PublishedFigure
    if dashboard in GROUP_COLUMNS:
        groups = [F.scope == ScopeLevel.GROUP]
        if scope.kind is ScopeKind.UNIT:
            groups.append(F.unit_id == scope.unit_id)
        elif scope.kind is ScopeKind.GROUP:
            groups.append(F.scope_id == scope.group_id)
        own = and_(F.scope == ScopeLevel(scope.kind.value), F.column == Column.TOTAL)
        if scope.kind is ScopeKind.UNIT:
            own = and_(own, F.scope_id == scope.unit_id)
        return or_(and_(*groups), own)
    scope_id = scope.unit_id if scope.kind is ScopeKind.UNIT else scope.group_id
    level = ScopeLevel(scope.kind.value)
    return and_(
        F.scope == level, F.scope_id.is_(None) if scope_id is None else F.scope_id == scope_id
    )


async def dashboard(
    session: AsyncSession, dashboard: Dashboard, scope: Scope, window: Window, k: int
) -> Table:
    """One dashboard table for a resolved scope (see ``resolve_scope``), read from the
    published figures only (``server.analytics.publish``): one row per period, nothing for a
    period not yet published (``pending``), no totals down the periods."""
    if dashboard is Dashboard.PEOPLE:
        raise invalid("per-person activity is not a table of figures; use people_activity")
    starts = [start for start, _ in window.periods()]
    published = await _published_periods(session, scope, window, starts)
    F = PublishedFigure
    rows = await session.execute(
        select(F.period, F.scope, F.scope_id, F.column, F.value, F.suppressed).where(
            F.org_id == scope.org_id,
            F.dashboard == dashboard,
            F.granularity == window.granularity,
            F.period >= window.start,
            F.period <= window.end,
            _figure_filter(dashboard, scope),
        )
    )
    found: dict[tuple[date, Any], Cell] = {}
    for period, level, scope_id, column, value, suppressed in rows:
        key = (
            f"group:{scope_id}"
            if level is ScopeLevel.GROUP and dashboard in GROUP_COLUMNS
            else column
        )
        if column is Column.TOTAL:
            key = Column.TOTAL
        found[(period, key)] = Cell(value, 0, suppressed=bool(suppressed))

    def cell(start: date, key: Any) -> Cell:
        if start not in published:
            return Cell(None, 0, suppressed=False, pending=True)
        return found.get((start, key)) or Cell(None, 0, suppressed=True)

    if dashboard in GROUP_COLUMNS:
        columns = [f"group:{g}" for g in await _groups_in(session, scope)]
    else:
        columns = [c.value for c in columns_of(dashboard)]
    grid = [
        [cell(start, c if dashboard in GROUP_COLUMNS else Column(c)) for c in columns]
        for start in starts
    ]
    row_totals = None
    if has_row_total(dashboard):
        if dashboard is Dashboard.ACTIVE and scope.kind is ScopeKind.GROUP:
            row_totals = [cell(start, f"group:{scope.group_id}") for start in starts]
        else:
            row_totals = [cell(start, Column.TOTAL) for start in starts]
    return Table(
        dashboard,
        scope,
        window,
        UNITS[dashboard],
        k,
        columns,
        [start.isoformat() for start in starts],
        grid,
        row_totals,
    )


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula: text starting with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return gets a leading single quote (OWASP's advice
    on CSV injection). Numbers are written as numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def csv_text(lines: list[list[Any]]) -> str:
    """Every CSV the service writes, cells escaped by ``csv_cell``. A cell holding a comma, a
    quote or a line break of either kind is quoted (the csv module leaves a lone CR bare)."""

    def field(value: Any) -> str:
        text = csv_cell(value)
        if any(c in text for c in ',"\r\n'):
            return '"' + text.replace('"', '""') + '"'
        return text

    return "".join(",".join(field(v) for v in line) + "\n" for line in lines)


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
    the scope, over published (ended) days only: today's activity is not shown as it happens.
    Refused unless the organization's policy turns it on."""
    if not await per_person_activity_allowed(session, scope.org_id):
        raise forbidden("this organization's policy does not show per-person activity")
    last = await session.scalar(
        select(func.max(PublishedPeriod.period)).where(
            PublishedPeriod.org_id == scope.org_id,
            PublishedPeriod.granularity == Granularity.DAY,
        )
    )
    if last is None:
        return []
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
        .where(_in_scope(P, scope), P.day <= min(window.end, last))
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
    header = ["user_id", "display_name", "events", "messages", "meetings", "last_active"]
    return csv_text([header, *([row[name] for name in header] for row in rows)])


def figure_mask(dashboard: Dashboard) -> int | None:
    """Which contribution bits put a person into a dashboard's figures (None: ACTIVE and
    PEOPLE, which count anyone with ``events > 0``)."""
    if dashboard in (Dashboard.ACTIVE, Dashboard.PEOPLE):
        return None
    masks = {
        Dashboard.MESSAGES: bit(METRIC_BITS[Metric.MESSAGE_SENT]),
        Dashboard.ROOMS: bit(METRIC_BITS[Metric.ROOM_SECONDS]),
        Dashboard.MEETINGS: mask_of(
            METRIC_BITS[Metric.MEETING_HELD], METRIC_BITS[Metric.MEETING_SECONDS]
        ),
        Dashboard.MENTORING: mask_of(*(METRIC_BITS[m] for m in mentoring_metrics())),
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
