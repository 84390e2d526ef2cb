"""Being connected to the office, as engagement: a connection count and connected time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Metric
from server.infra.clock import Clock
from server.office.recorder import EngagementRecorder, Pending
from server.people.identity import Principal


class Activity:
    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._recorder = EngagementRecorder(db)

    async def _record(self, principal: Principal, metric: Metric, seconds: float) -> None:
        await self._recorder.record(
            Pending(
                principal.org_id,
                principal.user_id,
                metric,
                self._clock.now(),
                seconds=seconds,
                last_active=metric is Metric.REALTIME_CONNECTED,
            )
        )

    async def connected(self, principal: Principal) -> None:
        await self._record(principal, Metric.REALTIME_CONNECTED, 0.0)

    async def disconnected(self, principal: Principal, seconds: float) -> None:
        await self._record(principal, Metric.REALTIME_SECONDS, max(0.0, seconds))
