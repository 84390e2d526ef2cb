"""Folding the raw event stream into the tables dashboards read, and purging it afterwards.

Why a fold job and not upserts inside ``record()``: every producer's transaction would then
also update the same few organization/day rows, serializing all activity of an organization
on PostgreSQL (and risking deadlocks when one transaction records for several people). The
fold takes unfolded events in id order, merges them into the rollups in Python, marks exactly
those ids folded and commits, all in one transaction. It marks ids instead of keeping an id
watermark because on PostgreSQL a transaction may commit a lower id after a higher one; an
event not yet visible is simply folded next time. One folder runs at a time per database
(a transaction-scoped advisory lock on PostgreSQL, the write lock on SQLite).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Table,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import RoomKind
from server.analytics.metrics import Channel, Metric
from server.analytics.tables import (
    AnalyticsEvent,
    AnalyticsRollup,
    GroupScope,
    LengthHistogram,
    PairTie,
    Period,
    PersonDay,
    PersonWeek,
)
from server.db.base import table_of
from server.people.tokens import keyed_hash

BATCH = 20_000  # events per fold transaction; fewer passes over each person-day
_ADVISORY_KEY = 0x0FF1CE0A  # "one analytics folder at a time"
MAX_LENGTH_MINUTES = 24 * 60

# Bits of ``PersonDay.contributions``. Positions are stored: never renumber, only add.
# A new Metric needs a bit here (a test fails otherwise); 12-19 and 31-61 are free.
METRIC_BITS: dict[Metric, int] = {
    Metric.SIGNED_IN: 0,
    Metric.ACCOUNT_CREATED: 1,
    Metric.REALTIME_CONNECTED: 2,
    Metric.REALTIME_SECONDS: 3,
    Metric.ROOM_ENTERED: 4,
    Metric.ROOM_SECONDS: 5,
    Metric.ROOM_TOGETHER_SECONDS: 6,
    Metric.STATUS_CHANGED: 7,
    Metric.MESSAGE_SENT: 8,
    Metric.GUEST_JOINED: 9,
    Metric.MEETING_HELD: 10,
    Metric.MEETING_SECONDS: 11,
    Metric.MENTORING_MATCHED: 12,
    Metric.MENTORING_SESSION: 13,
    Metric.GOAL_COMPLETED: 14,
    Metric.FEEDBACK_GIVEN: 15,
}
CROSS_GROUP_BIT = 20  # time together with someone of another group
CHANNEL_BITS: dict[Channel, int] = {
    Channel.ROOM: 21,
    Channel.DIRECT: 22,
    Channel.GROUP: 23,
    Channel.PAIR: 24,
}
ROOM_KIND_BITS: dict[RoomKind, int] = {
    RoomKind.TEAM_ROOM: 25,
    RoomKind.PRIVATE_OFFICE: 26,
    RoomKind.MEETING_ROOM: 27,
    RoomKind.MENTORING_ROOM: 28,
    RoomKind.LOBBY: 29,
    RoomKind.TOWN_HALL: 30,
}
# Metrics that make a person "active" that day (creating an account does not).
NOT_ACTIVITY = frozenset({Metric.ACCOUNT_CREATED, Metric.GUEST_JOINED})
# Metrics whose ``seconds`` is a length worth a median.
LENGTH_METRICS = frozenset({Metric.MEETING_HELD})


def bit(position: int) -> int:
    return 1 << position


def contribution_mask(
    metric: Metric, channel: Channel | None, room_kind: RoomKind | None, cross_group: bool
) -> int:
    mask = bit(METRIC_BITS[metric])
    if metric is Metric.MESSAGE_SENT and channel is not None:
        mask |= bit(CHANNEL_BITS[channel])
    if metric is Metric.ROOM_SECONDS and room_kind is not None:
        mask |= bit(ROOM_KIND_BITS[room_kind])
    if cross_group:
        mask |= bit(CROSS_GROUP_BIT)
    return mask


def pair_key(secret: str, a: uuid.UUID, b: uuid.UUID) -> uuid.UUID:
    """The same for (a, b) and (b, a); without the secret it names nobody."""
    low, high = sorted((str(a), str(b)))
    return uuid.UUID(keyed_hash(secret, f"pair:{low}:{high}")[:32])


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _day_start(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


_CountKey = tuple[
    Period,
    datetime,
    int,
    int | None,
    int | None,
    Metric,
    RoomKind | None,
    Channel | None,
    int | None,
]
_PersonKey = tuple[date, int, uuid.UUID, int | None]
_LengthKey = tuple[date, int, int | None, int | None, Metric, int]


@dataclass
class _Sums:
    events: int = 0
    count: int = 0
    seconds: float = 0.0


@dataclass
class _Person:
    unit_id: int | None = None
    contributions: int = 0
    events: int = 0
    messages: int = 0
    meetings: int = 0
    last_at: datetime | None = None


@dataclass
class _Pair:
    group_a: int
    group_b: int
    first_day: date
    last_day: date
    seconds: float = 0.0


@dataclass
class _Batch:
    counts: dict[_CountKey, _Sums] = field(default_factory=dict)
    people: dict[_PersonKey, _Person] = field(default_factory=dict)
    pairs: dict[tuple[int, uuid.UUID], _Pair] = field(default_factory=dict)
    lengths: dict[_LengthKey, int] = field(default_factory=dict)
    groups: dict[int, tuple[int | None, int]] = field(default_factory=dict)

    def add(self, event: Any, secret: str) -> None:
        at: datetime = event.at
        day = at.date()
        for period, bucket in ((Period.HOUR, _hour(at)), (Period.DAY, _day_start(at))):
            key: _CountKey = (
                period,
                bucket,
                event.org_id,
                event.unit_id,
                event.group_id,
                event.metric,
                event.room_kind,
                event.channel,
                event.peer_group_id,
            )
            sums = self.counts.setdefault(key, _Sums())
            sums.events += 1
            sums.count += event.count
            sums.seconds += event.seconds
        if event.group_id is not None:
            self.groups[event.group_id] = (event.unit_id, event.org_id)
        cross = (
            event.metric is Metric.ROOM_TOGETHER_SECONDS
            and event.group_id is not None
            and event.peer_group_id is not None
            and event.group_id != event.peer_group_id
        )
        if event.person is not None:
            person = self._person(day, event.org_id, event.person, event.group_id, event.unit_id)
            person.contributions |= contribution_mask(
                event.metric, event.channel, event.room_kind, cross
            )
            if event.metric not in NOT_ACTIVITY:
                person.events += 1
                if person.last_at is None or at > person.last_at:
                    person.last_at = at
            if event.metric is Metric.MESSAGE_SENT:
                person.messages += event.count
            if event.metric is Metric.MEETING_SECONDS:
                person.meetings += 1
        if cross and event.peer is not None:
            peer = self._person(day, event.org_id, event.peer, event.peer_group_id, None)
            peer.contributions |= bit(CROSS_GROUP_BIT)
            if event.person is not None:
                key2 = (event.org_id, pair_key(secret, event.person, event.peer))
                low, high = sorted((event.group_id, event.peer_group_id))
                pair = self.pairs.setdefault(key2, _Pair(low, high, day, day))
                pair.first_day = min(pair.first_day, day)
                pair.last_day = max(pair.last_day, day)
                pair.seconds += event.seconds
        if event.metric in LENGTH_METRICS:
            minutes = min(MAX_LENGTH_MINUTES, int(event.seconds // 60))
            lkey = (day, event.org_id, event.unit_id, event.group_id, event.metric, minutes)
            self.lengths[lkey] = self.lengths.get(lkey, 0) + 1

    def _person(
        self, day: date, org_id: int, person: uuid.UUID, group_id: int | None, unit_id: int | None
    ) -> _Person:
        entry = self.people.setdefault((day, org_id, person, group_id), _Person())
        if entry.unit_id is None:
            entry.unit_id = unit_id
        return entry


async def fold(session: AsyncSession, *, secret: str, limit: int = BATCH) -> int:
    """Fold up to ``limit`` unfolded events into the rollups (the caller commits); returns
    how many. A second folder waits for the first to commit, then sees only what is left."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_ADVISORY_KEY)))
    else:
        # Take SQLite's write lock before reading, so two folders queue on the busy timeout
        # instead of both reading the same events and one failing at its first write.
        await session.execute(delete(AnalyticsEvent).where(false()))
    E = AnalyticsEvent
    rows = (
        await session.execute(
            select(
                E.id,
                E.metric,
                E.org_id,
                E.unit_id,
                E.group_id,
                E.person,
                E.peer_group_id,
                E.peer,
                E.room_kind,
                E.channel,
                E.count,
                E.seconds,
                E.at,
            )
            .where(E.folded.is_(False))
            .order_by(E.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    batch = _Batch()
    for row in rows:
        batch.add(row, secret)
    await _merge_counts(session, batch.counts)
    await _merge_people(session, batch.people)
    await _merge_person_weeks(session, batch.people)
    await _merge_pairs(session, batch.pairs)
    await _merge_lengths(session, batch.lengths)
    await _merge_groups(session, batch.groups)
    ids = [row.id for row in rows]
    for start in range(0, len(ids), 1000):
        await session.execute(
            update(E).where(E.id.in_(ids[start : start + 1000])).values(folded=True),
            execution_options={"synchronize_session": False},
        )
    return len(rows)


async def fold_pending(db: async_sessionmaker[AsyncSession], *, secret: str) -> int:
    """Fold everything there is, one committed batch at a time; returns how many events."""
    total = 0
    while True:
        async with db() as session:
            done = await fold(session, secret=secret)
            await session.commit()
        total += done
        if done < BATCH:
            return total


async def forget_person(session: AsyncSession, person: uuid.UUID, *, secret: str) -> int:
    """Erasure's part in analytics (the caller commits): the person's events stay in every
    figure, and nothing keeps their pseudonym. Pending events are folded first, so none of
    theirs is left to fold under either pseudonym (a pair they met would count as new twice);
    then their raw events — all in the rollups now — are deleted, their person-days and
    person-weeks move to a fresh random pseudonym that nothing else holds, and other people's
    events that name them as the peer name that one instead. Returns how many rows changed."""
    while await fold(session, secret=secret) == BATCH:
        pass
    fresh = uuid.uuid4()
    changed = 0
    for statement in (
        delete(AnalyticsEvent).where(AnalyticsEvent.person == person),
        update(AnalyticsEvent).where(AnalyticsEvent.peer == person).values(peer=fresh),
        update(PersonDay).where(PersonDay.person == person).values(person=fresh),
        update(PersonWeek).where(PersonWeek.person == person).values(person=fresh),
    ):
        result = await session.execute(statement, execution_options={"synchronize_session": False})
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


DEFAULT_RAW_RETENTION_DAYS = 90  # Settings.analytics_raw_retention_days' default


async def purge_raw_events(
    session: AsyncSession, now: datetime, retention_days: int = DEFAULT_RAW_RETENTION_DAYS
) -> int:
    """Delete raw events older than ``retention_days`` (pass the deployment's
    ``settings.analytics_raw_retention_days``) that are already in the rollups; the caller
    commits. Unfolded events are kept whatever their age."""
    cutoff = now - timedelta(days=retention_days)
    result = await session.execute(
        delete(AnalyticsEvent).where(AnalyticsEvent.folded.is_(True), AnalyticsEvent.at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _chunks(values: Iterable[Any], size: int = 500) -> Iterable[list[Any]]:
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


_Key = tuple[Any, ...]


async def _merge(
    session: AsyncSession,
    table: Table,
    key_columns: tuple[str, ...],
    where: Iterable[ColumnElement[bool]],
    changes: dict[_Key, dict[str, Any]],
    combine: Callable[[Mapping[Any, Any], dict[str, Any]], dict[str, Any]],
) -> None:
    """Merge ``changes`` (key → the batch's values) into ``table``: rows matching one of the
    ``where`` clauses are loaded once, existing keys get ``combine(stored, new)`` in one
    executemany UPDATE by primary key, new keys one executemany INSERT.

    Plain Core statements, not ORM objects: the ORM inserts new rows one at a time on SQLite
    (it needs each primary key back), which was most of the fold's time. The values are
    computed here from what was read, which is safe because one folder runs at a time.
    """
    if not changes:
        return
    (pk,) = table.primary_key.columns  # every analytics table has a one-column key
    existing: dict[_Key, RowMapping] = {}
    for clause in where:
        for stored in (await session.execute(select(table).where(clause))).mappings():
            existing[tuple(stored[name] for name in key_columns)] = stored
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, new in changes.items():
        found = existing.get(key)
        if found is None:
            inserts.append({**dict(zip(key_columns, key, strict=True)), **new})
        else:
            updates.append(
                {"_pk": found[pk.name]}
                | {f"_{name}": value for name, value in combine(found, new).items()}
            )
    if inserts:
        await session.execute(insert(table), inserts)
    if updates:
        names = [name[1:] for name in updates[0] if name != "_pk"]
        statement = (
            update(table)
            .where(pk == bindparam("_pk"))
            .values({name: bindparam(f"_{name}") for name in names})
        )
        await session.execute(statement, updates)


def _columns(changes: dict[Any, Any]) -> dict[_Key, dict[str, Any]]:
    """The batch's sums as column values: each accumulator's fields are named as the
    columns they add to."""
    return {key: dict(vars(sums)) for key, sums in changes.items()}


def _add(stored: Mapping[Any, Any], new: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: stored[name] + new[name] for name in names}


async def _merge_counts(session: AsyncSession, counts: dict[_CountKey, _Sums]) -> None:
    R = AnalyticsRollup
    orgs = {key[2] for key in counts}
    await _merge(
        session,
        table_of(R),
        (
            "period",
            "bucket",
            "org_id",
            "unit_id",
            "group_id",
            "metric",
            "room_kind",
            "channel",
            "peer_group_id",
        ),
        [  # every index column constrained, or SQLite reads all of the org's rollups
            and_(
                R.org_id.in_(orgs),
                R.period.in_(list(Period)),
                R.metric.in_({key[5] for key in counts}),
                R.bucket.in_(buckets),
            )
            for buckets in _chunks({key[1] for key in counts})
        ],
        _columns(counts),
        lambda stored, new: _add(stored, new, "events", "count", "seconds"),
    )


def _combine_person(stored: Mapping[Any, Any], new: dict[str, Any]) -> dict[str, Any]:
    last = [at for at in (stored["last_at"], new["last_at"]) if at is not None]
    return {
        "unit_id": stored["unit_id"] if stored["unit_id"] is not None else new["unit_id"],
        "contributions": stored["contributions"] | new["contributions"],
        "last_at": max(last) if last else None,
    } | _add(stored, new, "events", "messages", "meetings")


async def _merge_people(session: AsyncSession, people: dict[_PersonKey, _Person]) -> None:
    P = PersonDay
    days = {key[0] for key in people}
    await _merge(
        session,
        table_of(P),
        ("day", "org_id", "person", "group_id"),
        [  # by (person, day): with org_id too, SQLite reads the org's whole day per chunk
            and_(P.person.in_(persons), P.day.in_(days))
            for persons in _chunks({key[2] for key in people})
        ],
        _columns(people),
        _combine_person,
    )


def week_of(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


async def _merge_person_weeks(session: AsyncSession, people: dict[_PersonKey, _Person]) -> None:
    weeks: dict[_Key, dict[str, Any]] = {}
    for (day, org_id, person, group_id), add in people.items():
        key = (week_of(day), org_id, person, group_id)
        new = dict(vars(add))
        weeks[key] = weeks[key] | _combine_person(weeks[key], new) if key in weeks else new
    W = PersonWeek
    await _merge(
        session,
        table_of(W),
        ("week", "org_id", "person", "group_id"),
        [
            and_(W.person.in_(persons), W.week.in_({key[0] for key in weeks}))
            for persons in _chunks({key[2] for key in weeks})
        ],
        weeks,
        _combine_person,
    )


async def _merge_pairs(session: AsyncSession, pairs: dict[tuple[int, uuid.UUID], _Pair]) -> None:
    orgs = {key[0] for key in pairs}
    await _merge(
        session,
        table_of(PairTie),
        ("org_id", "pair"),
        [
            and_(PairTie.org_id.in_(orgs), PairTie.pair.in_(keys))
            for keys in _chunks({key[1] for key in pairs})
        ],
        _columns(pairs),
        lambda stored, new: {
            "first_day": min(stored["first_day"], new["first_day"]),
            "last_day": max(stored["last_day"], new["last_day"]),
            "seconds": stored["seconds"] + new["seconds"],
        },
    )


async def _merge_lengths(session: AsyncSession, lengths: dict[_LengthKey, int]) -> None:
    L = LengthHistogram
    await _merge(
        session,
        table_of(L),
        ("day", "org_id", "unit_id", "group_id", "metric", "minutes"),
        [and_(L.org_id.in_({key[1] for key in lengths}), L.day.in_({key[0] for key in lengths}))],
        {key: {"n": n} for key, n in lengths.items()},
        lambda stored, new: _add(stored, new, "n"),
    )


async def _merge_groups(session: AsyncSession, groups: dict[int, tuple[int | None, int]]) -> None:
    await _merge(
        session,
        table_of(GroupScope),
        ("group_id",),
        [GroupScope.group_id.in_(chunk) for chunk in _chunks(groups)],
        {(group_id,): {"unit_id": unit, "org_id": org} for group_id, (unit, org) in groups.items()},
        lambda stored, new: {
            "unit_id": stored["unit_id"] if stored["unit_id"] is not None else new["unit_id"]
        },
    )


class FoldedOnly:
    """The retention job's gate (``server.privacy.retention.RawEventsGate``): raw events may be
    deleted only before the oldest event of the organization not yet in the rollups, so no
    figure is lost to retention."""

    async def deletable_before(
        self, session: AsyncSession, org_id: int, cutoff: datetime
    ) -> datetime:
        oldest_unfolded = await session.scalar(
            select(func.min(AnalyticsEvent.at)).where(
                AnalyticsEvent.org_id == org_id, AnalyticsEvent.folded.is_(False)
            )
        )
        return cutoff if oldest_unfolded is None else min(cutoff, oldest_unfolded)
