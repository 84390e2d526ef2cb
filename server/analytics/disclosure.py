"""Disclosure control over a whole publication: which figures to hide so that no hidden one can
be worked out, within less than ``k``, from the shown ones. Pure: no database, no clock.

A publication is a set of figures (each a value and the number of distinct people it covers)
and the linear relations that hold between them: a unit's figure is its groups' figures plus
what is known of the rest, a row total is its columns, a week is its days, a group's minutes
with other groups are the sum of unknown per-pair minutes. Whoever reads every shown figure
can solve those relations; for a hidden figure what they learn is the interval of values
consistent with everything shown (and with nothing being negative). ``interval`` computes it
by linear programming (two ``scipy.optimize.linprog`` runs per hidden figure), and ``decide``
hides more figures until every hidden figure's interval is at least ``k`` wide.

What is modelled as known to the reader is on the safe side: constants in relations (the part
of a unit no group holds, rounding) are given to the LP exactly, as if the reader knew them.
Figures that are not linear in the data (medians) take no part in relations: they are hidden
by the primary rule only.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

Key = Hashable


@dataclass(frozen=True)
class Relation:
    """``whole = sum(parts) + constant``. A key with no figure is an atom: an unknown that
    is never published (e.g. the minutes two groups spent together)."""

    whole: Key
    parts: tuple[Key, ...]
    constant: float = 0.0

    def members(self) -> tuple[Key, ...]:
        return (self.whole, *self.parts)


@dataclass
class Figure:
    value: float
    people: int
    hidden: bool = False
    # Published earlier (a day, when its week is published): its visibility cannot change.
    fixed: bool = False


@dataclass
class Outcome:
    hidden: set[Key]
    intervals: dict[Key, tuple[float, float]] = field(default_factory=dict)
    linear_programs: int = 0
    unresolved: set[Key] = field(default_factory=set)


def _unknowns(relation: Relation, figures: Mapping[Key, Figure], hidden: set[Key]) -> list[Key]:
    return [m for m in relation.members() if m not in figures or m in hidden]


def components(
    figures: Mapping[Key, Figure], relations: list[Relation], hidden: set[Key]
) -> list[tuple[frozenset[Key], list[Relation]]]:
    """Groups of unknowns linked through relations, each with the relations that touch it."""
    parent: dict[Key, Key] = {}

    def find(x: Key) -> Key:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    touching: list[tuple[Relation, list[Key]]] = []
    for relation in relations:
        unknown = _unknowns(relation, figures, hidden)
        if not unknown:
            continue
        touching.append((relation, unknown))
        first = find(unknown[0])
        for other in unknown[1:]:
            parent[find(other)] = first
    groups: dict[Key, set[Key]] = {}
    rels: dict[Key, list[Relation]] = {}
    for relation, unknown in touching:
        root = find(unknown[0])
        groups.setdefault(root, set()).update(unknown)
        rels.setdefault(root, []).append(relation)
    return [(frozenset(groups[root]), rels[root]) for root in groups]


def intervals(
    figures: Mapping[Key, Figure],
    unknowns: frozenset[Key],
    relations: list[Relation],
    hidden: set[Key],
    targets: Iterable[Key],
    *,
    k: float = 0.0,
    quick: bool = False,
) -> dict[Key, tuple[float, float]]:
    """The interval of values each target (an unknown of this component) can take, given the
    shown figures, the relations and non-negativity."""
    order = sorted(unknowns, key=repr)
    column = {key: i for i, key in enumerate(order)}
    matrix = lil_matrix((len(relations), len(order)))
    rhs = np.zeros(len(relations))
    for r, relation in enumerate(relations):
        b = relation.constant
        for sign, key in ((1.0, relation.whole), *((-1.0, p) for p in relation.parts)):
            if key in column:
                matrix[r, column[key]] += sign
            else:
                b -= sign * figures[key].value
        rhs[r] = b
    a_eq = matrix.tocsr()
    result: dict[Key, tuple[float, float]] = {}
    targets = list(targets)
    if quick:
        targets = _certify(figures, targets, column, a_eq, rhs, k, result)
    for target in targets:
        objective = np.zeros(len(order))
        objective[column[target]] = 1.0
        high = _solve(-objective, a_eq, rhs)
        if high is None:  # unbounded above: as wide as can be, whatever the least value
            result[target] = (0.0 if quick else (_solve(objective, a_eq, rhs) or 0.0), math.inf)
            continue
        high = -high
        if quick and (high < k or high - figures[target].value >= k):
            # Decided without the least value: below k whatever it is (it is at least 0), or
            # at least k above the true value already.
            result[target] = (0.0 if high < k else figures[target].value, high)
            continue
        result[target] = (_solve(objective, a_eq, rhs) or 0.0, high)
    return result


def _certify(
    figures: Mapping[Key, Figure],
    targets: list[Key],
    column: dict[Key, int],
    a_eq: Any,
    rhs: Any,
    k: float,
    result: dict[Key, tuple[float, float]],
) -> list[Key]:
    """Prove many targets wide with few programs: one program lifts all of them at once, each
    capped at its true value plus ``k``; every target that reaches its cap (or, in a second
    program pushing down, its value minus ``k``) has an interval at least ``k`` wide, since
    its true value is feasible too. Returns the targets left to solve one by one."""
    left = list(targets)
    for direction in (1.0, -1.0):
        while left:
            objective = np.zeros(a_eq.shape[1])
            lower = np.zeros(a_eq.shape[1])
            upper = np.full(a_eq.shape[1], np.inf)
            for key in left:
                value = figures[key].value
                objective[column[key]] = -direction
                if direction > 0:
                    upper[column[key]] = value + k
                else:
                    lower[column[key]] = max(0.0, value - k)
            solved = linprog(
                objective,
                A_eq=a_eq,
                b_eq=rhs,
                bounds=list(zip(lower, upper, strict=True)),
                method="highs",
            )
            if solved.status != 0:
                break
            reached = [
                key for key in left if abs(solved.x[column[key]] - figures[key].value) >= k - 1e-7
            ]
            if not reached:
                break
            for key in reached:
                value = figures[key].value
                result[key] = (value, value + k) if direction > 0 else (value - k, value)
            left = [key for key in left if key not in reached]
    return left


def _solve(objective: Any, a_eq: Any, rhs: Any) -> float | None:
    """The least value of ``objective`` (None when unbounded below)."""
    solved = linprog(objective, A_eq=a_eq, b_eq=rhs, bounds=(0, None), method="highs")
    if solved.status == 3:
        return None
    if solved.status != 0:  # infeasible or failed: claim nothing is known rather than guess
        return None if objective.sum() < 0 else 0.0
    return float(solved.fun)


def audit(
    figures: Mapping[Key, Figure], relations: list[Relation], hidden: set[Key]
) -> dict[Key, tuple[float, float]]:
    """The interval of every hidden figure that takes part in a relation (others are
    unbounded: nothing shown says anything about them)."""
    found: dict[Key, tuple[float, float]] = {}
    for unknowns, rels in components(figures, relations, hidden):
        targets = [key for key in unknowns if key in figures]
        found.update(intervals(figures, unknowns, rels, hidden, targets))
    return found


def _subtraction(
    figures: Mapping[Key, Figure], relations: list[Relation], hidden: set[Key], k: int
) -> bool:
    """The cheap rules first, over relations between figures only: a relation with exactly
    one hidden member gives it back by subtraction; one whose shown whole leaves hidden parts
    worth less than ``k`` together pins each of them within less than ``k``. Each time, hide
    the smallest other figure that may still change."""
    changed = False
    for relation in relations:
        members = relation.members()
        if any(m not in figures for m in members):
            continue
        hidden_members = [m for m in members if m in hidden]
        if not hidden_members or len(hidden_members) == len(members):
            continue
        hidden_parts = [p for p in relation.parts if p in hidden]
        leaks = len(hidden_members) == 1 or (
            relation.whole not in hidden
            and sum(figures[p].value for p in hidden_parts) < k
            and len(hidden_parts) < len(relation.parts)
        )
        if not leaks:
            continue
        candidates = [m for m in members if m not in hidden and not figures[m].fixed]
        parts_first = [m for m in candidates if m != relation.whole] or candidates
        if parts_first:
            hidden.add(_smallest(figures, parts_first))
            changed = True
    return changed


def _smallest(figures: Mapping[Key, Figure], keys: Iterable[Key]) -> Key:
    return min(keys, key=lambda m: (figures[m].value, figures[m].people, repr(m)))


def decide(figures: Mapping[Key, Figure], relations: list[Relation], k: int) -> Outcome:
    """Which figures to hide. Primary: fewer than ``k`` people (zero included). Then the
    subtraction rules, then, until every hidden figure's interval is at least ``k`` wide: for
    each one narrower, hide the smallest shown figure that may still change and shares a
    relation with it (or, failing that, its group of linked unknowns)."""
    hidden = {key for key, f in figures.items() if (f.hidden if f.fixed else f.people < k)}
    while _subtraction(figures, relations, hidden, k):
        pass
    outcome = Outcome(hidden)
    verified: set[frozenset[Key]] = set()
    # Hiding more only widens intervals (fewer shown values, fewer constraints): a figure once
    # found wide enough stays so, and is not solved for again.
    wide: set[Key] = set()
    while True:
        chosen: set[Key] = set()
        for unknowns, rels in components(figures, relations, hidden):
            if unknowns in verified:
                continue
            if not _anchored(figures, rels, hidden):
                verified.add(unknowns)
                continue
            targets = [
                key
                for key in unknowns
                if key in figures and key not in outcome.unresolved and key not in wide
            ]
            found = intervals(figures, unknowns, rels, hidden, targets, k=k, quick=True)
            outcome.linear_programs += 2 * len(targets)
            outcome.intervals.update(found)
            short = [key for key, (low, high) in found.items() if high - low < k - 1e-9]
            wide.update(key for key in found if key not in short)
            if not short:
                verified.add(unknowns)
                continue
            for target in short:
                choice = _candidates(figures, rels, hidden, target)
                if choice:
                    chosen.add(_smallest(figures, choice))
                else:
                    outcome.unresolved.add(target)  # nothing left to hide: reported
        if not chosen:
            if all(u in verified for u, _ in components(figures, relations, hidden)):
                return outcome
            continue
        hidden |= chosen
        while _subtraction(figures, relations, hidden, k):
            pass


def _anchored(figures: Mapping[Key, Figure], rels: list[Relation], hidden: set[Key]) -> bool:
    """Whether a shown figure takes part in these relations. If none does, nothing published
    bounds the unknowns: relations add parts up into wholes, so raising any one part (and
    every whole above it) keeps them all, and every unknown is unbounded above."""
    return any(m in figures and m not in hidden for rel in rels for m in rel.members())


def _candidates(
    figures: Mapping[Key, Figure], rels: list[Relation], hidden: set[Key], target: Key
) -> list[Key]:
    def free(members: Iterable[Key]) -> list[Key]:
        return [m for m in members if m in figures and m not in hidden and not figures[m].fixed]

    near = free(m for rel in rels if target in rel.members() for m in rel.members())
    return near or free(m for rel in rels for m in rel.members())
