"""A pair's sessions in time: scheduling and cancelling them, the reminder before each, and
getting them into people's calendars (one session's file, or a person's secret feed URL).

The calendar text itself is made by the pure ``calendar`` module; a feed is found by the keyed
hash of its token, which is shown once and never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import Room, User
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import conflict, invalid, not_found
from server.mentoring import access, calendar
from server.mentoring.replies import session_doc
from server.mentoring.tables import CalendarFeed, Enrolment, MentoringSession, Pair, PairState
from server.people.identity import Principal, UserStatus
from server.people.tokens import keyed_hash, new_token

SESSION_MINUTES = (15, 240)


class Sessions:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        broadcaster: Broadcaster,
        *,
        secret_key: str,
        base_url: str,
        reminder_minutes: int,
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._secret_key = secret_key
        self._base_url = base_url.rstrip("/")
        self.reminder_minutes = reminder_minutes

    async def schedule(
        self, principal: Principal, pair_id: int, starts_at: datetime, minutes: int
    ) -> dict[str, Any]:
        if starts_at.tzinfo is None:
            raise invalid("starts_at: give a time zone (e.g. 2026-01-05T09:00:00Z)")
        if not SESSION_MINUTES[0] <= minutes <= SESSION_MINUTES[1]:
            raise invalid(f"minutes: {SESSION_MINUTES[0]} to {SESSION_MINUTES[1]}")
        if starts_at <= self._clock.now():
            raise invalid("starts_at: a session is scheduled in the future")
        async with self._db() as session:
            pair = await access.active_pair(session, principal, pair_id)
            meeting = MentoringSession(
                pair_id=pair.id,
                uid=f"{uuid.uuid4()}@officehours",
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=minutes),
                sequence=0,
                mentor_present=False,
                mentee_present=False,
                met_seconds=0.0,
            )
            session.add(meeting)
            await session.commit()
            doc = session_doc(meeting)
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id), "mentoring:session", {"pair_id": pair.id, **doc}
        )
        return doc

    async def cancel_session(self, principal: Principal, session_id: int) -> dict[str, Any]:
        async with self._db() as session:
            meeting, pair = await access.session_of_pair(session, principal, session_id)
            if meeting.cancelled_at is not None:
                raise conflict("this session is already cancelled")
            meeting.cancelled_at = self._clock.now()
            meeting.sequence += 1
            await session.commit()
            doc = session_doc(meeting)
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id), "mentoring:session", {"pair_id": pair.id, **doc}
        )
        return doc

    async def session_ics(self, principal: Principal, session_id: int) -> str:
        async with self._db() as session:
            meeting, pair = await access.session_of_pair(session, principal, session_id)
            events = await self._events(session, principal.user_id, [(meeting, pair)])
        return calendar.calendar(events, now=self._clock.now())

    async def _events(
        self,
        session: AsyncSession,
        user_id: int,
        meetings: Sequence[tuple[MentoringSession, Pair]],
    ) -> list[calendar.CalendarEvent]:
        enrolment_ids = {p.mentor_enrolment_id for _, p in meetings} | {
            p.mentee_enrolment_id for _, p in meetings
        }
        names = dict(
            (
                await session.execute(
                    select(Enrolment.id, Enrolment.display_name).where(
                        Enrolment.id.in_(enrolment_ids)
                    )
                )
            ).all()
        )
        rooms = dict(
            (
                await session.execute(
                    select(Room.id, Room.name).where(
                        Room.id.in_([p.room_id for _, p in meetings if p.room_id])
                    )
                )
            ).all()
        )
        events = []
        for meeting, pair in meetings:
            other = (
                pair.mentee_enrolment_id if user_id == pair.mentor_id else pair.mentor_enrolment_id
            )
            events.append(
                calendar.CalendarEvent(
                    uid=meeting.uid,
                    starts_at=meeting.starts_at,
                    ends_at=meeting.ends_at,
                    summary=f"Mentoring with {names.get(other, 'your pair')}",
                    description="Meet in your mentoring room in the office.",
                    location=rooms.get(pair.room_id, "") if pair.room_id else "",
                    url=f"{self._base_url}/office",
                    sequence=meeting.sequence,
                    cancelled=meeting.cancelled_at is not None,
                )
            )
        return events

    def _feed_hash(self, token: str) -> str:
        return keyed_hash(self._secret_key, f"mentoringfeed:{token}")

    async def create_feed(self, principal: Principal) -> dict[str, Any]:
        """A new secret feed URL for this person (replacing any earlier one); shown once."""
        access.no_guests(principal)
        token = new_token(24)
        async with self._db() as session:
            feed = await session.scalar(
                select(CalendarFeed).where(CalendarFeed.user_id == principal.user_id)
            )
            if feed is None:
                feed = CalendarFeed(user_id=principal.user_id)
                session.add(feed)
            feed.token_hash = self._feed_hash(token)
            feed.created_at = self._clock.now()
            await session.commit()
        return {"url": f"{self._base_url}/api/mentoring/calendar/{token}", "token": token}

    async def feed(self, token: str) -> str:
        """Every session of the person's pairs from 30 days ago on, by the secret token."""
        if not token or len(token) > 128:
            raise not_found("no such calendar")
        async with self._db() as session:
            user_id = await session.scalar(
                select(CalendarFeed.user_id).where(
                    CalendarFeed.token_hash == self._feed_hash(token)
                )
            )
            user = await session.get(User, user_id) if user_id else None
            if user is None or user.status is not UserStatus.ACTIVE:
                raise not_found("no such calendar")
            since = self._clock.now() - timedelta(days=30)
            rows = (
                await session.execute(
                    select(MentoringSession, Pair)
                    .join(Pair, Pair.id == MentoringSession.pair_id)
                    .where(
                        or_(Pair.mentor_id == user.id, Pair.mentee_id == user.id),
                        MentoringSession.starts_at >= since,
                    )
                    .order_by(MentoringSession.starts_at)
                )
            ).all()
            events = await self._events(session, user.id, [(m, p) for m, p in rows])
        return calendar.calendar(events, now=self._clock.now(), name="Mentoring")

    async def send_reminders(self) -> int:
        """A job: remind both people ``reminder_minutes`` before each session, once."""
        now = self._clock.now()
        horizon = now + timedelta(minutes=self.reminder_minutes)
        sent = 0
        async with self._db() as session:
            due = (
                await session.execute(
                    select(MentoringSession, Pair)
                    .join(Pair, Pair.id == MentoringSession.pair_id)
                    .where(
                        MentoringSession.reminded_at.is_(None),
                        MentoringSession.cancelled_at.is_(None),
                        MentoringSession.starts_at > now,
                        MentoringSession.starts_at <= horizon,
                        Pair.state == PairState.ACTIVE,
                    )
                )
            ).all()
        for meeting, pair in due:
            async with self._db() as session:
                claimed = await session.execute(
                    update(MentoringSession)
                    .where(
                        MentoringSession.id == meeting.id, MentoringSession.reminded_at.is_(None)
                    )
                    .values(reminded_at=now)
                )
                await session.commit()
            if getattr(claimed, "rowcount", 0) != 1:
                continue  # another process reminded them
            minutes = max(0, round((meeting.starts_at - now).total_seconds() / 60))
            await self._broadcaster.to_users(
                (pair.mentor_id, pair.mentee_id),
                "mentoring:reminder",
                {
                    "session_id": meeting.id,
                    "pair_id": pair.id,
                    "room_id": pair.room_id,
                    "starts_at": meeting.starts_at.isoformat(),
                    "minutes_before": minutes,
                },
            )
            sent += 1
        return sent
