"""Preparing a period's publication: every dashboard's figures with what must be hidden.

For each dashboard the figures of the period (``server.analytics.period_figures``) and their
relations become one linear system; a week's system also holds its seven days as they were
published (immutable by then), so days cannot be subtracted from their week.
``server.analytics.disclosure`` decides what to hide over the whole system; what comes out is
the rows to store, hidden figures without their value. Writes nothing: the linear programs run
outside any write transaction (``server.analytics.publish`` stores the rows).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics.disclosure import Figure, Key, Relation, decide
from server.analytics.figures import Dashboard, Granularity, ScopeLevel
from server.analytics.period_figures import Local, PeriodFigures, Tree, compute, tree_of
from server.analytics.tables import PublishedFigure

# Figures that add up over days into their week (distinct people do not).
NOT_ADDITIVE_IN_TIME = frozenset({Dashboard.ACTIVE})
TABLES = [d for d in Dashboard if d is not Dashboard.PEOPLE]


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
