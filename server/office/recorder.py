"""Group commit for the office's engagement events (room entered, status changed, connected).

Each of these used to be a transaction of its own — read the person's analytics subject, insert
one event, commit — several round trips per action. Here whoever records while a commit is in
progress waits for it and the next commit takes everyone waiting: one transaction with every
subject read in two queries and every event in one INSERT. There is no background task: the
callers take turns committing (an ``asyncio.Lock``), so nothing is left running at shutdown.
A caller returns once its event is committed, as before.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import RoomKind
from server.analytics.metrics import Metric
from server.analytics.record import Event, record_events
from server.db.models import User
from server.people import accounts


@dataclass(frozen=True)
class Pending:
    org_id: int
    user_id: int
    metric: Metric
    at: datetime
    seconds: float = 0.0
    room_kind: RoomKind | None = None
    last_active: bool = False  # also mark the person active at ``at`` (a new connection)


class EngagementRecorder:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db
        self._waiting: list[tuple[Pending, asyncio.Future[None]]] = []
        self._turn = asyncio.Lock()
        self.commits = 0  # for tests: how many transactions were used

    async def record(self, pending: Pending) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((pending, done))
        async with self._turn:
            if not done.done():  # not taken by the commit before: commit everyone waiting
                batch, self._waiting = self._waiting, []
                await self._commit_batch(batch)
        done.result()  # raises what the commit raised

    async def _commit_batch(self, batch: list[tuple[Pending, asyncio.Future[None]]]) -> None:
        try:
            await self._commit([pending for pending, _ in batch])
        except asyncio.CancelledError:
            # The one committing was cancelled: the others' events go back for the next turn.
            self._waiting[:0] = [item for item in batch if not item[1].done()]
            raise
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def _commit(self, batch: list[Pending]) -> None:
        by_org: dict[int, set[int]] = defaultdict(set)
        for pending in batch:
            by_org[pending.org_id].add(pending.user_id)
        async with self._db() as session:
            subjects = {
                (org_id, user_id): subject
                for org_id, users in by_org.items()
                for user_id, subject in (
                    await accounts.analytics_subjects(session, org_id, users)
                ).items()
            }
            await record_events(
                session,
                [
                    Event(
                        p.metric,
                        subjects[p.org_id, p.user_id],
                        p.at,
                        seconds=p.seconds,
                        room_kind=p.room_kind,
                    )
                    for p in batch
                ],
            )
            active: dict[datetime, list[int]] = defaultdict(list)
            for p in batch:
                if p.last_active:
                    active[p.at].append(p.user_id)
            for at, user_ids in active.items():
                await session.execute(
                    update(User).where(User.id.in_(user_ids)).values(last_active_at=at)
                )
            await session.commit()
            self.commits += 1
