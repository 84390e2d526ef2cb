"""Feedback on a session that has taken place: a rating (1 to 5) and an optional text, once per
person; only the pair reads it (program health aggregates ratings, ``health.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Metric
from server.analytics.record import record
from server.content.mentoring_notes import MAX_FEEDBACK, FeedbackText
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import conflict, invalid
from server.mentoring import access, inputs
from server.mentoring.pairs import pair_changed
from server.mentoring.tables import Feedback
from server.people import accounts
from server.people.identity import Principal


class SessionFeedback:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, broadcaster: Broadcaster
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster

    async def give(
        self, principal: Principal, session_id: int, rating: int, text: str | None
    ) -> dict[str, Any]:
        if not 1 <= rating <= 5:
            raise invalid("rating: 1 to 5")
        body = inputs.text(text or "", MAX_FEEDBACK, "text", empty_ok=True)
        now = self._clock.now()
        async with self._db() as session:
            meeting, pair = await access.session_of_pair(session, principal, session_id)
            if meeting.cancelled_at is not None or meeting.starts_at > now:
                raise conflict("feedback is given after a session has taken place")
            if await session.scalar(
                select(Feedback.id).where(
                    Feedback.session_id == meeting.id, Feedback.author_id == principal.user_id
                )
            ):
                raise conflict("you have already given feedback on this session")
            feedback = Feedback(
                session_id=meeting.id, author_id=principal.user_id, rating=rating, created_at=now
            )
            session.add(feedback)
            await session.flush()
            if body:
                session.add(FeedbackText(feedback_id=feedback.id, body=body))
            subject = await accounts.analytics_subject(session, principal.org_id, principal.user_id)
            await record(session, Metric.FEEDBACK_GIVEN, subject, at=now)
            await session.commit()
        await pair_changed(self._broadcaster, pair, "feedback", session_id=meeting.id)
        return {"rating": rating, "text": body, "created_at": now.isoformat()}

    async def read(self, principal: Principal, session_id: int) -> dict[str, Any]:
        """The pair reads both sides' feedback. Nobody else learns anything of it here, not
        even who gave it: managers see ratings only in program health, over enough people."""
        async with self._db() as session:
            meeting, pair = await access.session_of_pair(session, principal, session_id)
            given = (
                await session.scalars(select(Feedback).where(Feedback.session_id == meeting.id))
            ).all()

            def side(f: Feedback) -> str:
                return "mentor" if f.author_id == pair.mentor_id else "mentee"

            texts = dict(
                (
                    await session.execute(
                        select(FeedbackText.feedback_id, FeedbackText.body).where(
                            FeedbackText.feedback_id.in_([f.id for f in given])
                        )
                    )
                ).all()
            )
            return {
                "given_by": sorted(side(f) for f in given),
                "feedback": [
                    {
                        "from": side(f),
                        "rating": f.rating,
                        "text": texts.get(f.id, ""),
                        "created_at": f.created_at.isoformat(),
                    }
                    for f in given
                ],
            }
