"""What the office's moves and status changes tell analytics: numbers only, never where.

Entering a room and changing status count once; leaving a room gives the time spent in it and
the time spent there with each other occupant (``left_company``), for the cross-group figures.
Events carry a room's kind, never the room, and an analytics subject, never the person.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Metric
from server.analytics.record import Event, record_events
from server.infra.clock import Clock
from server.infra.errors import AppError
from server.office.layout_store import RoomInfo
from server.office.lookup import Lookup
from server.office.recorder import EngagementRecorder, Pending
from server.office.state import Moved
from server.people import accounts


class Engagement:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock, lookup: Lookup) -> None:
        self._db = db
        self._clock = clock
        self._lookup = lookup
        self._recorder = EngagementRecorder(db)

    async def record(
        self, org_id: int, user_id: int, metric: Metric, room_kind: RoomInfo | None = None
    ) -> None:
        await self._recorder.record(
            Pending(
                org_id,
                user_id,
                metric,
                self._clock.now(),
                room_kind=room_kind.kind if room_kind else None,
            )
        )

    async def record_leave(self, moved: Moved) -> None:
        """Time in the room left, and time spent there with each other occupant."""
        before = moved.before
        if before.room_id is None or before.entered_at is None:
            return
        now = self._clock.now().timestamp()
        # Only the room's kind is recorded: the layout cache is enough (no query per move).
        room = (await self._lookup.rooms(before.org_id)).get(before.room_id)
        if room is None:
            try:
                room = await self._lookup.room(before.org_id, before.room_id)
            except AppError:
                return
        async with self._db() as session:
            subjects = await accounts.analytics_subjects(
                session, before.org_id, [before.user_id, *moved.left_company]
            )
            subject = subjects[before.user_id]
            at = self._clock.now()
            events = [
                Event(
                    Metric.ROOM_SECONDS,
                    subject,
                    at,
                    room_kind=room.kind,
                    seconds=max(0.0, now - before.entered_at),
                )
            ]
            for other, since in moved.left_company.items():
                peer = subjects[other]
                events.append(
                    Event(
                        Metric.ROOM_TOGETHER_SECONDS,
                        subject,
                        at,
                        room_kind=room.kind,
                        peer_group_id=peer.group_id,
                        peer=peer.person,
                        seconds=max(0.0, now - max(since, before.entered_at)),
                    )
                )
            await record_events(session, events)  # one statement however full the room was
            await session.commit()
