""" "What admins can see about me": the figures a person is counted in, and who looked.

Figures come from the person's own ``analytics_person_days`` rows (which dashboards, which
weeks, which scopes: their group, its unit, the organization), kept only where a published
figure that includes them is shown (``analytics_published``, not hidden, of that day or its
week): a figure that is pending or hidden shows nobody anything. Looks come from the audit log:
every DASHBOARD_VIEWED / DASHBOARD_EXPORTED entry whose dashboard, scope and period cover one
of those figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics import policy
from server.analytics.figures import Granularity, ScopeLevel
from server.analytics.period_figures import GROUP_COLUMNS
from server.analytics.read import Dashboard, figure_mask
from server.analytics.rollup import week_of
from server.analytics.tables import PersonDay, PublishedFigure
from server.audit.actions import AuditAction
from server.audit.tables import AuditEntry
from server.db.models import User

LOOKS = (AuditAction.DASHBOARD_VIEWED, AuditAction.DASHBOARD_EXPORTED)


def _included(dashboard: Dashboard, row: PersonDay) -> bool:
    mask = figure_mask(dashboard)
    if mask is None:
        return row.events > 0
    return row.contributions & mask != 0


_Shown = set[tuple[Dashboard, Granularity, date, ScopeLevel, int | None]]


async def _shown(session: AsyncSession, org_id: int, start: date, end: date) -> _Shown:
    """The published, shown figures of the period: (dashboard, granularity, period, scope)."""
    P = PublishedFigure
    rows = await session.execute(
        select(P.dashboard, P.granularity, P.period, P.scope, P.scope_id)
        .where(P.org_id == org_id, P.suppressed.is_(False))
        .where(P.period >= week_of(start), P.period <= end)
        .distinct()
    )
    return {(d, g, p, level, scope_id) for d, g, p, level, scope_id in rows}


def _seen_in(shown: _Shown, dashboard: Dashboard, row: PersonDay) -> set[str]:
    """The scopes whose shown figures (of the row's day or week) include this person-day."""
    if dashboard is Dashboard.PEOPLE:  # per-person activity: shown as it is, by policy
        return _labels(row, (ScopeLevel.GROUP, ScopeLevel.UNIT, ScopeLevel.ORG))

    def published(level: ScopeLevel, scope_id: int | None) -> bool:
        return any(
            (dashboard, granularity, period, level, scope_id) in shown
            for granularity, period in (
                (Granularity.DAY, row.day),
                (Granularity.WEEK, week_of(row.day)),
            )
        )

    levels: list[ScopeLevel] = []
    if row.group_id is not None and published(ScopeLevel.GROUP, row.group_id):
        # A group's own figure; where columns are groups it shows in its unit's and the
        # organization's tables too.
        levels.append(ScopeLevel.GROUP)
        if dashboard in GROUP_COLUMNS:
            levels += [ScopeLevel.UNIT, ScopeLevel.ORG]
    if row.unit_id is not None and published(ScopeLevel.UNIT, row.unit_id):
        levels.append(ScopeLevel.UNIT)
    if published(ScopeLevel.ORG, None):
        levels.append(ScopeLevel.ORG)
    return _labels(row, levels)


def _labels(row: PersonDay, levels: Iterable[ScopeLevel]) -> set[str]:
    labels = set()
    for level in levels:
        if level is ScopeLevel.ORG:
            labels.add("org")
        elif level is ScopeLevel.UNIT and row.unit_id is not None:
            labels.add(f"unit:{row.unit_id}")
        elif level is ScopeLevel.GROUP and row.group_id is not None:
            labels.add(f"group:{row.group_id}")
    return labels


async def about_me(
    session: AsyncSession, org_id: int, user_id: int, start: date, end: date
) -> dict[str, Any]:
    person = await session.scalar(select(User.analytics_id).where(User.id == user_id))
    figures: dict[tuple[str, date], set[str]] = defaultdict(set)
    days: dict[tuple[str, str], set[date]] = defaultdict(set)  # (dashboard, scope) -> days
    dashboards: list[Dashboard] = [d for d in Dashboard if d is not Dashboard.PEOPLE]
    if await policy.per_person_activity(session, org_id):
        dashboards.append(Dashboard.PEOPLE)
    if person is not None:
        shown = await _shown(session, org_id, start, end)
        rows = await session.scalars(
            select(PersonDay).where(
                PersonDay.org_id == org_id,
                PersonDay.person == person,
                PersonDay.day >= start,
                PersonDay.day <= end,
            )
        )
        for row in rows:
            for dashboard in dashboards:
                scopes = _seen_in(shown, dashboard, row)
                if scopes and _included(dashboard, row):
                    figures[(dashboard.value, week_of(row.day))] |= scopes
                    for scope in scopes:
                        days[(dashboard.value, scope)].add(row.day)
    looks = []
    entries = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.org_id == org_id, AuditEntry.action.in_(LOOKS))
        .order_by(AuditEntry.seq)
    )
    for entry in entries:
        detail = entry.detail
        try:
            seen_from = date.fromisoformat(str(detail["from"]))
            seen_to = date.fromisoformat(str(detail["to"]))
        except (KeyError, ValueError):
            continue
        counted = days.get((str(detail.get("dashboard")), str(detail.get("scope"))), set())
        if any(seen_from <= day <= seen_to for day in counted):
            looks.append(entry)
    names: dict[int, str] = {}
    actor_ids = {e.actor_id for e in looks if e.actor_id is not None}
    if actor_ids:
        actors = await session.execute(
            select(User.id, User.display_name).where(User.id.in_(actor_ids))
        )
        names = {user_id: name for user_id, name in actors}
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "figures": [
            {"dashboard": name, "week": week.isoformat(), "scopes": sorted(scopes)}
            for (name, week), scopes in sorted(figures.items())
        ],
        "looks": [
            {
                "at": e.at.isoformat(),
                "action": "exported" if e.action is AuditAction.DASHBOARD_EXPORTED else "viewed",
                "admin": {"id": e.actor_id, "display_name": names.get(e.actor_id or 0)},
                "dashboard": e.detail.get("dashboard"),
                "scope": e.detail.get("scope"),
                "from": e.detail.get("from"),
                "to": e.detail.get("to"),
            }
            for e in looks
        ],
    }
