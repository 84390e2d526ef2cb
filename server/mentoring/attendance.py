"""A mentoring session's real length, from the meeting in the pair's room.

The meetings service reports when a person's first tab joins a room's media and when their
last leaves it; if that room is a pair's mentoring room with a session scheduled around now
(from ``SLACK`` before its start to ``SLACK`` after its end), the session is told who came
and went, and measures the time both of the pair were there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import RoomKind
from server.analytics.metrics import Metric
from server.analytics.record import record
from server.infra.clock import Clock
from server.infra.errors import not_found
from server.meetings.service import MediaListener
from server.mentoring.tables import MentoringSession, Pair, PairState, Program
from server.people import accounts

SLACK = timedelta(minutes=30)


class Attendance:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def participant_joined(self, session_id: int, user_id: int, at: datetime) -> None:
        """The media relay saw this person join the session's call."""
        await self._presence(session_id, user_id, at, present=True)

    async def participant_left(self, session_id: int, user_id: int, at: datetime) -> None:
        await self._presence(session_id, user_id, at, present=False)

    async def _presence(self, session_id: int, user_id: int, at: datetime, present: bool) -> None:
        """Time counts only while both of the pair are present; each stretch together ends
        in one analytics event (``count`` 1 for the session's first stretch, else 0)."""
        async with self._db() as session:
            meeting = await session.get(MentoringSession, session_id, with_for_update=True)
            if meeting is None:
                raise not_found("no such session")
            pair = await session.get(Pair, meeting.pair_id)
            assert pair is not None
            if user_id == pair.mentor_id:
                meeting.mentor_present = present
            elif user_id == pair.mentee_id:
                meeting.mentee_present = present
            else:
                return  # someone else in the call: not part of the pair's time
            both = meeting.mentor_present and meeting.mentee_present
            if both and meeting.together_since is None:
                meeting.together_since = at
            elif not both and meeting.together_since is not None:
                seconds = max(0.0, (at - meeting.together_since).total_seconds())
                first = meeting.first_met_at is None
                if first:
                    meeting.first_met_at = meeting.together_since
                meeting.met_seconds += seconds
                meeting.together_since = None
                program = await session.get(Program, pair.program_id)
                assert program is not None
                subject = await accounts.analytics_subject(session, program.org_id, pair.mentee_id)
                _, mentor_group = await accounts.first_group_of(session, pair.mentor_id)
                await record(
                    session,
                    Metric.MENTORING_SESSION,
                    subject,
                    at=at,
                    count=1 if first else 0,
                    seconds=seconds,
                    room_kind=RoomKind.MENTORING_ROOM,
                    peer_group_id=mentor_group,
                )
            await session.commit()


def meeting_listener(
    attendance: Attendance, db: async_sessionmaker[AsyncSession], clock: Clock
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
            await attendance.participant_joined(session_id, user_id, at)
        else:
            await attendance.participant_left(session_id, user_id, at)

    return listener
