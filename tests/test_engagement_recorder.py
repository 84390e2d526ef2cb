"""The office's engagement events share transactions (group commit) and none is lost or doubled;
a bad event fails its own batch and nothing of that batch is stored."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.analytics.metrics import Metric
from server.analytics.tables import AnalyticsEvent
from server.db.models import User
from server.http.keys import DB
from server.infra.clock import FakeClock
from server.office.recorder import EngagementRecorder, Pending
from tests.conftest import Office


async def stored(client: TestClient[Any, Any]) -> list[tuple[Metric, int | None, float]]:
    async with client.app[DB]() as session:
        rows = await session.execute(
            select(AnalyticsEvent.metric, AnalyticsEvent.group_id, AnalyticsEvent.seconds).where(
                AnalyticsEvent.metric != Metric.ACCOUNT_CREATED  # the fixture's own
            )
        )
        return sorted(((Metric(m), g, s) for m, g, s in rows), key=repr)


async def test_concurrent_events_share_commits_each_stored_once_with_its_group(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    recorder = EngagementRecorder(client.app[DB])
    people = [office.alice, office.bob] * 15
    await asyncio.gather(
        *[
            recorder.record(
                Pending(office.org.id, p.id, Metric.STATUS_CHANGED, clock.now(), seconds=i)
            )
            for i, p in enumerate(people)
        ]
    )
    assert recorder.commits < len(people) / 2  # shared, not one transaction each
    platform, design = office.group_ids
    assert await stored(client) == sorted(
        (
            (Metric.STATUS_CHANGED, platform if p is office.alice else design, float(i))
            for i, p in enumerate(people)
        ),
        key=repr,
    )


async def test_a_new_connection_marks_the_person_active(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    recorder = EngagementRecorder(client.app[DB])
    await recorder.record(
        Pending(
            office.org.id,
            office.alice.id,
            Metric.REALTIME_CONNECTED,
            clock.now(),
            last_active=True,
        )
    )
    async with client.app[DB]() as session:
        alice = await session.get(User, office.alice.id)
        bob = await session.get(User, office.bob.id)
    assert alice is not None and alice.last_active_at == clock.now()
    assert bob is not None and bob.last_active_at is None


async def test_a_bad_event_fails_its_batch_and_the_next_one_goes_through(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    recorder = EngagementRecorder(client.app[DB])
    good = Pending(office.org.id, office.alice.id, Metric.STATUS_CHANGED, clock.now())
    bad = Pending(office.org.id, office.bob.id, Metric.ROOM_SECONDS, clock.now(), seconds=-1)
    # The first event commits at once; the two that arrive meanwhile share the next commit.
    results = await asyncio.gather(
        recorder.record(good), recorder.record(good), recorder.record(bad), return_exceptions=True
    )
    assert results[0] is None
    assert all(isinstance(r, ValueError) for r in results[1:]), results  # all or nothing
    assert [m for m, _, _ in await stored(client)] == [Metric.STATUS_CHANGED]
    await recorder.record(good)
    assert [m for m, _, _ in await stored(client)] == [Metric.STATUS_CHANGED] * 2
