"""Program health: counts, medians and rating aggregates, never content.

Reads only the mentoring metadata tables (an import-linter contract keeps content stores out
of this module). Rating aggregates are suppressed below the minimum group size, so one
person's rating cannot be read off a small program.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
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
)

RECENT = timedelta(days=30)


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
    ratings = (
        await session.execute(
            select(Feedback.author_id, Feedback.rating)
            .join(MentoringSession, MentoringSession.id == Feedback.session_id)
            .where(MentoringSession.pair_id.in_(in_program))
        )
    ).all()
    raters = {author for author, _ in ratings if author is not None}
    shown = len(raters) >= min_group_size
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
        "rating": {
            "suppressed": not shown,
            "people": len(raters) if shown else None,
            "average": round(statistics.fmean(r for _, r in ratings), 2) if shown else None,
            "distribution": (
                {str(k): sum(1 for _, r in ratings if r == k) for k in range(1, 6)}
                if shown
                else None
            ),
        },
    }
