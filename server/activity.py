"""Being connected to the office, as engagement: a connection count and connected time."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import accounts
from server.analytics.metrics import Metric
from server.analytics.record import Subject, record
from server.clock import Clock
from server.db.models import User
from server.identity import Principal


class Activity:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def _record(self, principal: Principal, metric: Metric, seconds: float) -> None:
        now = self._clock.now()
        async with self._db() as session:
            person = await session.scalar(
                select(User.analytics_id).where(User.id == principal.user_id)
            )
            unit_id, group_id = await accounts.first_group_of(session, principal.user_id)
            await record(
                session,
                metric,
                Subject(principal.org_id, unit_id, group_id, person),
                at=now,
                seconds=seconds,
            )
            if metric is Metric.REALTIME_CONNECTED:
                user = await session.get(User, principal.user_id)
                if user is not None:
                    user.last_active_at = now
            await session.commit()

    async def connected(self, principal: Principal) -> None:
        await self._record(principal, Metric.REALTIME_CONNECTED, 0.0)

    async def disconnected(self, principal: Principal, seconds: float) -> None:
        await self._record(principal, Metric.REALTIME_SECONDS, max(0.0, seconds))
