"""The demo office: an organization of 44 people in five teams with eight weeks of activity
behind it, a floor plan and a guest link, so a first run shows a living office and dashboards
with figures (and, for a team of three, what hiding looks like). Seeding is idempotent."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import RoomKind
from server.analytics.metrics import Channel, Metric
from server.analytics.publish import GRACE, publish_due
from server.analytics.record import Event, Subject, record_events
from server.analytics.rollup import fold_pending, week_of
from server.db.models import Organization, Room
from server.infra.clock import Clock
from server.infra.settings import Settings
from server.people import accounts, invites
from server.people.identity import Role
from server.people.passwords import hash_password

DEMO_SLUG = "demo"
DEMO_PASSWORD = "officehours-demo-2026"  # noqa: S105 (printed for the demo on purpose)
HISTORY_WEEKS = 8  # whole weeks before the current one, plus its days that have ended
RANDOM_SEED = 2026  # the same office and history on every machine (for the same week)
UNITS = ("Product & Engineering", "Customer Success")


@dataclass(frozen=True)
class Team:
    """A team and its habits on a working day, so teams differ on the dashboards."""

    name: str
    unit: int  # index into UNITS
    room: RoomKind  # where they sit (the floor has four team rooms)
    messages: float  # messages a person sends
    channels: tuple[tuple[Channel, float], ...]  # where, by weight
    room_hours: float  # hours in their room
    meetings: float  # meetings the team holds
    meeting_minutes: int
    partners: tuple[int, ...]  # teams whose people join their meetings (indexes into TEAMS)
    on_call: bool = False  # someone works each weekend day


TEAMS: tuple[Team, ...] = (
    Team(
        "Platform team", 0, RoomKind.TEAM_ROOM, 26,
        ((Channel.ROOM, 5), (Channel.DIRECT, 3), (Channel.GROUP, 2)), 4.0, 1.6, 30, (1, 3),
    ),
    Team(
        "Design team", 0, RoomKind.TEAM_ROOM, 15,
        ((Channel.ROOM, 3), (Channel.DIRECT, 5), (Channel.GROUP, 2)), 2.5, 2.0, 50, (0, 4),
    ),
    Team(
        "Data team", 0, RoomKind.TEAM_ROOM, 19,
        ((Channel.ROOM, 4), (Channel.DIRECT, 3), (Channel.GROUP, 3)), 3.0, 1.0, 40, (4, 0),
    ),
    Team(
        "Support team", 1, RoomKind.TEAM_ROOM, 34,
        ((Channel.ROOM, 3), (Channel.DIRECT, 6), (Channel.GROUP, 1)), 5.0, 0.8, 25, (0,),
        on_call=True,
    ),
    Team(
        "Research", 0, RoomKind.PRIVATE_OFFICE, 8,
        ((Channel.ROOM, 1), (Channel.DIRECT, 1)), 2.0, 0.4, 60, (2, 1),
    ),
)  # fmt: skip
SMALL_TEAMS = TEAMS[:2]  # the office with only the eight named people (browser tests)

# (name, email local part, team index, extra role); the first eight are the named people the
# browser tests and the docs use.
PEOPLE: tuple[tuple[str, str, int, Role | None], ...] = (
    ("Ada Okafor", "ada", 0, Role.ORG_ADMIN),
    ("Bruno Lind", "bruno", 0, Role.GROUP_LEAD),
    ("Chen Wei", "chen", 0, None),
    ("Dana Ruiz", "dana", 0, Role.PROGRAM_MANAGER),
    ("Emeka Obi", "emeka", 1, Role.GROUP_LEAD),
    ("Fatima Haddad", "fatima", 1, None),
    ("Goran Petrov", "goran", 1, None),
    ("Hana Sato", "hana", 1, None),
    ("Ines Carvalho", "ines", 0, None),
    ("Jonas Berg", "jonas", 0, None),
    ("Kavya Iyer", "kavya", 0, None),
    ("Liam Byrne", "liam", 0, None),
    ("Mei Tanaka", "mei", 0, None),
    ("Nikolai Ivanov", "nikolai", 0, None),
    ("Olivia Brooks", "olivia", 0, None),
    ("Pedro Alves", "pedro", 0, None),
    ("Quinn Harper", "quinn", 1, None),
    ("Rosa Martinez", "rosa", 1, None),
    ("Samir Khan", "samir", 1, None),
    ("Tala Nasser", "tala", 1, None),
    ("Uma Patel", "uma", 1, None),
    ("Victor Moreau", "victor", 2, Role.GROUP_LEAD),
    ("Wanjiru Kamau", "wanjiru", 2, None),
    ("Xavier Dubois", "xavier", 2, None),
    ("Yara Costa", "yara", 2, None),
    ("Zoe Fischer", "zoe", 2, None),
    ("Amir Rahimi", "amir", 2, None),
    ("Bea Lindqvist", "bea", 2, None),
    ("Carlos Mendes", "carlos", 2, None),
    ("Daria Novak", "daria", 2, None),
    ("Elif Yilmaz", "elif", 2, None),
    ("Farah Siddiqui", "farah", 3, Role.UNIT_ADMIN),
    ("Gabriel Silva", "gabriel", 3, Role.GROUP_LEAD),
    ("Helena Kowalski", "helena", 3, None),
    ("Isaac Mensah", "isaac", 3, None),
    ("Julia Schmidt", "julia", 3, None),
    ("Kenji Mori", "kenji", 3, None),
    ("Lucia Romero", "lucia", 3, None),
    ("Marcus Reed", "marcus", 3, None),
    ("Nadia Petrova", "nadia", 3, None),
    ("Omar Farouk", "omar", 3, None),
    ("Priya Raman", "priya", 4, Role.GROUP_LEAD),
    ("Rafael Torres", "rafael", 4, None),
    ("Sofia Lindgren", "sofia", 4, None),
)
NAMED = PEOPLE[:8]


@dataclass(frozen=True)
class DemoOffice:
    org_id: int
    logins: tuple[tuple[str, str], ...]  # (email, role description): the named and the leads
    password: str
    guest_token: str
    guest_room: str
    people: int
    teams: int


def demo_email(local: str) -> str:
    return f"{local}@demo.officehours.example"


async def seed(
    db: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock, *, small: bool = False
) -> DemoOffice:
    """Create the demo organization unless it exists, then fold and publish what is due as
    the server's analytics job does, so the dashboards have figures before the first request.

    ``small``: only the eight named people in two teams, no history and nothing published —
    the office the browser tests start from, so the figures they check are their own."""
    now = clock.now()
    teams, people = (SMALL_TEAMS, NAMED) if small else (TEAMS, PEOPLE)
    async with db() as session:
        org = await session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
        if org is None:
            org = await _create(session, now, teams, people, history=not small)
        lobby = await session.scalar(
            select(Room).where(Room.org_id == org.id, Room.name == "Lobby")
        )
        assert lobby is not None
        token = await invites.create_link(
            session,
            settings.secret_key,
            room_id=lobby.id,
            created_by=None,
            now=now,
            valid_for=timedelta(days=7),
            requires_admission=True,
        )
        await session.commit()
    if not small:  # the small office has no history; publishing would freeze empty periods
        await fold_pending(db, secret=settings.secret_key)
        while await publish_due(db, now, settings.analytics_min_group_size):
            pass  # a run publishes at most 62 periods; the history has more
    logins = tuple(
        (demo_email(local), (role.value if role else "member") + f", {teams[team].name}")
        for n, (_, local, team, role) in enumerate(people)
        if n < len(NAMED) or role is not None
    )
    return DemoOffice(org.id, logins, DEMO_PASSWORD, token, "Lobby", len(people), len(teams))


async def _create(
    session: AsyncSession,
    now: datetime,
    teams: tuple[Team, ...],
    people: tuple[tuple[str, str, int, Role | None], ...],
    *,
    history: bool,
) -> Organization:
    rooms = tuple(team.name for team in teams if team.room is RoomKind.TEAM_ROOM)
    org = await accounts.create_organization(
        session, "Demo Company", DEMO_SLUG, now=now, team_names=rooms
    )
    units = [await accounts.add_unit(session, org.id, name) for name in UNITS]
    groups = [await accounts.add_group(session, units[team.unit], team.name) for team in teams]
    password_hash = await hash_password(DEMO_PASSWORD)
    members: list[tuple[Subject, int]] = []
    for name, local, team, role in people:
        user = await accounts.create_user(
            session,
            org.id,
            email=demo_email(local),
            display_name=name,
            password_hash=password_hash,
            now=now,
        )
        await accounts.grant(session, user, Role.MEMBER, group_id=groups[team].id)
        if role is Role.GROUP_LEAD:
            await accounts.grant(session, user, role, group_id=groups[team].id)
        elif role is Role.UNIT_ADMIN:
            await accounts.grant(session, user, role, unit_id=groups[team].unit_id)
        elif role is not None:
            await accounts.grant(session, user, role)
        members.append((await accounts.analytics_subject(session, org.id, user.id), team))
    if history:
        # In the organization's creating transaction: a failed seed leaves no history, and a
        # second seed (the organization exists) records none.
        events = list(history_events(members, teams, history_days(now), random.Random(RANDOM_SEED)))
        for start in range(0, len(events), 5000):
            await record_events(session, events[start : start + 5000])
    return org


def history_days(now: datetime) -> list[date]:
    """The days the history covers: from the Monday ``HISTORY_WEEKS`` weeks before this
    week's up to the last day that has closed for publication."""
    today = now.astimezone(UTC).date()
    first = week_of(today) - timedelta(weeks=HISTORY_WEEKS)
    days = []
    day = first
    while datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) + GRACE <= now:
        days.append(day)
        day += timedelta(days=1)
    return days


def history_events(
    members: list[tuple[Subject, int]],
    teams: tuple[Team, ...],
    days: list[date],
    rng: random.Random,
) -> Iterator[Event]:
    """Synthetic engagement, event for event as the services record it (sign-in, connected
    time, room visits and time together, messages by channel, meetings): weekdays busy,
    weekends quiet but for support's on-call, the office used more week by week, and a week
    off for some. Messages are counted per person, hour and channel (``count``): events are
    kept to the hour, so the figures are those of one event per message."""
    zeal = [rng.uniform(0.6, 1.4) for _ in members]
    away = [rng.randrange(len(days) // 7 + 1) if rng.random() < 0.3 else -1 for _ in members]
    for day in days:
        week = (day - days[0]).days // 7
        weekday = day.weekday() < 5
        turnout = 0.72 + 0.2 * week / max(1, len(days) // 7)
        present: dict[int, list[int]] = {t: [] for t in range(len(teams))}
        for i, (_, team) in enumerate(members):
            if away[i] == week:
                continue
            if rng.random() < (turnout if weekday else 0.12):
                present[team].append(i)
        if not weekday:
            for t, team_ in enumerate(teams):
                on_team = [i for i, (_, team) in enumerate(members) if team == t]
                if team_.on_call and on_team and not present[t]:
                    present[t].append(on_team[(day.toordinal() // 7) % len(on_team)])
        for t, team_ in enumerate(teams):
            for i in present[t]:
                mates = [j for j in present[t] if j != i]
                yield from _workday(members, i, mates, team_, day, zeal[i], weekday, rng)
            if weekday:
                yield from _meetings(members, present, t, team_, day, rng)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(max(0, min(23, hour))), tzinfo=UTC)


def _workday(
    members: list[tuple[Subject, int]],
    i: int,
    mates: list[int],
    team: Team,
    day: date,
    zeal: float,
    weekday: bool,
    rng: random.Random,
) -> Iterator[Event]:
    """One person's day: sign in, stay connected, sit in the team's room (with a teammate or
    two for part of it), send messages, change status now and then."""
    subject = members[i][0]
    start = rng.choice((7, 8, 9, 10) if team.on_call else (8, 9, 10))
    hours = rng.uniform(6.0, 9.0) if weekday else rng.uniform(1.0, 3.0)
    end = start + int(hours)
    yield Event(Metric.SIGNED_IN, subject, _at(day, start))
    yield Event(Metric.REALTIME_CONNECTED, subject, _at(day, start))
    yield Event(Metric.REALTIME_SECONDS, subject, _at(day, end), seconds=hours * 3600)
    seconds = min(hours, team.room_hours * zeal * rng.uniform(0.6, 1.3)) * 3600
    yield Event(Metric.ROOM_ENTERED, subject, _at(day, start), room_kind=team.room)
    yield Event(Metric.ROOM_SECONDS, subject, _at(day, end), room_kind=team.room, seconds=seconds)
    for j in rng.sample(mates, min(2, len(mates))):
        peer = members[j][0]
        yield Event(
            Metric.ROOM_TOGETHER_SECONDS,
            subject,
            _at(day, end),
            room_kind=team.room,
            peer_group_id=peer.group_id,
            peer=peer.person,
            seconds=seconds * rng.uniform(0.3, 0.9),
        )
    if rng.random() < 0.4:
        yield Event(Metric.STATUS_CHANGED, subject, _at(day, rng.randint(start, end)))
    mean = team.messages * zeal * (1.0 if weekday else 0.5)
    sent = max(0, round(rng.gauss(mean, mean * 0.35)))
    channels = [c for c, _ in team.channels]
    weights = [w for _, w in team.channels]
    by_hour = Counter(
        (rng.randint(start, end), rng.choices(channels, weights)[0]) for _ in range(sent)
    )
    for (hour, channel), count in sorted(by_hour.items()):
        yield Event(Metric.MESSAGE_SENT, subject, _at(day, hour), count=count, channel=channel)


def _meetings(
    members: list[tuple[Subject, int]],
    present: dict[int, list[int]],
    t: int,
    team: Team,
    day: date,
    rng: random.Random,
) -> Iterator[Event]:
    """A team's meetings of the day, as the meetings service and the office record them when
    people leave: time in the meeting room, time together, the meeting's length."""
    held = int(team.meetings) + (rng.random() < team.meetings % 1)
    for _ in range(held):
        if len(present[t]) < 2:
            return
        people = rng.sample(present[t], rng.randint(2, min(6, len(present[t]))))
        guests = [j for p in team.partners for j in present[p]]
        if guests and rng.random() < 0.45:
            people.append(rng.choice(guests))
        minutes = max(10, round(rng.gauss(team.meeting_minutes, team.meeting_minutes * 0.3)))
        seconds = minutes * 60.0
        at = _at(day, rng.randint(10, 16))
        kind = RoomKind.MEETING_ROOM
        for i in people:
            subject = members[i][0]
            yield Event(Metric.ROOM_ENTERED, subject, at, room_kind=kind)
            yield Event(Metric.ROOM_SECONDS, subject, at, room_kind=kind, seconds=seconds)
            yield Event(Metric.MEETING_SECONDS, subject, at, room_kind=kind, seconds=seconds)
            for j in people:
                if j != i:
                    peer = members[j][0]
                    yield Event(
                        Metric.ROOM_TOGETHER_SECONDS,
                        subject,
                        at,
                        room_kind=kind,
                        peer_group_id=peer.group_id,
                        peer=peer.person,
                        seconds=seconds,
                    )
        organizer = members[people[0]][0]
        yield Event(Metric.MEETING_HELD, organizer, at, room_kind=kind, seconds=seconds)
