"""Dashboards on a constructed dataset with known answers: every metric, role scopes,
suppression (with the differencing case), rollups instead of raw events, retention."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import delete, func, select

from rooms.layout import RoomKind
from server.analytics import read
from server.analytics.metrics import Channel, Metric
from server.analytics.period_figures import mentoring_metrics
from server.analytics.publish import publish_due
from server.analytics.read import Dashboard, Granularity, Window
from server.analytics.record import Event, Subject, record, record_events
from server.analytics.rollup import (
    CHANNEL_BITS,
    CROSS_GROUP_BIT,
    METRIC_BITS,
    ROOM_KIND_BITS,
    fold_pending,
    pair_key,
    purge_raw_events,
)
from server.analytics.tables import AnalyticsEvent, AnalyticsPolicy, AnalyticsRollup, PersonDay
from server.http.keys import DB
from server.infra.clock import FakeClock
from server.infra.errors import AppError, ErrorCode
from server.people.identity import Grant, Principal, Role
from tests.conftest import Office

SECRET = "t" * 40  # the test settings' secret key, as the app's own fold job uses
UNIT_A, G101, G102 = 100, 101, 102
UNIT_B, G201 = 200, 201
WEEK1 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a Monday
WEEK2 = WEEK1 + timedelta(days=7)
AFTER = datetime(2026, 1, 19, 0, 10, tzinfo=UTC)  # both weeks closed, so published
ONE_WEEK = Window(date(2026, 1, 5), date(2026, 1, 11), Granularity.WEEK)
TWO_WEEKS = Window(date(2026, 1, 5), date(2026, 1, 18), Granularity.WEEK)
# Everything of week 1 happens on its Monday: the week's figures equal the Monday's, and showing
# them would tell that the other six (hidden) days were empty, so most of them are hidden; the
# Monday shows what the table holds.
ONE_DAY = Window(date(2026, 1, 5), date(2026, 1, 5), Granularity.DAY)
TWO_WEEKS_DAILY = Window(date(2026, 1, 5), date(2026, 1, 18), Granularity.DAY)
UNIT_OF = {G101: UNIT_A, G102: UNIT_A, G201: UNIT_B}


class People:
    def __init__(self) -> None:
        self.ids: dict[tuple[int, int], uuid.UUID] = {}

    def __call__(self, group: int, i: int) -> uuid.UUID:
        return self.ids.setdefault((group, i), uuid.uuid4())


async def build_dataset(client: TestClient[Any, Any], org_id: int) -> People:
    """The dataset every test reads; the expected figures are worked out in each test."""
    p = People()
    async with client.app[DB]() as session:

        async def put(group: int, i: int, metric: Metric, at: datetime, **kw: Any) -> None:
            subject = Subject(org_id, UNIT_OF[group], group, p(group, i))
            await record(session, metric, subject, at=at, **kw)

        # Week 1 — active: all 8 of G101, all 6 of G102, all 5 of G201.
        for group, size in ((G101, 8), (G102, 6), (G201, 5)):
            for i in range(size):
                await put(group, i, Metric.SIGNED_IN, WEEK1)
        # Messages in G101: 6 people x 2 in rooms, 5 people x 1 direct, 1 person x 4 in a group.
        for i in range(6):
            await put(G101, i, Metric.MESSAGE_SENT, WEEK1, channel=Channel.ROOM, count=2)
        for i in range(5):
            await put(G101, i, Metric.MESSAGE_SENT, WEEK1, channel=Channel.DIRECT)
        await put(G101, 6, Metric.MESSAGE_SENT, WEEK1, channel=Channel.GROUP, count=4)
        # The other groups chat too (a table where every other group is empty would show its
        # emptiness through any shown sum: see test_messages_by_channel...).
        for group, size, count in ((G102, 6, 3), (G201, 5, 2)):
            for i in range(size):
                await put(group, i, Metric.MESSAGE_SENT, WEEK1, channel=Channel.ROOM, count=count)
                await put(group, i, Metric.MESSAGE_SENT, WEEK1, channel=Channel.DIRECT)
        # Rooms: G101 8 x 10 min in team rooms, G102 6 x 10 min in meeting rooms.
        for i in range(8):
            await put(
                G101, i, Metric.ROOM_SECONDS, WEEK1, room_kind=RoomKind.TEAM_ROOM, seconds=600
            )
        for i in range(6):
            await put(
                G102, i, Metric.ROOM_SECONDS, WEEK1, room_kind=RoomKind.MEETING_ROOM, seconds=600
            )
        # Meetings in G102: 30, 60 and 10 minutes; all six took part.
        for i, seconds in enumerate((1800, 3600, 600)):
            await put(G102, i, Metric.MEETING_HELD, WEEK1, seconds=seconds)
        for i in range(6):
            await put(G102, i, Metric.MEETING_SECONDS, WEEK1, seconds=900)
        # Weak ties: G101 person i spent 5 minutes with G102 person i (i < 5).
        for i in range(5):
            await put(
                G101,
                i,
                Metric.ROOM_TOGETHER_SECONDS,
                WEEK1,
                room_kind=RoomKind.LOBBY,
                seconds=300,
                peer_group_id=G102,
                peer=p(G102, i),
            )
        # Same-group time together is not a weak tie.
        await put(
            G101,
            6,
            Metric.ROOM_TOGETHER_SECONDS,
            WEEK1,
            seconds=999,
            peer_group_id=G101,
            peer=p(G101, 7),
        )
        # Week 2: G101 person 0 meets G102 person 0 again (not new), person 5 meets G102
        # person 5 (new); G101 person 1 signs in. Three active people in G101, none in G102.
        for i in (0, 5):
            await put(
                G101,
                i,
                Metric.ROOM_TOGETHER_SECONDS,
                WEEK2,
                seconds=300,
                peer_group_id=G102,
                peer=p(G102, i),
            )
        await put(G101, 1, Metric.SIGNED_IN, WEEK2)
        await session.commit()
    await fold_pending(client.app[DB], secret=SECRET)
    await publish_due(client.app[DB], AFTER, 5)
    return p


def principal(org_id: int, *grants: Grant, user_id: int = 999) -> Principal:
    return Principal(user_id, org_id, "someone", tuple(grants), session_id=1)


def org_admin(org_id: int) -> Principal:
    return principal(org_id, Grant(Role.ORG_ADMIN))


async def table(
    client: TestClient[Any, Any],
    who: Principal,
    dashboard: Dashboard,
    scope: str | None,
    window: Window = ONE_WEEK,
    k: int = 5,
) -> dict[str, Any]:
    async with client.app[DB]() as session:
        resolved = await read.resolve_scope(session, who, scope)
        return (await read.dashboard(session, dashboard, resolved, window, k)).as_json()


def values(row: dict[str, Any]) -> list[Any]:
    return [cell["value"] for cell in row["cells"]]


def hidden(row: dict[str, Any]) -> list[bool]:
    return [cell["suppressed"] for cell in row["cells"]]


def test_every_metric_channel_and_room_kind_has_its_own_contribution_bit() -> None:
    positions = [
        *METRIC_BITS.values(),
        CROSS_GROUP_BIT,
        *CHANNEL_BITS.values(),
        *ROOM_KIND_BITS.values(),
    ]
    assert set(METRIC_BITS) == set(Metric), "a new Metric needs a bit in METRIC_BITS"
    assert set(CHANNEL_BITS) == set(Channel) and set(ROOM_KIND_BITS) == set(RoomKind)
    assert len(positions) == len(set(positions)) and max(positions) < 62


async def test_active_people_weekly_and_daily(client: TestClient[Any, Any], office: Office) -> None:
    await build_dataset(client, office.org.id)
    admin = org_admin(office.org.id)
    weekly = await table(client, admin, Dashboard.ACTIVE, f"unit:{UNIT_A}", TWO_WEEKS)
    assert weekly["columns"] == ["group:101", "group:102"]
    week1, week2 = weekly["rows"]
    assert (week1["period"], values(week1), week1["total"]["value"]) == ("2026-01-05", [8, 6], 14)
    # Week 2: three active people in G101 (two who met someone, one who signed in), none in
    # G102 — both below five, and so is the total.
    assert hidden(week2) == [True, True]
    assert week2["total"] == {"value": None, "suppressed": True, "pending": False}
    daily = await table(
        client,
        admin,
        Dashboard.ACTIVE,
        "org",
        Window(date(2026, 1, 5), date(2026, 1, 6), Granularity.DAY),
    )
    assert [r["period"] for r in daily["rows"]] == ["2026-01-05", "2026-01-06"]
    assert values(daily["rows"][0]) == [8, 6, 5] and daily["rows"][0]["total"]["value"] == 19
    assert daily["rows"][1]["total"]["suppressed"]


async def test_messages_by_channel_with_complementary_suppression(
    client: TestClient[Any, Any], office: Office
) -> None:
    """The differencing case: the group-channel figure (one person, 4 messages) is hidden,
    and so is the next smallest (direct, 5), so total minus visible cells gives 5 + 4 + 0,
    never the 4 alone."""
    await build_dataset(client, office.org.id)
    result = await table(
        client, org_admin(office.org.id), Dashboard.MESSAGES, f"group:{G101}", ONE_DAY
    )
    assert result["columns"] == ["room", "direct", "group", "pair"]
    (row,) = result["rows"]
    assert values(row) == [12, None, None, None]
    assert hidden(row) == [False, True, True, True]
    assert row["total"] == {"value": 21, "suppressed": False, "pending": False}
    visible = sum(v for v in values(row) if v is not None)
    assert row["total"]["value"] - visible != 4  # the one person's figure is not recoverable
    # No totals down the periods: they would let two windows be subtracted.
    assert "column_totals" not in result and "total" not in result


async def test_time_in_rooms_by_kind(client: TestClient[Any, Any], office: Office) -> None:
    await build_dataset(client, office.org.id)
    result = await table(
        client, org_admin(office.org.id), Dashboard.ROOMS, f"unit:{UNIT_A}", ONE_DAY
    )
    (row,) = result["rows"]
    # 80 team-room minutes (8 people of G101) and 60 meeting-room minutes (6 of G102): each
    # kind's unit figure is one group's figure plus the other group's zero, so showing it
    # would show that zero (a hidden figure pinned to nothing): the kinds are hidden, the
    # total over six people and more shows.
    assert hidden(row) == [True] * 6
    assert row["total"]["value"] == 140


async def test_meetings_held_minutes_and_median(
    client: TestClient[Any, Any], office: Office
) -> None:
    await build_dataset(client, office.org.id)
    admin = org_admin(office.org.id)
    result = await table(client, admin, Dashboard.MEETINGS, f"group:{G102}", ONE_DAY)
    assert result["columns"] == ["held", "minutes", "median_minutes"]
    # 3 meetings, 100 minutes: hidden, because G102's figures are its unit's minus G101's
    # zero, and showing both would pin that zero. The median is not a sum: primary rule only.
    assert values(result["rows"][0]) == [None, None, 30]
    # Nobody in G101 met: every figure covers fewer than five people.
    empty = await table(client, admin, Dashboard.MEETINGS, f"group:{G101}", ONE_DAY)
    assert hidden(empty["rows"][0]) == [True, True, True]


async def test_weak_ties_minutes_and_new_pairs(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    await build_dataset(client, office.org.id)
    admin = org_admin(office.org.id)
    daily = TWO_WEEKS_DAILY
    minutes = await table(client, admin, Dashboard.TIES_MINUTES, f"unit:{UNIT_A}", daily)
    assert minutes["columns"] == ["group:101", "group:102"]
    week1, week2 = minutes["rows"][0], minutes["rows"][7]
    assert values(week1) == [25, 25]  # 5 pairs x 5 minutes, counted for both groups
    assert hidden(week2) == [True, True]  # two people each side
    pairs = await table(client, admin, Dashboard.TIES_NEW_PAIRS, f"unit:{UNIT_A}", daily)
    week1, week2 = pairs["rows"][0], pairs["rows"][7]
    assert values(week1) == [5, 5]  # five people of each group with time across groups
    assert hidden(week2) == [True, True]  # one new pair; the returning pair is not new


async def test_pairs_are_stored_under_a_keyed_hash_only(
    client: TestClient[Any, Any], office: Office
) -> None:
    people = await build_dataset(client, office.org.id)
    from server.analytics.tables import PairTie

    async with client.app[DB]() as session:
        rows = (await session.scalars(select(PairTie))).all()
    assert len(rows) == 6
    assert {(r.group_a, r.group_b) for r in rows} == {(G101, G102)}
    stored = {r.pair for r in rows}
    assert pair_key(SECRET, people(G101, 0), people(G102, 0)) in stored
    assert pair_key(SECRET, people(G102, 0), people(G101, 0)) in stored  # order-free
    assert not stored & set(people.ids.values())


async def test_mentoring_dashboard_is_empty_until_mentoring_metrics_exist(
    client: TestClient[Any, Any], office: Office
) -> None:
    await build_dataset(client, office.org.id)
    result = await table(client, org_admin(office.org.id), Dashboard.MENTORING, "org")
    assert result["columns"] == [m.value for m in mentoring_metrics()]


async def test_scopes_follow_roles(client: TestClient[Any, Any], office: Office) -> None:
    await build_dataset(client, office.org.id)
    org = office.org.id
    lead = principal(org, Grant(Role.GROUP_LEAD, UNIT_A, G101))
    unit_admin = principal(org, Grant(Role.UNIT_ADMIN, UNIT_A))
    member = principal(org, Grant(Role.MEMBER, UNIT_A, G101))
    other_admin = org_admin(office.outsider.org_id)

    # A group lead sees their group by default, and nothing else.
    assert (await table(client, lead, Dashboard.ACTIVE, None))["scope"] == "group:101"
    for scope in (f"group:{G102}", f"unit:{UNIT_A}", "org"):
        with pytest.raises(AppError) as refused:
            await table(client, lead, Dashboard.ACTIVE, scope)
        assert refused.value.code is ErrorCode.FORBIDDEN
    # A unit admin sees their unit and its groups, not another unit or its groups.
    assert (await table(client, unit_admin, Dashboard.ACTIVE, None))["scope"] == "unit:100"
    assert (await table(client, unit_admin, Dashboard.ACTIVE, "group:102"))["scope"] == "group:102"
    for scope in (f"unit:{UNIT_B}", f"group:{G201}", "org"):
        with pytest.raises(AppError) as refused:
            await table(client, unit_admin, Dashboard.ACTIVE, scope)
        assert refused.value.code is ErrorCode.FORBIDDEN
    # A member sees no dashboard at all.
    with pytest.raises(AppError) as refused:
        await table(client, member, Dashboard.ACTIVE, f"group:{G101}")
    assert refused.value.code is ErrorCode.FORBIDDEN
    # Another organization's admin learns nothing, not even that the scope exists.
    for scope in (f"group:{G101}", f"unit:{UNIT_A}"):
        with pytest.raises(AppError) as refused:
            await table(client, other_admin, Dashboard.ACTIVE, scope)
        assert refused.value.code is ErrorCode.NOT_FOUND
    other = await table(client, other_admin, Dashboard.ACTIVE, "org")
    assert other["columns"] == [] and other["rows"][0]["total"]["suppressed"]
    # The unit figure a unit admin sees covers only their unit's people.
    unit = await table(client, unit_admin, Dashboard.ACTIVE, None)
    assert unit["rows"][0]["total"]["value"] == 14


async def test_dashboards_read_rollups_not_raw_events(
    client: TestClient[Any, Any], office: Office
) -> None:
    await build_dataset(client, office.org.id)
    admin = org_admin(office.org.id)
    before = await table(client, admin, Dashboard.MESSAGES, f"group:{G101}")
    async with client.app[DB]() as session:
        await session.execute(delete(AnalyticsEvent))
        await session.commit()
    assert await table(client, admin, Dashboard.MESSAGES, f"group:{G101}") == before


async def test_folding_is_incremental_and_counts_each_event_once(
    client: TestClient[Any, Any], office: Office
) -> None:
    people = await build_dataset(client, office.org.id)
    async with client.app[DB]() as session:
        for _ in range(3):
            await record(
                session,
                Metric.MESSAGE_SENT,
                Subject(office.org.id, UNIT_A, G101, people(G101, 0)),
                at=WEEK1 + timedelta(minutes=5),
                channel=Channel.ROOM,
            )
        await session.commit()
    assert await fold_pending(client.app[DB], secret=SECRET) == 3
    assert await fold_pending(client.app[DB], secret=SECRET) == 0
    async with client.app[DB]() as session:
        rows = (
            await session.execute(
                select(AnalyticsRollup.period, func.sum(AnalyticsRollup.count))
                .where(
                    AnalyticsRollup.metric == Metric.MESSAGE_SENT,
                    AnalyticsRollup.channel == Channel.ROOM,
                    AnalyticsRollup.group_id == G101,
                )
                .group_by(AnalyticsRollup.period)
            )
        ).all()
        assert dict(rows) == {"hour": 15, "day": 15}
        person_day = await session.scalar(
            select(PersonDay).where(PersonDay.person == people(G101, 0))
        )
        assert person_day is not None and person_day.messages == 2 + 1 + 3
    # The day was published when it closed and is never changed: an event recorded for it
    # afterwards (the server records events at their own time, so only a test can) stays out.
    result = await table(
        client, org_admin(office.org.id), Dashboard.MESSAGES, f"group:{G101}", ONE_DAY
    )
    assert result["rows"][0]["total"]["value"] == 21


async def test_raw_events_are_purged_after_retention_once_folded(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    clock.advance((WEEK2 - clock.now()).total_seconds() + 3600)
    await build_dataset(client, office.org.id)
    admin = org_admin(office.org.id)
    before = await table(client, admin, Dashboard.ACTIVE, "org", TWO_WEEKS)
    async with client.app[DB]() as session:
        late = Subject(office.org.id, UNIT_A, G101, uuid.uuid4())
        await record(session, Metric.SIGNED_IN, late, at=WEEK1)  # old but not folded yet
        await session.commit()
    async with client.app[DB]() as session:
        assert await purge_raw_events(session, clock.now(), retention_days=90) == 0
        clock.advance(88 * 86400)
        purged = await purge_raw_events(session, clock.now(), retention_days=90)
        await session.commit()
        left = (await session.scalars(select(AnalyticsEvent))).all()
    # Week 1's events are now older than 90 days; week 2's are not; the unfolded one stays.
    assert purged > 0
    assert {e.at for e in left} == {WEEK1, WEEK2}
    assert all(not e.folded for e in left if e.at == WEEK1)
    async with client.app[DB]() as session:
        await session.execute(delete(AnalyticsEvent).where(AnalyticsEvent.folded.is_(False)))
        await session.commit()
    assert await table(client, admin, Dashboard.ACTIVE, "org", TWO_WEEKS) == before


async def test_per_person_activity_needs_the_policy(
    client: TestClient[Any, Any], office: Office
) -> None:
    people = await build_dataset(client, office.org.id)
    admin = org_admin(office.org.id)
    async with client.app[DB]() as session:
        scope = await read.resolve_scope(session, admin, f"group:{G101}")
        with pytest.raises(AppError) as refused:
            await read.people_activity(session, scope, TWO_WEEKS)
        assert refused.value.code is ErrorCode.FORBIDDEN
        session.add(AnalyticsPolicy(org_id=office.org.id, per_person_activity=True))
        await session.commit()
        rows = {r.person: r for r in await read.people_activity(session, scope, ONE_WEEK)}
    assert len(rows) == 8
    first = rows[people(G101, 0)]
    # Signed in, 2 sends to a room, 1 direct, 10 minutes in a room, 1 time together.
    assert (first.events, first.messages, first.meetings) == (5, 3, 0)
    assert first.last_active == date(2026, 1, 5)


def test_every_metric_has_its_own_contribution_bit() -> None:
    """A new metric without a bit would crash the rollups (and "what admins see about me")."""
    from server.analytics.metrics import Metric
    from server.analytics.rollup import CROSS_GROUP_BIT, METRIC_BITS

    assert set(METRIC_BITS) == set(Metric)
    assert len(set(METRIC_BITS.values())) == len(METRIC_BITS)
    assert max(METRIC_BITS.values()) < CROSS_GROUP_BIT


async def test_concurrent_folds_count_each_event_once(
    client: TestClient[Any, Any], office: Office
) -> None:
    async with client.app[DB]() as session:
        for i in range(300):
            await record(
                session,
                Metric.MESSAGE_SENT,
                Subject(office.org.id, UNIT_A, G101, uuid.UUID(int=i % 7 + 1)),
                at=WEEK1 + timedelta(seconds=i),
                channel=Channel.ROOM,
            )
        await session.commit()
    db = client.app[DB]
    async with db() as session:
        # The app's own fold job may have folded the accounts' creation events already.
        waiting = await session.scalar(
            select(func.count()).select_from(AnalyticsEvent).where(AnalyticsEvent.folded.is_(False))
        )
    done = await asyncio.gather(*(fold_pending(db, secret=SECRET) for _ in range(3)))
    assert sum(done) == waiting  # the 300 and the accounts' creation, each once
    async with db() as session:
        total = await session.scalar(
            select(func.sum(AnalyticsRollup.count)).where(
                AnalyticsRollup.metric == Metric.MESSAGE_SENT,
                AnalyticsRollup.period == "day",
            )
        )
        messages = await session.scalar(select(func.sum(PersonDay.messages)))
    assert (total, messages) == (300, 300)


async def test_retention_deletes_raw_events_only_before_the_oldest_unfolded_one(
    client: TestClient[Any, Any], office: Office
) -> None:
    from server.analytics.rollup import FoldedOnly

    db = client.app[DB]

    async def message(at: datetime) -> None:
        async with db() as session:
            await record(session, Metric.MESSAGE_SENT, Subject(office.org.id, UNIT_A, G101), at=at)
            await session.commit()

    await message(WEEK1)
    await fold_pending(db, secret=SECRET)
    cutoff = WEEK1 + timedelta(days=30)
    async with db() as session:
        assert await FoldedOnly().deletable_before(session, office.org.id, cutoff) == cutoff
    await message(WEEK1 - timedelta(days=3))  # arrives late, not folded yet
    async with db() as session:
        bound = await FoldedOnly().deletable_before(session, office.org.id, cutoff)
    assert bound == WEEK1 - timedelta(days=3)


async def test_record_refuses_anything_but_enums_ids_and_numbers_and_writes_nothing(
    client: TestClient[Any, Any], office: Office
) -> None:
    subject = Subject(office.org.id, UNIT_A, G101, uuid.uuid4())
    bad: list[dict[str, Any]] = [
        {"metric": "message_sent"},  # a string, not the enum
        {"channel": "hello, this is free text"},
        {"room_kind": "Ada's office"},
        {"peer": "someone@example.com"},
        {"seconds": float("nan")},
        {"count": -1},
    ]
    async with client.app[DB]() as session:
        before = await session.scalar(select(func.count()).select_from(AnalyticsEvent))
        for change in bad:
            arguments: dict[str, Any] = {"metric": Metric.MESSAGE_SENT} | change
            metric = arguments.pop("metric")
            with pytest.raises((TypeError, ValueError)):
                await record(session, metric, subject, at=WEEK1, **arguments)
        with pytest.raises(TypeError):
            Event(Metric.SIGNED_IN, Subject(office.org.id, person="ada"), WEEK1)  # type: ignore[arg-type]
        await session.commit()
        after = await session.scalar(select(func.count()).select_from(AnalyticsEvent))
    assert after == before


async def test_record_events_writes_a_batch_inside_the_callers_transaction(
    client: TestClient[Any, Any], office: Office
) -> None:
    subject = Subject(office.org.id, UNIT_A, G101, uuid.uuid4())
    batch = [Event(Metric.MESSAGE_SENT, subject, WEEK1, channel=Channel.ROOM) for _ in range(3)]

    async def stored() -> int:
        async with client.app[DB]() as session:
            count = await session.scalar(
                select(func.count()).where(AnalyticsEvent.person == subject.person)
            )
            return int(count or 0)

    async with client.app[DB]() as session:
        await record_events(session, batch)
        await session.rollback()  # the action failed: nothing of it is recorded
    assert await stored() == 0
    async with client.app[DB]() as session:
        await record_events(session, batch)
        await session.commit()
    assert await stored() == 3


async def test_concurrent_publishers_write_each_period_once(
    client: TestClient[Any, Any], office: Office
) -> None:
    """Two processes' jobs publishing at once: each period is written by one of them."""
    from server.analytics.publish import publish_org
    from server.analytics.tables import PublishedFigure, PublishedPeriod

    async with client.app[DB]() as session:
        for i in range(6):
            subject = Subject(office.org.id, UNIT_A, G101, uuid.uuid4())
            await record(session, Metric.SIGNED_IN, subject, at=WEEK1 + timedelta(minutes=i))
        await session.commit()
    await fold_pending(client.app[DB], secret=SECRET)
    now = datetime(2026, 1, 12, 1, tzinfo=UTC)  # the first week has just ended
    done = await asyncio.gather(*(publish_org(client.app[DB], office.org.id, now, 5) for _ in "ab"))
    async with client.app[DB]() as session:
        periods = (await session.scalars(select(PublishedPeriod))).all()
        figures = await session.scalar(
            select(func.count())
            .select_from(PublishedFigure)
            .where(
                PublishedFigure.period == date(2026, 1, 5),
                PublishedFigure.granularity == Granularity.DAY,
                PublishedFigure.dashboard == Dashboard.ACTIVE,
            )
        )
    assert sum(done) == len(periods) == 7 + 1  # the week's seven days, then the week
    assert figures == 1 + 1 + 1  # the organization, unit 100, group 101: once each
    assert await publish_org(client.app[DB], office.org.id, now, 5) == 0
