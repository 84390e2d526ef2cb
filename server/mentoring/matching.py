"""Mentor-mentee matching you can read: a score per pair from visible weights, with reasons.

Pure domain: profiles in, scores, reasons and assignments out. No database, no transport, no
clock. ``optimal_assignment`` maximises the total score over the whole program while keeping
every mentor within capacity (mentors are expanded into capacity slots and the rectangular
assignment problem is solved exactly); ``greedy_assignment`` is the obvious baseline it is
measured against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

HOURS_PER_WEEK = 168
# Overlapping weekly hours beyond this add nothing: a pair needs an hour or two a week.
AVAILABILITY_CAP = 4
# A mentee learns only whether a mentor's time zone is within this many hours of theirs.
COARSE_TIMEZONE_HOURS = 3
FORBIDDEN = -1e9


class MatchingError(ValueError):
    """Weights or profiles that cannot be matched."""


@dataclass(frozen=True)
class Weights:
    """Points per shared tag (skills, goals, interests), for a common language, for full
    availability overlap, for the same time zone, and per shared protected attribute (used
    only when both people opted in)."""

    skills: float = 3.0
    goals: float = 2.0
    interests: float = 1.0
    languages: float = 2.0
    availability: float = 2.0
    timezone: float = 1.0
    protected: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise MatchingError(f"weight {f.name} is a number from 0 to 100")

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Weights:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise MatchingError(f"unknown weights: {', '.join(sorted(unknown))}")
        return replace(cls(), **{k: float(v) for k, v in data.items()})


@dataclass(frozen=True)
class Profile:
    """What matching knows of one enrolled person. ``availability`` holds hour slots of the
    week in UTC (0 = Monday 00:00 UTC … 167); ``utc_offset_minutes`` is their time zone now.
    ``protected`` attributes count only if ``use_protected`` (the person opted in)."""

    id: int
    name: str = ""
    skills: frozenset[str] = frozenset()
    goals: frozenset[str] = frozenset()
    interests: frozenset[str] = frozenset()
    languages: tuple[str, ...] = ()
    utc_offset_minutes: int = 0
    availability: frozenset[int] = frozenset()
    capacity: int = 1
    person_id: int | None = None  # the same person may be mentor and mentee: never self-paired
    protected: Mapping[str, str] = field(default_factory=dict)
    use_protected: bool = False
    # A mentor seen by a mentee: only these parts of the profile count, and times only in
    # coarse terms (None: the whole profile, as the program's managers see it).
    shown: frozenset[str] | None = None

    def shows(self, part: str) -> bool:
        return self.shown is None or part in self.shown

    def __post_init__(self) -> None:
        if any(not 0 <= h < HOURS_PER_WEEK for h in self.availability):
            raise MatchingError("availability slots are hours of the week, 0 to 167")
        if self.capacity < 0:
            raise MatchingError("capacity is not negative")


@dataclass(frozen=True)
class Suggestion:
    mentor_id: int
    mentee_id: int
    score: float
    parts: dict[str, float]
    reasons: tuple[str, ...]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def explain(mentor: Profile, mentee: Profile, weights: Weights) -> Suggestion:
    """The score of one pair, part by part, with a sentence for each part that counts (a
    part with zero weight gives no reason: a reason never claims what the score ignored).

    A mentor with ``shown`` set is scored and explained for a mentee: parts the mentor does not
    show are left out, and hours and time zones count only as "some overlap" or "a similar
    time zone" — no count of hours, no gap — so what a mentee reads back does not spell out
    the mentor's week."""
    found: list[tuple[str, float, str]] = []
    coarse = mentor.shown is not None
    skills = mentor.skills & mentee.skills if mentor.shows("skills") else frozenset()
    if skills:
        found.append(
            (
                "skills",
                weights.skills * len(skills),
                f"shares {_plural(len(skills), 'skill')}: {', '.join(sorted(skills))}",
            )
        )
    goals = mentor.goals & mentee.goals if mentor.shows("goals") else frozenset()
    if goals:
        found.append(
            (
                "goals",
                weights.goals * len(goals),
                f"{_plural(len(goals), 'common goal')}: {', '.join(sorted(goals))}",
            )
        )
    interests = mentor.interests & mentee.interests if mentor.shows("interests") else frozenset()
    if interests:
        found.append(
            (
                "interests",
                weights.interests * len(interests),
                _plural(len(interests), "shared interest"),
            )
        )
    common = (
        [lang for lang in mentee.languages if lang in mentor.languages]
        if mentor.shows("languages")
        else []
    )
    if common:
        found.append(("languages", weights.languages, f"speaks {' and '.join(common[:2])}"))
    overlap = len(mentor.availability & mentee.availability) if mentor.shows("availability") else 0
    if overlap and coarse:
        found.append(("availability", weights.availability, "your weekly hours overlap"))
    elif overlap:
        share = min(overlap, AVAILABILITY_CAP) / AVAILABILITY_CAP
        found.append(
            ("availability", weights.availability * share, f"overlapping hours: {overlap}/week")
        )
    apart = abs(mentor.utc_offset_minutes - mentee.utc_offset_minutes) / 60
    closeness = max(0.0, 1 - apart / 12)
    if coarse:
        if mentor.shows("timezone") and apart <= COARSE_TIMEZONE_HOURS:
            found.append(("timezone", weights.timezone, "a similar time zone"))
    elif closeness > 0:
        found.append(
            (
                "timezone",
                weights.timezone * closeness,
                "same time zone" if apart == 0 else f"time zones {apart:g} h apart",
            )
        )
    if mentor.use_protected and mentee.use_protected and mentor.shows("protected"):
        same = sorted(k for k, v in mentor.protected.items() if v and mentee.protected.get(k) == v)
        if same:
            found.append(
                (
                    "protected",
                    weights.protected * len(same),
                    f"same {', '.join(same)} (both opted in)",
                )
            )
    counted = [(key, round(points, 4), reason) for key, points, reason in found if points > 0]
    parts = {key: points for key, points, _ in counted}
    return Suggestion(
        mentor.id,
        mentee.id,
        round(sum(parts.values()), 4),
        parts,
        tuple(reason for _, _, reason in counted),
    )


def eligible(mentor: Profile, mentee: Profile) -> bool:
    return mentor.person_id is None or mentor.person_id != mentee.person_id


def suggestions(
    mentee: Profile, mentors: Iterable[Profile], weights: Weights, top: int = 5
) -> list[Suggestion]:
    """The best mentors for one mentee, among those with capacity left, best first."""
    ranked = [
        explain(m, mentee, weights) for m in mentors if m.capacity > 0 and eligible(m, mentee)
    ]
    ranked.sort(key=lambda s: (-s.score, s.mentor_id))
    return ranked[:top]


class _Encoded:
    """Profiles as bit sets, so scoring a million pairs is integer arithmetic."""

    def __init__(self, people: Sequence[Profile], vocab: dict[str, dict[str, int]]) -> None:
        def bits(kind: str, tags: Iterable[str]) -> int:
            table = vocab.setdefault(kind, {})
            value = 0
            for tag in tags:
                value |= 1 << table.setdefault(tag, len(table))
            return value

        self.skills = [bits("skills", p.skills) for p in people]
        self.goals = [bits("goals", p.goals) for p in people]
        self.interests = [bits("interests", p.interests) for p in people]
        self.languages = [bits("languages", p.languages) for p in people]
        self.hours = [sum(1 << h for h in p.availability) for p in people]
        self.offsets = [p.utc_offset_minutes for p in people]
        self.protected = [
            bits("protected", (f"{k}={v}" for k, v in p.protected.items() if v))
            if p.use_protected
            else 0
            for p in people
        ]


def score_matrix(
    mentors: Sequence[Profile], mentees: Sequence[Profile], weights: Weights
) -> np.ndarray:
    """``scores[i, j]`` for mentee ``i`` and mentor ``j`` (the same values as ``explain``);
    pairs that may not be made (a person with themselves) are ``FORBIDDEN``."""
    vocab: dict[str, dict[str, int]] = {}
    a, b = _Encoded(mentors, vocab), _Encoded(mentees, vocab)
    w = weights
    out = np.empty((len(mentees), len(mentors)), dtype=np.float64)
    for i, mentee in enumerate(mentees):
        s, g, n, lang, hrs = b.skills[i], b.goals[i], b.interests[i], b.languages[i], b.hours[i]
        off, prot = b.offsets[i], b.protected[i]
        row = out[i]
        for j in range(len(mentors)):
            value = (
                w.skills * (s & a.skills[j]).bit_count()
                + w.goals * (g & a.goals[j]).bit_count()
                + w.interests * (n & a.interests[j]).bit_count()
                + (w.languages if lang & a.languages[j] else 0.0)
                + w.availability
                * min((hrs & a.hours[j]).bit_count(), AVAILABILITY_CAP)
                / AVAILABILITY_CAP
                + w.timezone * max(0.0, 1 - abs(off - a.offsets[j]) / 720)
                + w.protected * (prot & a.protected[j]).bit_count()
            )
            row[j] = round(value, 4)
        for j, mentor in enumerate(mentors):
            if not eligible(mentor, mentee):
                row[j] = FORBIDDEN
    return out


@dataclass(frozen=True)
class Assignment:
    pairs: tuple[tuple[int, int, float], ...]  # (mentor id, mentee id, score)

    @property
    def total(self) -> float:
        return round(sum(score for _, _, score in self.pairs), 4)


def optimal_assignment(
    mentors: Sequence[Profile],
    mentees: Sequence[Profile],
    weights: Weights,
    scores: np.ndarray | None = None,
) -> Assignment:
    """The assignment of mentees to mentors with the highest total score such that no mentor
    gets more mentees than their ``capacity`` and each mentee gets at most one mentor.

    Each mentor becomes ``capacity`` identical columns; the rectangular assignment problem on
    mentees x slots is solved exactly (shortest augmenting paths). If there are more mentees
    than slots, the unassigned mentees are those whose absence costs least."""
    if scores is None:
        scores = score_matrix(mentors, mentees, weights)
    slots = np.repeat(np.arange(len(mentors)), [max(0, m.capacity) for m in mentors])
    if len(mentees) == 0 or len(slots) == 0:
        return Assignment(())
    expanded = scores[:, slots]
    rows, cols = linear_sum_assignment(expanded, maximize=True)
    pairs = []
    for i, c in zip(rows.tolist(), cols.tolist(), strict=True):
        value = float(expanded[i, c])
        if value <= FORBIDDEN / 2:
            continue
        pairs.append((mentors[int(slots[c])].id, mentees[i].id, round(value, 4)))
    pairs.sort(key=lambda p: (p[0], p[1]))
    return Assignment(tuple(pairs))


def greedy_assignment(
    mentors: Sequence[Profile],
    mentees: Sequence[Profile],
    weights: Weights,
    scores: np.ndarray | None = None,
) -> Assignment:
    """Best pair first, while both sides have room: simple, and not optimal (the baseline)."""
    if scores is None:
        scores = score_matrix(mentors, mentees, weights)
    if scores.size == 0:
        return Assignment(())
    order = np.argsort(-scores, axis=None, kind="stable")
    left = [max(0, m.capacity) for m in mentors]
    taken = [False] * len(mentees)
    remaining = min(len(mentees), sum(left))
    pairs = []
    n_mentors = len(mentors)
    for flat in order.tolist():
        if remaining == 0:
            break
        i, j = divmod(flat, n_mentors)
        value = float(scores[i, j])
        if taken[i] or left[j] == 0 or value <= FORBIDDEN / 2:
            continue
        taken[i] = True
        left[j] -= 1
        remaining -= 1
        pairs.append((mentors[j].id, mentees[i].id, round(value, 4)))
    pairs.sort(key=lambda p: (p[0], p[1]))
    return Assignment(tuple(pairs))
