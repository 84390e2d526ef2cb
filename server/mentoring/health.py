"""Program health: counts, medians and rating aggregates, never content.

Reads only the mentoring metadata tables (an import-linter contract keeps content stores out
of this module). Feedback figures cover closed weeks only (nothing moves with each new
feedback), and the rating is a published snapshot: an average over at least the minimum group
size of raters, replaced only once at least that many new raters have rated since — so no
reading, and no difference between two readings, is one person's rating. No distribution is
published (a bucket is too often one person).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.mentoring.tables import (
    Enrolment,
    EnrolmentRole,
    EnrolmentState,
    Feedback,
    Goal,
    ItemStatus,
    MentoringSession,
    Pair,
    PairState,
    RatingSnapshot,
)

RECENT = timedelta(days=30)


def closed_until(now: datetime) -> datetime:
    """The end of the last closed period: this week's Monday, 00:00 UTC."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


async def program_health(
    session: AsyncSession, program_id: int, now: datetime, min_group_size: int
) -> dict[str, Any]:
    enrolled = dict(
        (
            await session.execute(
                select(Enrolment.role, func.count())
                .where(
                    Enrolment.program_id == program_id,
                    Enrolment.state == EnrolmentState.ACTIVE,
                )
                .group_by(Enrolment.role)
            )
        ).all()
    )
    invited = await session.scalar(
        select(func.count()).where(
            Enrolment.program_id == program_id, Enrolment.state == EnrolmentState.INVITED
        )
    )
    pair_states = dict(
        (
            await session.execute(
                select(Pair.state, func.count())
                .where(Pair.program_id == program_id)
                .group_by(Pair.state)
            )
        ).all()
    )
    in_program = select(Pair.id).where(Pair.program_id == program_id).scalar_subquery()
    lengths = [
        float(s)
        for s in (
            await session.scalars(
                select(MentoringSession.met_seconds).where(
                    MentoringSession.pair_id.in_(in_program), MentoringSession.met_seconds > 0
                )
            )
        ).all()
    ]
    scheduled = await session.scalar(
        select(func.count()).where(
            MentoringSession.pair_id.in_(in_program), MentoringSession.cancelled_at.is_(None)
        )
    )
    met_recently = await session.scalar(
        select(func.count(distinct(MentoringSession.pair_id))).where(
            MentoringSession.pair_id.in_(in_program),
            MentoringSession.met_seconds > 0,
            MentoringSession.starts_at >= now - RECENT,
        )
    )
    goals = dict(
        (
            await session.execute(
                select(Goal.status, func.count())
                .where(Goal.pair_id.in_(in_program))
                .group_by(Goal.status)
            )
        ).all()
    )
    until = closed_until(now)
    ratings = (
        await session.execute(
            select(Feedback.author_id, Feedback.rating)
            .join(MentoringSession, MentoringSession.id == Feedback.session_id)
            .where(MentoringSession.pair_id.in_(in_program), Feedback.created_at < until)
        )
    ).all()
    snapshot = await _published_rating(
        session, program_id, [(a, r) for a, r in ratings], until, now, min_group_size
    )
    return {
        "program_id": program_id,
        "mentors": int(enrolled.get(EnrolmentRole.MENTOR, 0)),
        "mentees": int(enrolled.get(EnrolmentRole.MENTEE, 0)),
        "invitations_open": int(invited or 0),
        "pairs_matched": int(pair_states.get(PairState.ACTIVE, 0)),
        "pairs_ended": int(pair_states.get(PairState.ENDED, 0)),
        "pairs_met_last_30_days": int(met_recently or 0),
        "sessions_scheduled": int(scheduled or 0),
        "sessions_held": len(lengths),
        "median_session_seconds": round(statistics.median(lengths), 1) if lengths else None,
        "goals_open": int(goals.get(ItemStatus.OPEN, 0)),
        "goals_completed": int(goals.get(ItemStatus.DONE, 0)),
        "feedback_given": len(ratings),
        "feedback_until": until.isoformat(),
        "rating": {
            "suppressed": snapshot is None,
            "people": snapshot.raters if snapshot else None,
            "average": round(snapshot.average, 2) if snapshot else None,
            "as_of": snapshot.period_end.isoformat() if snapshot else None,
        },
    }


async def _published_rating(
    session: AsyncSession,
    program_id: int,
    ratings: Sequence[tuple[int | None, int]],
    until: datetime,
    now: datetime,
    min_group_size: int,
) -> RatingSnapshot | None:
    """The program's published rating, replaced (in the caller's transaction) when at least
    ``min_group_size`` more people have rated in closed weeks than the last one counted.
    Erased authors' ratings count in the average but not as raters."""
    raters = len({author for author, _ in ratings if author is not None})
    snapshot = await session.get(RatingSnapshot, program_id)
    published = snapshot.raters if snapshot else 0
    if ratings and raters >= max(1, min_group_size) + published:
        if snapshot is None:
            snapshot = RatingSnapshot(program_id=program_id)
            session.add(snapshot)
        snapshot.raters = raters
        snapshot.average = statistics.fmean(r for _, r in ratings)
        snapshot.period_end = until
        snapshot.published_at = now
    return snapshot
