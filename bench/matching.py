"""Whole-program mentoring assignment: optimal (capacity slots + rectangular assignment) beside
greedy (best pair first), on the same synthetic program in the same run.

A program of 2,000 mentees and 500 mentors with capacity 4 (2,000 slots) and profiles drawn
from a seeded generator (skills, goals, interests, languages, time zones, weekly hours).
Prints the time to score every pair, the time to solve each assignment, both total scores,
and checks both respect capacity. Last line: one JSON object.

    python bench/matching.py [--quick] [--mentees 2000] [--mentors 500] [--capacity 4]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.mentoring.matching import (
    Profile,
    Weights,
    greedy_assignment,
    optimal_assignment,
    score_matrix,
)

SKILLS = [f"skill-{i}" for i in range(60)]
GOALS = [f"goal-{i}" for i in range(15)]
INTERESTS = [f"interest-{i}" for i in range(30)]
LANGUAGES = ["English", "German", "French", "Spanish", "Dutch", "Polish"]
OFFSETS = [-480, -300, -240, 0, 60, 120, 330, 540]


def person(rng: random.Random, pid: int, capacity: int) -> Profile:
    """A plausible profile: a few tags each, one or two languages, two blocks of hours."""
    offset = rng.choice(OFFSETS)
    hours: set[int] = set()
    for _ in range(2):
        day = rng.randrange(5)
        local = rng.randrange(8, 17)
        start = (day * 24 + local - offset // 60) % 168
        hours.update((start + k) % 168 for k in range(rng.randint(1, 3)))
    return Profile(
        id=pid,
        skills=frozenset(rng.sample(SKILLS, rng.randint(2, 6))),
        goals=frozenset(rng.sample(GOALS, rng.randint(1, 3))),
        interests=frozenset(rng.sample(INTERESTS, rng.randint(1, 4))),
        languages=tuple(rng.sample(LANGUAGES, rng.randint(1, 2))),
        utc_offset_minutes=offset,
        availability=frozenset(hours),
        capacity=capacity,
    )


def check(pairs: tuple[tuple[int, int, float], ...], capacity: dict[int, int]) -> None:
    load = Counter(mentor for mentor, _, _ in pairs)
    assert all(load[m] <= capacity[m] for m in load), "a mentor over capacity"
    assert len({mentee for _, mentee, _ in pairs}) == len(pairs), "a mentee twice"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 mentees, 100 mentors")
    parser.add_argument("--mentees", type=int, default=2000)
    parser.add_argument("--mentors", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.mentees, args.mentors = 400, 100

    rng = random.Random(args.seed)
    mentors = [person(rng, i, args.capacity) for i in range(args.mentors)]
    mentees = [person(rng, 100_000 + i, 0) for i in range(args.mentees)]
    weights = Weights()
    capacity = {m.id: m.capacity for m in mentors}

    started = time.perf_counter()
    scores = score_matrix(mentors, mentees, weights)
    score_seconds = time.perf_counter() - started

    started = time.perf_counter()
    optimal = optimal_assignment(mentors, mentees, weights, scores)
    optimal_seconds = time.perf_counter() - started

    started = time.perf_counter()
    greedy = greedy_assignment(mentors, mentees, weights, scores)
    greedy_seconds = time.perf_counter() - started

    check(optimal.pairs, capacity)
    check(greedy.pairs, capacity)
    assert optimal.total >= greedy.total - 1e-6, "optimal scored below greedy"

    gain = 100 * (optimal.total - greedy.total) / greedy.total if greedy.total else 0.0
    print(
        f"program: {args.mentees} mentees, {args.mentors} mentors x capacity {args.capacity} "
        f"({args.mentors * args.capacity} slots); scoring {scores.size:,} pairs took "
        f"{score_seconds:.2f} s"
    )
    print(f"{'assignment':<12}{'seconds':>9}{'pairs':>8}{'total score':>14}{'mean':>8}")
    for name, result, seconds in (
        ("optimal", optimal, optimal_seconds),
        ("greedy", greedy, greedy_seconds),
    ):
        mean = result.total / len(result.pairs) if result.pairs else 0.0
        print(f"{name:<12}{seconds:>9.2f}{len(result.pairs):>8}{result.total:>14.1f}{mean:>8.2f}")
    print(f"optimal total is {gain:.2f}% above greedy")
    print(
        json.dumps(
            {
                "bench": "matching",
                "quick": args.quick,
                "mentees": args.mentees,
                "mentors": args.mentors,
                "capacity": args.capacity,
                "score_matrix_seconds": round(score_seconds, 3),
                "optimal_seconds": round(optimal_seconds, 3),
                "optimal_score": optimal.total,
                "optimal_pairs": len(optimal.pairs),
                "greedy_seconds": round(greedy_seconds, 3),
                "greedy_score": greedy.total,
                "greedy_pairs": len(greedy.pairs),
                "gain_percent": round(gain, 3),
                "python": platform.python_version(),
                "commit": commit(),
            }
        )
    )


if __name__ == "__main__":
    main()
