"""Matching is pure: scores, reasons, capacity and optimality, tested without a server."""

from __future__ import annotations

import itertools
import random

import pytest

from server.mentoring.matching import (
    MatchingError,
    Profile,
    Weights,
    explain,
    greedy_assignment,
    optimal_assignment,
    score_matrix,
    suggestions,
)

W = Weights()


def test_a_suggestion_explains_every_point_of_its_score() -> None:
    mentor = Profile(
        1,
        skills=frozenset({"python", "sql", "testing", "go"}),
        goals=frozenset({"leadership"}),
        languages=("English", "German"),
        availability=frozenset({9, 10, 11, 12, 13}),
        utc_offset_minutes=60,
    )
    mentee = Profile(
        2,
        skills=frozenset({"python", "sql", "testing", "rust"}),
        goals=frozenset({"leadership", "career"}),
        languages=("English",),
        availability=frozenset({10, 11, 12, 13, 40}),
        utc_offset_minutes=60,
    )
    s = explain(mentor, mentee, W)
    assert s.reasons == (
        "shares 3 skills: python, sql, testing",
        "1 common goal: leadership",
        "speaks English",
        "overlapping hours: 4/week",
        "same time zone",
    )
    assert s.parts == {
        "skills": 9.0,
        "goals": 2.0,
        "languages": 2.0,
        "availability": 2.0,
        "timezone": 1.0,
    }
    assert s.score == 16.0 == sum(s.parts.values())
    # The matrix used for whole-program matching gives the same number.
    assert score_matrix([mentor], [mentee], W)[0, 0] == s.score


def test_editing_weights_changes_scores_and_drops_reasons_that_no_longer_count() -> None:
    mentor = Profile(1, skills=frozenset({"a", "b"}), languages=("English",))
    mentee = Profile(2, skills=frozenset({"a", "b"}), languages=("English",))
    heavy = Weights.from_dict({"skills": 10, "languages": 0, "timezone": 0})
    s = explain(mentor, mentee, heavy)
    assert s.score == 20.0 and s.reasons == ("shares 2 skills: a, b",)
    with pytest.raises(MatchingError):
        Weights.from_dict({"charisma": 1})
    with pytest.raises(MatchingError):
        Weights(skills=-1)


def test_protected_attributes_count_only_when_both_opted_in() -> None:
    weights = Weights(protected=5, timezone=0)
    mentor = Profile(1, protected={"gender": "f"}, use_protected=True)
    opted_in = Profile(2, protected={"gender": "f"}, use_protected=True)
    not_opted_in = Profile(3, protected={"gender": "f"}, use_protected=False)
    assert explain(mentor, opted_in, weights).score == 5.0
    assert explain(mentor, opted_in, weights).reasons == ("same gender (both opted in)",)
    assert explain(mentor, not_opted_in, weights).score == 0.0
    assert explain(mentor, not_opted_in, weights).reasons == ()
    matrix = score_matrix([mentor], [opted_in, not_opted_in], weights)
    assert matrix[:, 0].tolist() == [5.0, 0.0]


def test_suggestions_rank_best_first_and_skip_full_mentors_and_oneself() -> None:
    mentee = Profile(10, skills=frozenset({"a", "b", "c"}), person_id=7)
    mentors = [
        Profile(1, skills=frozenset({"a"})),
        Profile(2, skills=frozenset({"a", "b", "c"}), capacity=0),  # full
        Profile(3, skills=frozenset({"a", "b"})),
        Profile(4, skills=frozenset({"a", "b", "c"}), person_id=7),  # the mentee themself
    ]
    ranked = suggestions(mentee, mentors, W, top=5)
    assert [s.mentor_id for s in ranked] == [3, 1]


def test_optimal_assignment_beats_greedy_on_a_constructed_case() -> None:
    """Greedy takes the single best pair (A-x) and leaves B-y, worth nothing."""
    weights = Weights(skills=1, goals=0, interests=0, languages=0, availability=0, timezone=0)
    # A shares 10 with x and 9 with y; B shares 8 with x and none with y.
    a_tags = {f"a{i}" for i in range(10)} | {f"y{i}" for i in range(9)}
    mentor_a = Profile(1, skills=frozenset(a_tags))
    mentor_b = Profile(2, skills=frozenset({f"a{i}" for i in range(8)}))
    mentee_x = Profile(11, skills=frozenset({f"a{i}" for i in range(10)}))
    mentee_y = Profile(12, skills=frozenset({f"y{i}" for i in range(9)}))
    mentors, mentees = [mentor_a, mentor_b], [mentee_x, mentee_y]
    assert score_matrix(mentors, mentees, weights).tolist() == [[10.0, 8.0], [9.0, 0.0]]
    greedy = greedy_assignment(mentors, mentees, weights)
    best = optimal_assignment(mentors, mentees, weights)
    assert greedy.pairs == ((1, 11, 10.0), (2, 12, 0.0)) and greedy.total == 10.0
    assert best.pairs == ((1, 12, 9.0), (2, 11, 8.0)) and best.total == 17.0


def test_capacity_is_respected_and_the_assignment_is_optimal_by_brute_force() -> None:
    rng = random.Random(7)
    vocab = [f"s{i}" for i in range(8)]
    mentors = [
        Profile(i, skills=frozenset(rng.sample(vocab, 3)), capacity=rng.choice([0, 1, 2]))
        for i in range(1, 4)
    ]
    mentees = [Profile(10 + i, skills=frozenset(rng.sample(vocab, 3))) for i in range(5)]
    weights = Weights(timezone=0)
    best = optimal_assignment(mentors, mentees, weights)
    capacity = {m.id: m.capacity for m in mentors}
    load: dict[int, int] = {}
    for mentor_id, _, _ in best.pairs:
        load[mentor_id] = load.get(mentor_id, 0) + 1
    assert all(load[m] <= capacity[m] for m in load)
    assert len({mentee for _, mentee, _ in best.pairs}) == len(best.pairs)
    assert len(best.pairs) == min(len(mentees), sum(capacity.values()))

    # Brute force over every way of filling the slots.
    matrix = score_matrix(mentors, mentees, weights)
    slots = [j for j, m in enumerate(mentors) for _ in range(m.capacity)]
    top = 0.0
    for chosen in itertools.permutations(range(len(mentees)), min(len(slots), len(mentees))):
        top = max(top, sum(matrix[i, slots[k]] for k, i in enumerate(chosen)))
    assert best.total == pytest.approx(top)
    assert greedy_assignment(mentors, mentees, weights).total <= best.total


def test_nobody_is_paired_with_themselves_and_empty_programs_are_fine() -> None:
    same = Profile(1, skills=frozenset({"a"}), person_id=5)
    alone = Profile(2, skills=frozenset({"a"}), person_id=5)
    assert optimal_assignment([same], [alone], W).pairs == ()
    assert greedy_assignment([same], [alone], W).pairs == ()
    assert optimal_assignment([], [alone], W).pairs == ()
    assert greedy_assignment([same], [], W).pairs == ()
