"""A mentoring session's real length, from the meeting in the pair's room.

The meetings service reports when a person's first tab joins a room's media and when their
last leaves it; if that room is a pair's mentoring room with a session scheduled around now
(from ``SLACK`` before its start to ``SLACK`` after its end), the session is told who came
and went, and measures the time both of the pair were there.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.infra.clock import Clock
from server.meetings.service import MediaListener
from server.mentoring.service import Mentoring
from server.mentoring.tables import MentoringSession, Pair, PairState

SLACK = timedelta(minutes=30)


def meeting_listener(
    mentoring: Mentoring, db: async_sessionmaker[AsyncSession], clock: Clock
) -> MediaListener:
    async def listener(org_id: int, room_id: int, user_id: int, joined: bool) -> None:
        at = clock.now()
        async with db() as session:
            session_id = await session.scalar(
                select(MentoringSession.id)
                .join(Pair, Pair.id == MentoringSession.pair_id)
                .where(
                    Pair.room_id == room_id,
                    Pair.state == PairState.ACTIVE,
                    MentoringSession.cancelled_at.is_(None),
                    MentoringSession.starts_at <= at + SLACK,
                    MentoringSession.ends_at >= at - SLACK,
                )
                .order_by(MentoringSession.starts_at)
                .limit(1)
            )
        if session_id is None:
            return
        if joined:
            await mentoring.participant_joined(session_id, user_id, at)
        else:
            await mentoring.participant_left(session_id, user_id, at)

    return listener
