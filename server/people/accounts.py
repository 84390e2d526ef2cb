"""Organizations, their units and groups, and the people in them with their roles."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.layout import default_floor
from server.analytics.metrics import Metric
from server.analytics.record import Subject, record
from server.db.models import Group, Membership, Organization, Unit, User
from server.infra.errors import conflict, invalid
from server.infra.wire import has_visible_character, name_problem
from server.office.floorplans import add_floor
from server.people.identity import Grant, Role, UserStatus

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,63}$")
MAX_DISPLAY_NAME = 80


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise invalid("that is not an email address")
    return email


def clean_display_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or not has_visible_character(name):
        raise invalid("a display name is required (one with a visible character)")
    if (problem := name_problem(name)) is not None:
        raise invalid(problem)
    if len(name) > MAX_DISPLAY_NAME:
        raise invalid(f"a display name has at most {MAX_DISPLAY_NAME} characters")
    if any(ord(c) < 32 for c in name):
        raise invalid("a display name may not contain control characters")
    return name


async def create_organization(
    session: AsyncSession,
    name: str,
    slug: str,
    *,
    now: datetime,
    team_names: tuple[str, ...] = ("Team room",),
) -> Organization:
    """A new organization starts with a default floor, so its office is usable at once."""
    name = clean_display_name(name)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", slug):
        raise invalid("an organization slug is 2-63 lower-case letters, digits or dashes")
    if await session.scalar(select(Organization.id).where(Organization.slug == slug)):
        raise conflict("an organization with that slug exists")
    org = Organization(name=name, slug=slug, created_at=now)
    session.add(org)
    await session.flush()
    await add_floor(session, org.id, default_floor(team_names))
    return org


async def add_unit(session: AsyncSession, org_id: int, name: str) -> Unit:
    unit = Unit(org_id=org_id, name=clean_display_name(name))
    session.add(unit)
    await session.flush()
    return unit


async def add_group(session: AsyncSession, unit: Unit, name: str) -> Group:
    group = Group(org_id=unit.org_id, unit_id=unit.id, name=clean_display_name(name))
    session.add(group)
    await session.flush()
    return group


async def create_user(
    session: AsyncSession,
    org_id: int,
    *,
    email: str,
    display_name: str,
    password_hash: str | None,
    now: datetime,
) -> User:
    email = normalise_email(email)
    if await session.scalar(select(User.id).where(User.email == email)):
        raise conflict("an account with that email exists")
    user = User(
        org_id=org_id,
        email=email,
        display_name=clean_display_name(display_name),
        password_hash=password_hash,
        status=UserStatus.ACTIVE,
        created_at=now,
        analytics_id=uuid.uuid4(),
    )
    session.add(user)
    await session.flush()
    await record(session, Metric.ACCOUNT_CREATED, Subject(org_id, person=user.analytics_id), at=now)
    return user


async def grant(
    session: AsyncSession,
    user: User,
    role: Role,
    *,
    unit_id: int | None = None,
    group_id: int | None = None,
) -> Membership:
    """Give ``user`` a role; a group implies its unit, and scopes must be in the user's org."""
    if group_id is not None:
        group = await session.get(Group, group_id)
        if group is None or group.org_id != user.org_id:
            raise invalid("no such group in this organization")
        unit_id = group.unit_id
    elif unit_id is not None:
        unit = await session.get(Unit, unit_id)
        if unit is None or unit.org_id != user.org_id:
            raise invalid("no such unit in this organization")
    membership = Membership(
        user_id=user.id, org_id=user.org_id, role=role, unit_id=unit_id, group_id=group_id
    )
    session.add(membership)
    await session.flush()
    return membership


async def grants_of(session: AsyncSession, user_id: int) -> tuple[Grant, ...]:
    rows = await session.execute(
        select(Membership.role, Membership.unit_id, Membership.group_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.id)
    )
    return tuple(Grant(role, unit_id, group_id) for role, unit_id, group_id in rows)


async def first_group_of(session: AsyncSession, user_id: int) -> tuple[int | None, int | None]:
    """(unit_id, group_id) of the user's first group membership, for analytics subjects."""
    return (await first_groups_of(session, [user_id])).get(user_id, (None, None))


async def first_groups_of(
    session: AsyncSession, user_ids: Iterable[int]
) -> dict[int, tuple[int | None, int | None]]:
    """``first_group_of`` for several people in one query (those without a group are absent)."""
    rows = await session.execute(
        select(Membership.user_id, Membership.unit_id, Membership.group_id)
        .where(Membership.user_id.in_(set(user_ids)), Membership.group_id.is_not(None))
        .order_by(Membership.id)
    )
    first: dict[int, tuple[int | None, int | None]] = {}
    for user_id, unit_id, group_id in rows:
        first.setdefault(user_id, (unit_id, group_id))
    return first


async def count_users(session: AsyncSession, org_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(User).where(User.org_id == org_id))
        or 0
    )


async def analytics_subject(session: AsyncSession, org_id: int, user_id: int) -> Subject:
    """The pseudonymous analytics subject of a person: org, first group, ``analytics_id``."""
    return (await analytics_subjects(session, org_id, [user_id]))[user_id]


async def analytics_subjects(
    session: AsyncSession, org_id: int, user_ids: Iterable[int]
) -> dict[int, Subject]:
    """The subjects of several people in two queries whatever their number (leaving a full
    room records time together with each other occupant)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    people: dict[int, uuid.UUID | None] = {
        user_id: person
        for user_id, person in await session.execute(
            select(User.id, User.analytics_id).where(User.id.in_(wanted))
        )
    }
    first = await first_groups_of(session, wanted)
    return {
        user_id: Subject(org_id, *first.get(user_id, (None, None)), people.get(user_id))
        for user_id in wanted
    }
