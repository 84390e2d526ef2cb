"""Being connected to the office, as engagement: a connection count and connected time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Metric
from server.analytics.record import record
from server.db.models import User
from server.infra.clock import Clock
from server.people import accounts
from server.people.identity import Principal


class Activity:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def _record(self, principal: Principal, metric: Metric, seconds: float) -> None:
        now = self._clock.now()
        async with self._db() as session:
            subject = await accounts.analytics_subject(session, principal.org_id, principal.user_id)
            await record(session, metric, subject, at=now, seconds=seconds)
            if metric is Metric.REALTIME_CONNECTED:
                user = await session.get(User, principal.user_id)
                if user is not None:
                    user.last_active_at = now
            await session.commit()

    async def connected(self, principal: Principal) -> None:
        await self._record(principal, Metric.REALTIME_CONNECTED, 0.0)

    async def disconnected(self, principal: Principal, seconds: float) -> None:
        await self._record(principal, Metric.REALTIME_SECONDS, max(0.0, seconds))
