"""The disclosure audit: everything an organization admin and a group lead can read over HTTP,
put together with linear programming, leaves every hidden figure uncertain by at least the
minimum group size.

For each scenario the test builds an organization with small groups, runs the analytics job
(fold, then publish) as the server does, reads every dashboard for every scope and both
granularities, and then plays the attacker: it writes down, on its own, the relations any
reader knows (groups add up to their unit and units to the organization, columns to the row
total, days to the week for additive figures, a group's minutes with other groups are the sum
of unknown per-pair minutes), fixes every shown figure, and asks ``scipy.optimize.linprog``
for the least and greatest value of each hidden one (nothing is negative). The interval must
be at least ``k`` wide.

The attacker's arithmetic does not depend on the database, and each backend's analytics SQL
is tested on its own elsewhere; so the small scenario runs on both backends and each larger
one on one of them (SQLite or PostgreSQL), which halves the audit's share of a CI run.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient
from scipy.optimize import linprog
from sqlalchemy import select

from rooms.layout import RoomKind
from server.analytics.metrics import Channel, Metric
from server.analytics.publish import publish_due
from server.analytics.record import Subject, record
from server.analytics.rollup import fold_pending
from server.db.models import Group, User
from server.http.keys import DB, SETTINGS
from server.infra.clock import FakeClock
from server.people import accounts
from server.people.identity import Role
from tests.conftest import Office, postgres_and_redis_only, sign_in, sqlite_only

K = 5
MONDAY = date(2026, 1, 5)
DASHBOARDS = [
    "active",
    "messages",
    "rooms",
    "meetings",
    "mentoring",
    "ties_minutes",
    "ties_new_pairs",
]
ORG = ("org", None)
GROUP_COLUMNS = {"active", "ties_minutes", "ties_new_pairs"}
NOT_ADDITIVE_IN_TIME = {"active"}
NOT_LINEAR = {("meetings", "median_minutes")}


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class Org:
    """Who is in which group of which unit (ids as events carry them)."""

    org_id: int
    units: dict[int, list[int]]  # unit -> its groups
    people: dict[int, list[uuid.UUID]] = field(default_factory=dict)  # group -> people
    # Whether someone outside every group is active in the period (the admin signing in to
    # read): then the organization's figures hold an unknown rest beyond its units.
    outside: bool = False

    def unit_of(self, group: int) -> int:
        return next(u for u, groups in self.units.items() if group in groups)


async def put(
    client: TestClient[Any, Any],
    org: Org,
    group: int,
    person: uuid.UUID,
    metric: Metric,
    when: datetime,
    **kw: Any,
) -> None:
    async with client.app[DB]() as session:
        await record(
            session, metric, Subject(org.org_id, org.unit_of(group), group, person), at=when, **kw
        )
        await session.commit()


async def activity(client: TestClient[Any, Any], org: Org, days: list[date], seed: int) -> None:
    """A varied week: people sign in, chat on several channels, spend time in rooms (some
    with people of other groups), hold meetings, and a few mentoring events."""
    rng = random.Random(seed)
    groups = [g for gs in org.units.values() for g in gs]
    async with client.app[DB]() as session:

        async def add(
            group: int, person: uuid.UUID, metric: Metric, when: datetime, **kw: Any
        ) -> None:
            subject = Subject(org.org_id, org.unit_of(group), group, person)
            await record(session, metric, subject, at=when, **kw)

        for day in days:
            for group in groups:
                for person in org.people[group]:
                    if rng.random() < 0.25:
                        continue
                    when = at(day, rng.randrange(8, 18))
                    await add(group, person, Metric.SIGNED_IN, when)
                    if rng.random() < 0.7:
                        channel = rng.choice(list(Channel))
                        await add(
                            group,
                            person,
                            Metric.MESSAGE_SENT,
                            when,
                            channel=channel,
                            count=rng.randrange(1, 6),
                        )
                    if rng.random() < 0.6:
                        kind = rng.choice(
                            [RoomKind.TEAM_ROOM, RoomKind.MEETING_ROOM, RoomKind.LOBBY]
                        )
                        await add(
                            group,
                            person,
                            Metric.ROOM_SECONDS,
                            when,
                            room_kind=kind,
                            seconds=60.0 * rng.randrange(1, 40),
                        )
                    if rng.random() < 0.15:
                        await add(
                            group,
                            person,
                            Metric.MEETING_HELD,
                            when,
                            seconds=60.0 * rng.randrange(5, 60),
                        )
                    if rng.random() < 0.2:
                        await add(
                            group,
                            person,
                            Metric.MEETING_SECONDS,
                            when,
                            seconds=60.0 * rng.randrange(5, 60),
                        )
                    if rng.random() < 0.1:
                        await add(group, person, Metric.MENTORING_MATCHED, when)
                    if rng.random() < 0.3:
                        other = rng.choice([g for g in groups if g != group])
                        peer = rng.choice(org.people[other])
                        seconds = 60.0 * rng.randrange(1, 30)
                        await add(
                            group,
                            person,
                            Metric.ROOM_TOGETHER_SECONDS,
                            when,
                            room_kind=RoomKind.LOBBY,
                            seconds=seconds,
                            peer_group_id=other,
                            peer=peer,
                        )
        await session.commit()


async def run_jobs(client: TestClient[Any, Any], clock: FakeClock, until: datetime) -> None:
    """The analytics job as the server runs it: fold, then publish what has closed."""
    if until > clock.now():
        clock.advance((until - clock.now()).total_seconds())
    await fold_pending(client.app[DB], secret=client.app[SETTINGS].secret_key)
    await publish_due(client.app[DB], clock.now(), K)


# -- reading everything ----------------------------------------------------------------------

FigureKey = tuple[Any, ...]  # (dashboard, granularity, period, level, id, column)


@dataclass
class Seen:
    shown: dict[FigureKey, float] = field(default_factory=dict)
    hidden: set[FigureKey] = field(default_factory=set)
    requests: int = 0

    def add(self, key: FigureKey, cell: dict[str, Any]) -> None:
        if cell["pending"]:
            return
        if cell["suppressed"]:
            assert key not in self.shown, f"{key} was shown, then hidden"
            self.hidden.add(key)
        else:
            assert key not in self.hidden, f"{key} was hidden, then shown"
            if key in self.shown:  # published figures never change
                assert self.shown[key] == cell["value"], key
            self.shown[key] = float(cell["value"])


def identity(dashboard: str, granularity: str, period: str, scope: str, column: str) -> FigureKey:
    """The figure a cell shows, whichever table it appears in."""
    level, _, number = scope.partition(":")
    scope_id = int(number) if number else None
    if dashboard in GROUP_COLUMNS:
        if column.startswith("group:"):
            return (dashboard, granularity, period, "group", int(column[6:]), "value")
        if level == "group":  # a group's row total is its own figure
            return (dashboard, granularity, period, "group", scope_id, "value")
    return (dashboard, granularity, period, level, scope_id, column)


async def read_all(
    client: TestClient[Any, Any],
    scopes: list[str],
    start: date,
    end: date,
    seen: Seen,
    granularities: tuple[str, ...] = ("day", "week"),
) -> None:
    for dashboard in DASHBOARDS:
        for scope in scopes:
            for granularity in granularities:
                response = await client.get(
                    f"/api/admin/dashboards/{dashboard}",
                    params={
                        "scope": scope,
                        "from": start.isoformat(),
                        "to": end.isoformat(),
                        "granularity": granularity,
                    },
                )
                assert response.status == 200, await response.text()
                seen.requests += 1
                table = await response.json()
                assert "column_totals" not in table  # nothing adds periods of a window up
                for row in table["rows"]:
                    for column, cell in zip(table["columns"], row["cells"], strict=True):
                        seen.add(
                            identity(dashboard, granularity, row["period"], scope, column), cell
                        )
                    if row["total"] is not None:
                        seen.add(
                            identity(dashboard, granularity, row["period"], scope, "total"),
                            row["total"],
                        )


# -- the attacker's linear program -----------------------------------------------------------


def relations(org: Org, seen: Seen) -> list[tuple[FigureKey, list[FigureKey]]]:
    """What any reader knows holds between figures (whole = sum of parts). Everyone in these
    scenarios is in exactly one group, so nothing sits outside the groups."""
    found: list[tuple[FigureKey, list[FigureKey]]] = []
    keys = seen.hidden | set(seen.shown)

    def rest(*where: Any) -> list[Any]:
        return [("rest", *where)] if org.outside else []

    periods = {(k[1], k[2]) for k in keys}
    groups = sorted(g for gs in org.units.values() for g in gs)
    for dashboard in DASHBOARDS:
        columns = sorted(
            {k[5] for k in keys if k[0] == dashboard and k[5] not in ("total", "value")}
        )
        for granularity, period in periods:

            def key(
                level: str,
                scope_id: int | None,
                column: str,
                where: tuple[str, str, str] = (dashboard, granularity, period),
            ) -> FigureKey:
                return (*where, level, scope_id, column)

            if dashboard in ("ties_minutes", "ties_new_pairs"):
                for g in groups:
                    pairs = [
                        ("pair", dashboard, granularity, period, min(g, h), max(g, h))
                        for h in groups
                        if h != g
                    ]
                    found.append((key("group", g, "value"), pairs))
                continue
            if dashboard == "active":
                for unit, unit_groups in org.units.items():
                    found.append(
                        (
                            key("unit", unit, "total"),
                            [key("group", g, "value") for g in unit_groups],
                        )
                    )
                units = [key("unit", u, "total") for u in org.units]
                found.append((key("org", None, "total"), [*units, *rest(key(*ORG, "total"))]))
                continue
            scopes = [
                ("org", None),
                *(("unit", u) for u in org.units),
                *(("group", g) for g in groups),
            ]
            linear = [c for c in columns if (dashboard, c) not in NOT_LINEAR]
            for column in linear:
                for unit, unit_groups in org.units.items():
                    found.append(
                        (key("unit", unit, column), [key("group", g, column) for g in unit_groups])
                    )
                found.append(
                    (
                        key("org", None, column),
                        [*(key("unit", u, column) for u in org.units), *rest(key(*ORG, column))],
                    )
                )
            if dashboard in ("messages", "rooms"):
                for level, scope_id in scopes:
                    found.append(
                        (key(level, scope_id, "total"), [key(level, scope_id, c) for c in columns])
                    )
    # Days add up to their week (additive figures, and the unknown pair minutes too).
    weeks = {k[2] for k in keys if k[1] == "week"}
    for week in weeks:
        days = [(date.fromisoformat(week) + timedelta(days=i)).isoformat() for i in range(7)]
        for k in [k for k in keys if k[1] == "week" and k[2] == week]:
            if k[0] in NOT_ADDITIVE_IN_TIME or (k[0], k[5]) in NOT_LINEAR:
                continue
            found.append((k, [(k[0], "day", d, *k[3:]) for d in days]))
        for dashboard in ("ties_minutes", "ties_new_pairs"):
            for g in groups:
                for h in groups:
                    if g < h:
                        found.append(
                            (
                                ("pair", dashboard, "week", week, g, h),
                                [("pair", dashboard, "day", d, g, h) for d in days],
                            )
                        )
    return found


def audit(org: Org, seen: Seen) -> dict[FigureKey, tuple[float, float]]:
    """The interval of each hidden figure given every shown one."""
    rels = relations(org, seen)
    unknown: set[Any] = set()
    for whole, parts in rels:
        for member in (whole, *parts):
            if member not in seen.shown:
                unknown.add(member)
    order = sorted(unknown, key=repr)
    column = {u: i for i, u in enumerate(order)}
    rows, rhs = [], []
    for whole, parts in rels:
        row = np.zeros(len(order))
        b = 0.0
        for sign, member in ((1.0, whole), *((-1.0, p) for p in parts)):
            if member in column:
                row[column[member]] += sign
            else:
                b -= sign * seen.shown[member]
        if row.any():
            rows.append(row)
            rhs.append(b)
        else:
            assert abs(b) < 0.051 * (len(parts) + 1), f"shown figures disagree: {whole}"
    a_eq = np.array(rows)
    found = {}
    for target in sorted(seen.hidden, key=repr):
        if target not in column:
            found[target] = (0.0, math.inf)  # in no relation: nothing bounds it
            continue
        objective = np.zeros(len(order))
        objective[column[target]] = 1.0
        low = linprog(objective, A_eq=a_eq, b_eq=rhs, bounds=(0, None), method="highs")
        high = linprog(-objective, A_eq=a_eq, b_eq=rhs, bounds=(0, None), method="highs")
        assert low.status == 0, (target, low.message)
        found[target] = (low.fun, math.inf if high.status == 3 else -high.fun)
    return found


def assert_nothing_narrow(org: Org, seen: Seen) -> dict[FigureKey, tuple[float, float]]:
    found = audit(org, seen)
    narrow = {key: span for key, span in found.items() if span[1] - span[0] < K - 1e-6}
    assert not narrow, f"hidden figures pinned within less than {K}: {sorted(narrow.items())[:5]}"
    # Not vacuous: figures were shown, others hidden, and some hidden ones are bounded.
    assert seen.shown and seen.hidden
    assert any(span[1] < math.inf for span in found.values())
    return found


# -- scenarios -------------------------------------------------------------------------------


async def grant(client: TestClient[Any, Any], user: User, role: Role, group_id: int) -> None:
    async with client.app[DB]() as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        await accounts.grant(session, fresh, role, group_id=group_id)
        await session.commit()


async def real_org(client: TestClient[Any, Any], office: Office, sizes: tuple[int, int]) -> Org:
    g1, g2 = office.group_ids
    async with client.app[DB]() as session:
        unit = await session.scalar(select(Group.unit_id).where(Group.id == g1))
    assert unit is not None
    org = Org(office.org.id, {unit: [g1, g2]})
    org.people = {
        g1: [uuid.uuid4() for _ in range(sizes[0])],
        g2: [uuid.uuid4() for _ in range(sizes[1])],
    }
    return org


def scopes_of(org: Org) -> list[str]:
    return [
        "org",
        *(f"unit:{u}" for u in org.units),
        *(f"group:{g}" for gs in org.units.values() for g in gs),
    ]


WEEK = [MONDAY + timedelta(days=i) for i in range(7)]
AFTER_WEEK = at(MONDAY + timedelta(days=7), 0) + timedelta(minutes=10)


@pytest.mark.timeout(600)
async def test_two_groups_one_small(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    org = await real_org(client, office, (9, 2))
    await activity(client, org, WEEK, seed=1)
    await run_jobs(client, clock, AFTER_WEEK)
    g1, g2 = office.group_ids
    seen = Seen()
    await sign_in(client, "admin@acme.example")
    await read_all(client, scopes_of(org), WEEK[0], WEEK[-1], seen)
    await grant(client, office.alice, Role.GROUP_LEAD, g1)
    await sign_in(client, "alice@acme.example")
    lead = Seen()
    await read_all(client, [f"group:{g1}"], WEEK[0], WEEK[-1], lead)
    # The lead reads the same publication: nothing they see differs from the admin's view.
    for key, value in lead.shown.items():
        assert seen.shown[key] == value
    assert lead.hidden <= seen.hidden
    found = assert_nothing_narrow(org, seen)
    # The small group's figures are all hidden, and none can be worked out.
    small = [k for k in seen.hidden if k[3] == "group" and k[4] == g2]
    assert small and not any(k[3] == "group" and k[4] == g2 for k in seen.shown)
    assert all(found[k][1] - found[k][0] >= K for k in small)


@sqlite_only
@pytest.mark.timeout(600)
async def test_three_units_with_nested_groups(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    org = Org(office.org.id, {100: [101, 102, 103], 200: [201, 202], 300: [301]})
    sizes = {101: 8, 102: 3, 103: 6, 201: 2, 202: 7, 301: 4}
    org.people = {g: [uuid.uuid4() for _ in range(n)] for g, n in sizes.items()}
    await activity(client, org, WEEK, seed=2)
    await run_jobs(client, clock, AFTER_WEEK)
    seen = Seen()
    await sign_in(client, "admin@acme.example")
    await read_all(client, scopes_of(org), WEEK[0], WEEK[-1], seen)
    assert_nothing_narrow(org, seen)


@postgres_and_redis_only
@pytest.mark.timeout(600)
async def test_a_week_polled_daily(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    """Someone reads every morning: each day's figures appear once the day has closed and
    never change; the week appears after Sunday; all of it together still pins nothing."""
    org = Org(office.org.id, {100: [101, 102], 200: [201]}, outside=True)
    org.people = {
        101: [uuid.uuid4() for _ in range(7)],
        102: [uuid.uuid4() for _ in range(3)],
        201: [uuid.uuid4() for _ in range(6)],
    }
    seen = Seen()
    await sign_in(client, "admin@acme.example")
    for n, day in enumerate(WEEK):
        await activity(client, org, [day], seed=10 + n)
        await run_jobs(client, clock, at(day, 23))
        await read_all(client, ["org", "unit:100", "group:101"], WEEK[0], WEEK[-1], seen, ("day",))
        published_days = {k[2] for k in set(seen.shown) | seen.hidden if k[1] == "day"}
        # Today is not published until it has ended: nothing of it can be read yet.
        assert day.isoformat() not in published_days
        assert published_days == {d.isoformat() for d in WEEK[:n]}
    await run_jobs(client, clock, AFTER_WEEK)
    await read_all(client, scopes_of(org), WEEK[0], WEEK[-1], seen)
    assert {k[2] for k in seen.shown if k[1] == "week"} == {MONDAY.isoformat()}
    assert_nothing_narrow(org, seen)


@postgres_and_redis_only
@pytest.mark.timeout(600)
async def test_a_person_leaving_a_group_between_two_periods(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    """Group 101 loses one of its six to group 102 after the first week: comparing the two
    weeks must not single that person out."""
    org = Org(office.org.id, {100: [101, 102]})
    mover = uuid.uuid4()
    stay = [uuid.uuid4() for _ in range(5)]
    others = [uuid.uuid4() for _ in range(5)]
    org.people = {101: [*stay, mover], 102: others}
    await activity(client, org, WEEK, seed=3)
    org.people = {101: stay, 102: [*others, mover]}
    second = [d + timedelta(days=7) for d in WEEK]
    await activity(client, org, second, seed=4)
    await run_jobs(client, clock, AFTER_WEEK + timedelta(days=7))
    seen = Seen()
    await sign_in(client, "admin@acme.example")
    await read_all(client, scopes_of(org), WEEK[0], second[-1], seen)
    assert {k[2] for k in set(seen.shown) | seen.hidden if k[1] == "week"} == {
        MONDAY.isoformat(),
        second[0].isoformat(),
    }
    assert_nothing_narrow(org, seen)
