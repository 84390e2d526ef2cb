"""Disclosure control as pure functions: what ``decide`` hides and what ``audit`` proves."""

from __future__ import annotations

import math
from collections.abc import Hashable

from server.analytics.disclosure import Figure, Relation, audit, decide

K = 5


def test_a_row_total_does_not_give_back_the_one_small_cell() -> None:
    """12 (6 people), 5 (5 people), 4 (1 person); total 21: hiding the 4 alone would let
    21 - 12 - 5 = 4 be computed; the next smallest joins it and both are 9 wide."""
    figures: dict[Hashable, Figure] = {
        "room": Figure(12, 6),
        "direct": Figure(5, 5),
        "group": Figure(4, 1),
    }
    figures["total"] = Figure(21, 12)
    relations = [Relation("total", ("room", "direct", "group"))]
    outcome = decide(figures, relations, K)
    assert outcome.hidden == {"direct", "group"}
    assert audit(figures, relations, outcome.hidden) == {
        "direct": (0.0, 9.0),
        "group": (0.0, 9.0),
    }


def test_two_groups_share_one_number_of_minutes_together() -> None:
    """Group 1's minutes with other groups are group 2's when there are two groups: the
    unknown pair amount links them, so hiding group 2 hides group 1."""
    figures: dict[Hashable, Figure] = {"g1": Figure(25, 5), "g2": Figure(25, 2)}
    relations = [Relation("g1", ("pair",)), Relation("g2", ("pair",))]
    outcome = decide(figures, relations, K)
    assert outcome.hidden == {"g1", "g2"}
    assert audit(figures, relations, outcome.hidden)["g1"] == (0.0, math.inf)


def test_a_shown_parent_equal_to_a_shown_child_gives_away_the_hidden_zero() -> None:
    """Unit 12 = group A 12 (shown) + group B 0 (nobody, hidden): B would be pinned to 0, so
    one of the 12s is hidden as well, and B ranges over at least k."""
    figures: dict[Hashable, Figure] = {"unit": Figure(12, 6), "a": Figure(12, 6), "b": Figure(0, 0)}
    relations = [Relation("unit", ("a", "b"))]
    outcome = decide(figures, relations, K)
    assert "b" in outcome.hidden and len(outcome.hidden) == 2
    low, high = audit(figures, relations, outcome.hidden)["b"]
    assert high - low >= K


def test_a_week_may_only_hide_its_own_figures() -> None:
    """The days were published (fixed): Monday 10 shown, Tuesday 3 hidden. Showing the week
    (13) would give Tuesday back; only the week can still change, so it is hidden."""
    figures: dict[Hashable, Figure] = {
        "mon": Figure(10, 8, hidden=False, fixed=True),
        "tue": Figure(3, 2, hidden=True, fixed=True),
        "week": Figure(13, 9),
    }
    relations = [Relation("week", ("mon", "tue"))]
    outcome = decide(figures, relations, K)
    assert outcome.hidden == {"tue", "week"} and not outcome.unresolved


def test_nothing_left_to_hide_is_reported_not_ignored() -> None:
    """Everything fixed and shown except one figure a fixed relation pins: unresolved."""
    figures: dict[Hashable, Figure] = {
        "whole": Figure(10, 9, fixed=True),
        "a": Figure(7, 7, fixed=True),
    }
    figures["b"] = Figure(3, 1, hidden=True, fixed=True)
    outcome = decide(figures, [Relation("whole", ("a", "b"))], K)
    assert outcome.unresolved == {"b"}
