"""The demo office: an organization with two teams, eight people, a floor plan and a guest
link, so a first run shows a living office. Seeding is idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import Organization, Room
from server.infra.clock import Clock
from server.infra.settings import Settings
from server.people import accounts, invites
from server.people.identity import Role
from server.people.passwords import hash_password

DEMO_SLUG = "demo"
DEMO_PASSWORD = "officehours-demo-2026"  # noqa: S105 (printed for the demo on purpose)
TEAMS = ("Platform team", "Design team")
# (name, email local part, team index, extra role)
PEOPLE: tuple[tuple[str, str, int, Role | None], ...] = (
    ("Ada Okafor", "ada", 0, Role.ORG_ADMIN),
    ("Bruno Lind", "bruno", 0, Role.GROUP_LEAD),
    ("Chen Wei", "chen", 0, None),
    ("Dana Ruiz", "dana", 0, Role.PROGRAM_MANAGER),
    ("Emeka Obi", "emeka", 1, Role.GROUP_LEAD),
    ("Fatima Haddad", "fatima", 1, None),
    ("Goran Petrov", "goran", 1, None),
    ("Hana Sato", "hana", 1, None),
)


@dataclass(frozen=True)
class DemoOffice:
    org_id: int
    logins: tuple[tuple[str, str], ...]  # (email, role description)
    password: str
    guest_token: str
    guest_room: str


def demo_email(local: str) -> str:
    return f"{local}@demo.officehours.example"


async def seed(
    db: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> DemoOffice:
    now = clock.now()
    async with db() as session:
        org = await session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
        if org is None:
            org = await _create(session, now)
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
    logins = tuple(
        (demo_email(local), (role.value if role else "member") + f", {TEAMS[team]}")
        for _, local, team, role in PEOPLE
    )
    return DemoOffice(org.id, logins, DEMO_PASSWORD, token, "Lobby")


async def _create(session: AsyncSession, now: datetime) -> Organization:
    org = await accounts.create_organization(
        session, "Demo Company", DEMO_SLUG, now=now, team_names=TEAMS
    )
    unit = await accounts.add_unit(session, org.id, "Product & Engineering")
    groups = [await accounts.add_group(session, unit, name) for name in TEAMS]
    password_hash = await hash_password(DEMO_PASSWORD)
    for name, local, team, role in PEOPLE:
        user = await accounts.create_user(
            session,
            org.id,
            email=demo_email(local),
            display_name=name,
            password_hash=password_hash,
            now=now,
        )
        await accounts.grant(session, user, Role.MEMBER, group_id=groups[team].id)
        if role in (Role.GROUP_LEAD,):
            await accounts.grant(session, user, role, group_id=groups[team].id)
        elif role is not None:
            await accounts.grant(session, user, role)
    return org
