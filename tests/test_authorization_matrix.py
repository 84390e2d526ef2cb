"""The authorization matrix: every HTTP route and every Socket.IO event, against every role,
with the outcome each must get. ``test_every_route_and_event_has_an_entry`` fails when a new
endpoint or event lands without a row here; ``test_the_matrix_holds`` walks all of it with
real requests and real Socket.IO clients on one application (SQLite).

Adding a row: a key ``(method, path)`` as written in ``server/http/routes.py`` (or the event
name), the expected outcome per role (``expect(...)`` fills the usual "everyone else is
refused" cells), and how to build one request for one role (path values and body). Builders
may create what the request consumes (a fresh victim account, a fresh room, a fresh mentoring
pair or session), so each cell runs on its own data and the order of cells does not matter;
the walk also fails if a row hands anyone a new kind of role (above plain membership).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from yarl import URL

from rooms.layout import DoorState, RoomKind
from server.analytics.tables import AnalyticsPolicy
from server.content.mentoring_notes import GoalText, MilestoneText
from server.db.models import Avatar, Floor, Group, Membership, Room, RoomInvite, Unit, User
from server.http.keys import AUTH, CLOCK, DB, SETTINGS
from server.http.routes import documented_routes
from server.mentoring.tables import (
    Enrolment,
    EnrolmentRole,
    EnrolmentState,
    Goal,
    ItemStatus,
    MatchMode,
    MentoringSession,
    Milestone,
    Pair,
    PairState,
    Program,
    ProgramStep,
)
from server.people import accounts, images, invites
from server.people.identity import Role
from server.people.notification_settings import FIELDS as NOTIFICATION_KINDS
from server.people.passwords import hash_password
from server.privacy.tables import PendingMembership
from server.realtime.office_namespace import OfficeNamespace
from tests.browsers import Browser, Upload
from tests.conftest import Backend, Office, RealtimeClient
from tests.pictures import encode

ROLES = (
    "org_admin",
    "unit_admin",
    "group_lead",
    "program_manager",
    "member",
    "guest",
    "other_org",
    "anonymous",
)
ACCOUNT_ROLES = (*ROLES[:5], "other_org")  # people with an account (not guests, not nobody)
ACME = ROLES[:5]  # people with an account in the organization under test


def expect(
    ok: int | str,
    allowed: tuple[str, ...],
    *,
    denied: int | str = 403,
    anonymous: int | str = 401,
    **cells: int | str,
) -> dict[str, int | str]:
    """``ok`` for the allowed roles, ``denied`` for the other signed-in roles, ``anonymous``
    for nobody; keyword arguments set single cells."""
    table = {role: (ok if role in allowed else denied) for role in ROLES}
    table["anonymous"] = anonymous
    table.update(cells)
    return table


EVERYONE = ROLES


# -- the world the matrix runs in --------------------------------------------------------


@dataclass
class World:
    client: TestClient[Any, Any]
    office: Office
    unit_id: int
    platform: int
    design: int
    other_group: int
    lobby: int
    team_room: int
    users: dict[str, int]  # role -> user id (guest included)
    browsers: dict[str, Browser]
    sockets: dict[str, RealtimeClient] = field(default_factory=dict)
    conversation: int = 0  # alice (member) and bob
    messages: list[int] = field(default_factory=list)  # written by alice
    # Mentoring: a program run by the program manager in which the member is a mentee,
    # matched with ``mentor`` (a person with no role in the matrix) into ``pair``, with a
    # goal (with a milestone) and a scheduled session (see ``_set_up_mentoring``).
    program: int = 0
    mentor: int = 0
    mentee_enrolment: int = 0
    pair: int = 0
    goal: int = 0
    meeting: int = 0
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    async def person(
        self, org_id: int | None = None, grants: tuple[tuple[Role, dict[str, int]], ...] = ()
    ) -> User:
        """A new account (no password: sessions are opened directly)."""
        app = self.client.app
        async with app[DB]() as session:
            user = await accounts.create_user(
                session,
                org_id or self.office.org.id,
                email=f"{self.unique('p')}@matrix.example",
                display_name=self.unique("Person "),
                password_hash=None,
                now=app[CLOCK].now(),
            )
            for role, scope in grants or ((Role.MEMBER, {"group_id": self.design}),):
                await accounts.grant(session, user, role, **scope)
            await session.commit()
            return user

    async def signed_in(self, user_id: int) -> Browser:
        """A new browser with a new session of ``user_id``."""
        app = self.client.app
        async with app[DB]() as session:
            user = await session.get(User, user_id)
            assert user is not None
            opened = await app[AUTH].open_session(session, user)
            await session.commit()
        browser = Browser(self.client)
        browser.http.cookie_jar.update_cookies(
            {"officehours_session": opened.token}, URL(browser.base)
        )
        browser.csrf = opened.session.csrf_token
        self._extra.append(browser)
        return browser

    async def guest_link(self, *, admission: bool = False) -> tuple[int, str]:
        app = self.client.app
        async with app[DB]() as session:
            token = await invites.create_link(
                session,
                app[SETTINGS].secret_key,
                room_id=self.lobby,
                created_by=self.office.admin.id,
                now=app[CLOCK].now(),
                valid_for=timedelta(days=1),
                requires_admission=admission,
            )
            await session.commit()
            link_id = await session.scalar(
                select(RoomInvite.id).where(
                    RoomInvite.token_hash == invites.token_hash(app[SETTINGS].secret_key, token)
                )
            )
        assert link_id is not None
        return link_id, token

    async def guest(self) -> tuple[int, Browser]:
        """A guest who came by a fresh link to the lobby (no admission needed)."""
        _, token = await self.guest_link()
        browser = Browser(self.client)
        self._extra.append(browser)
        joined = await browser.request(
            "POST", f"/api/guest-links/{token}/join", json={"display_name": "Visitor"}
        )
        assert joined.status == 201, await joined.text()
        body = await joined.json()
        browser.csrf = body["csrf_token"]
        return int(body["user"]["id"]), browser

    async def actor(self, role: str, mode: str) -> Browser:
        """The browser a cell runs in: the role's own (``self``), a new session of the same
        person (``fresh``: for signing out), or a new person with the same roles (``clone``:
        for closing an account)."""
        if mode == "self":
            return self.browsers[role]
        if role == "anonymous":
            fresh = Browser(self.client)
            self._extra.append(fresh)
            return fresh
        if role == "guest":
            return (await self.guest())[1]
        if mode == "fresh":
            return await self.signed_in(self.users[role])
        async with self.client.app[DB]() as session:
            grants = await accounts.grants_of(session, self.users[role])
            org_id = await session.scalar(select(User.org_id).where(User.id == self.users[role]))
        clone = await self.person(
            org_id,
            tuple(
                (
                    g.role,
                    {"group_id": g.group_id}
                    if g.group_id
                    else ({"unit_id": g.unit_id} if g.unit_id else {}),
                )
                for g in grants
            ),
        )
        return await self.signed_in(clone.id)

    async def floor(self) -> int:
        async with self.client.app[DB]() as session:
            floor = Floor(
                org_id=self.office.org.id, name=self.unique("F"), position=9, width=100, height=100
            )
            session.add(floor)
            await session.commit()
            return floor.id

    async def room(self) -> int:
        floor_id = await self.floor()
        async with self.client.app[DB]() as session:
            room = Room(
                org_id=self.office.org.id,
                floor_id=floor_id,
                name="Spare",
                kind=RoomKind.MEETING_ROOM,
                x=0,
                y=0,
                w=10,
                h=10,
                capacity=4,
                door=DoorState.OPEN,
                archived=False,
            )
            session.add(room)
            await session.commit()
            return room.id

    async def role_kinds(self) -> dict[str, frozenset[Role]]:
        """Which kinds of role above plain membership each person of the matrix holds (scopes
        aside: accepting a pending membership makes one a member of a new, empty group)."""
        people = {self.users[role]: role for role in ACCOUNT_ROLES}
        kinds: dict[str, set[Role]] = {role: set() for role in ACCOUNT_ROLES}
        async with self.client.app[DB]() as session:
            rows = await session.execute(
                select(Membership.user_id, Membership.role).where(
                    Membership.user_id.in_(list(people)), Membership.role != Role.MEMBER
                )
            )
            for user_id, role in rows:
                kinds[people[user_id]].add(role)
        return {role: frozenset(held) for role, held in kinds.items()}

    async def pending_for(self, role: str) -> int:
        """An invitation waiting for this role's person (guests and nobody: an id that does
        not exist, since they are refused before any lookup): plain membership of a new empty
        group, so accepting it changes nothing any other cell depends on."""
        if role not in ACCOUNT_ROLES:
            return 999_999
        async with self.client.app[DB]() as session:
            sibling = await session.get(
                Group, self.other_group if role == "other_org" else self.platform
            )
            assert sibling is not None
            unit = await session.get(Unit, sibling.unit_id)
            assert unit is not None
            group = await accounts.add_group(session, unit, self.unique("Invited "))
            pending = PendingMembership(
                user_id=self.users[role],
                org_id=group.org_id,
                role=Role.MEMBER,
                unit_id=group.unit_id,
                group_id=group.id,
                invited_by=None,
                created_at=self.client.app[CLOCK].now(),
            )
            session.add(pending)
            await session.commit()
            return pending.id

    # -- mentoring rows made directly (fresh per cell: cheap, no notifications) ----------

    async def add(self, row: Any) -> int:
        """Store one row; its id."""
        async with self.client.app[DB]() as session:
            session.add(row)
            await session.commit()
            return int(row.id)

    async def new_program(self) -> int:
        return await self.add(
            Program(
                org_id=self.office.org.id,
                name=self.unique("Program "),
                weights={},
                suggestions_shown=3,
                created_by=self.users["program_manager"],
                created_at=self.client.app[CLOCK].now(),
            )
        )

    async def enrolment(
        self,
        program_id: int,
        user_id: int,
        role: EnrolmentRole = EnrolmentRole.MENTEE,
        state: EnrolmentState = EnrolmentState.ACTIVE,
    ) -> int:
        now = self.client.app[CLOCK].now()
        return await self.add(
            Enrolment(
                program_id=program_id,
                user_id=user_id,
                role=role,
                state=state,
                display_name="M.X.",
                invited_by=self.users["program_manager"],
                invited_at=now,
                accepted_at=now if state is EnrolmentState.ACTIVE else None,
                skills=[],
                goals=[],
                interests=[],
                languages=[],
                timezone="UTC",
                availability=[],
                capacity=1,
                protected={},
                use_protected=False,
            )
        )

    async def open_program(self) -> tuple[int, int, int]:
        """A new program where the member is an unmatched mentee and the mentor has room:
        (program, mentor enrolment, mentee enrolment)."""
        program_id = await self.new_program()
        mentor = await self.enrolment(program_id, self.mentor, EnrolmentRole.MENTOR)
        mentee = await self.enrolment(program_id, self.users["member"])
        return program_id, mentor, mentee

    async def new_pair(self) -> int:
        """The member and the mentor, matched in a new program."""
        program_id, mentor, mentee = await self.open_program()
        return await self.add(
            Pair(
                program_id=program_id,
                mentor_enrolment_id=mentor,
                mentee_enrolment_id=mentee,
                mentor_id=self.mentor,
                mentee_id=self.users["member"],
                state=PairState.ACTIVE,
                mode=MatchMode.MANAGER,
                score=0.0,
                matched_by=self.users["program_manager"],
                matched_at=self.client.app[CLOCK].now(),
            )
        )

    async def new_meeting(self, *, past: bool = False) -> int:
        """A session of the world's pair: tomorrow, or (``past``) one that took place."""
        now = self.client.app[CLOCK].now()
        starts = now - timedelta(hours=2) if past else now + timedelta(days=1)
        return await self.add(
            MentoringSession(
                pair_id=self.pair,
                uid=f"{uuid.uuid4()}@matrix",
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                sequence=0,
                mentor_present=False,
                mentee_present=False,
                met_seconds=0.0,
            )
        )

    async def new_goal(self) -> int:
        goal = Goal(
            pair_id=self.pair, status=ItemStatus.OPEN, created_at=self.client.app[CLOCK].now()
        )
        async with self.client.app[DB]() as session:
            session.add(goal)
            await session.flush()
            session.add(GoalText(goal_id=goal.id, title="A goal"))
            await session.commit()
            return goal.id

    async def new_milestone(self) -> int:
        milestone = Milestone(goal_id=self.goal, status=ItemStatus.OPEN)
        async with self.client.app[DB]() as session:
            session.add(milestone)
            await session.flush()
            session.add(MilestoneText(milestone_id=milestone.id, title="A milestone"))
            await session.commit()
            return milestone.id

    async def new_step(self) -> int:
        return await self.add(ProgramStep(program_id=self.program, title=self.unique("Step ")))

    _extra: list[Browser] = field(default_factory=list)


Build = Callable[[World, str], Awaitable[tuple[dict[str, Any], Any]]]


def fixed(params: dict[str, Any] | None = None, body: Any = None) -> Build:
    async def build(_world: World, _role: str) -> tuple[dict[str, Any], Any]:
        return params or {}, body

    return build


NO_PARAMS = fixed()


@dataclass(frozen=True)
class Cell:
    expected: dict[str, int | str]
    build: Build = NO_PARAMS
    actor: str = "self"  # "self" | "fresh" | "clone" (see World.actor)
    query: str = ""


async def _victim(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"user_id": (await world.person()).id}, None


async def _suspended_victim(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    user = await world.person()
    async with world.client.app[DB]() as session:
        row = await session.get(User, user.id)
        assert row is not None
        from server.people.identity import UserStatus

        row.status = UserStatus.SUSPENDED
        await session.commit()
    return {"user_id": user.id}, None


async def _token(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"token": (await world.guest_link())[1]}, None


async def _join_token(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"token": (await world.guest_link())[1]}, {"display_name": "Visitor"}


async def _link(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"link_id": (await world.guest_link())[0]}, None


async def _floor(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    body = {"name": "Annex", "kind": "meeting_room", "x": 0, "y": 0, "w": 10, "h": 10}
    return {"floor_id": await world.floor()}, {**body, "capacity": 4}


async def _room(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"room_id": await world.room()}, None


async def _new_floor_body(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {}, {"name": world.unique("Floor "), "width": 40, "height": 30}


async def _join_code(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    code = await world.client.app[AUTH].create_invite_code(None, world.office.org.id)
    email = f"{world.unique('j')}@matrix.example"
    return {}, {
        "code": code,
        "email": email,
        "display_name": "Joiner",
        "password": "a-long-enough-passphrase",
    }


async def _another_session(world: World, role: str) -> tuple[dict[str, Any], Any]:
    """Another session of the role's person to end (guests and nobody: an id that is not
    theirs)."""
    if role not in ACCOUNT_ROLES:
        return {"session_id": 999_999}, None
    app = world.client.app
    async with app[DB]() as session:
        user = await session.get(User, world.users[role])
        assert user is not None
        opened = await app[AUTH].open_session(session, user)
        await session.commit()
    return {"session_id": opened.session.principal.session_id}, None


async def _password_change(world: World, role: str) -> tuple[dict[str, Any], Any]:
    """The role's person gets a known password first (matrix people have none)."""
    current = "matrix-current-secret"
    if role in ACCOUNT_ROLES:
        async with world.client.app[DB]() as session:
            user = await session.get(User, world.users[role])
            assert user is not None
            user.password_hash = await hash_password(current)
            await session.commit()
    return {}, {"current_password": current, "new_password": world.unique("matrix-new-secret-")}


async def _pending(world: World, role: str) -> tuple[dict[str, Any], Any]:
    return {"pending_id": await world.pending_for(role)}, None


async def _group_member(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"group_id": world.platform}, {"user_id": (await world.person()).id}


async def _team_room(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"room_id": world.team_room}, None


async def _picture(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    """The address of a colleague's picture (a fresh person in the organization, in no
    room: a guest may not see it either)."""
    holder = await world.person()
    picture = images.clean(encode("png"), "image/png")
    digest = hashlib.sha256(picture.data).hexdigest()
    async with world.client.app[DB]() as session:
        session.add(
            Avatar(
                user_id=holder.id,
                sha256=digest,
                kind="png",
                width=picture.width,
                height=picture.height,
                size=len(picture.data),
                data=picture.data,
                updated_at=world.client.app[CLOCK].now(),
            )
        )
        await session.commit()
    return {"sha256": digest, "ext": "png"}, None


ADMIN_PERSON_ACTION = expect(204, ("org_admin",))

# -- mentoring: managers run programs, only the pair reaches its own content, a person only
# their own enrolments; guests are refused, another organization finds nothing.

MANAGERS = ("org_admin", "program_manager")
THE_PAIR = ("member",)  # the member is the mentee of the world's pair


def mentoring(ok: int, allowed: tuple[str, ...]) -> dict[str, int | str]:
    """Another organization's people find no such program, pair or session (404)."""
    return expect(ok, allowed, other_org=404)


def managing(ok: int) -> dict[str, int | str]:
    """Managers only: everyone else (another organization too) is refused before any lookup."""
    return expect(ok, MANAGERS)


def in_world(**ids: str) -> Build:
    """Path values from the world's mentoring set-up (``program_id="program"``...)."""

    async def build(world: World, _role: str) -> tuple[dict[str, Any], Any]:
        return {name: getattr(world, attr) for name, attr in ids.items()}, None

    return build


def with_body(build: Build, body: Any) -> Build:
    async def built(world: World, role: str) -> tuple[dict[str, Any], Any]:
        params, _ = await build(world, role)
        return params, body(world) if callable(body) else body

    return built


async def _fresh_step(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"step_id": await world.new_step()}, None


async def _invitee(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"program_id": world.program}, {"user_id": (await world.person()).id, "role": "mentee"}


async def _member_invited(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    """The member's open invitation to a new program."""
    program_id = await world.new_program()
    invited = await world.enrolment(program_id, world.users["member"], state=EnrolmentState.INVITED)
    return {"enrolment_id": invited}, None


async def _member_enrolled(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    program_id = await world.new_program()
    return {"enrolment_id": await world.enrolment(program_id, world.users["member"])}, None


async def _to_match(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    program_id, mentor, mentee = await world.open_program()
    return {"program_id": program_id}, {
        "mentor_enrolment_id": mentor,
        "mentee_enrolment_id": mentee,
    }


async def _to_pick(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    program_id, mentor, _ = await world.open_program()
    return {"program_id": program_id}, {"mentor_enrolment_id": mentor}


async def _fresh_pair(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"pair_id": await world.new_pair()}, None


async def _fresh_goal(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"goal_id": await world.new_goal()}, {"title": "Renamed", "status": "done"}


async def _fresh_milestone(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"milestone_id": await world.new_milestone()}, {"status": "done"}


async def _fresh_meeting(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"session_id": await world.new_meeting()}, None


async def _past_meeting(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    return {"session_id": await world.new_meeting(past=True)}, {"rating": 4, "text": "Useful"}


async def _feed_token(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    """The member's calendar feed, made (anew) just before the request."""
    made = await world.browsers["member"].request("POST", "/api/mentoring/calendar-feed")
    assert made.status == 201, await made.text()
    return {"token": (await made.json())["token"]}, None


def _tomorrow(world: World) -> dict[str, Any]:
    starts = world.client.app[CLOCK].now() + timedelta(days=1)
    return {"starts_at": starts.isoformat(), "minutes": 45}


PROGRAM = in_world(program_id="program")
PAIR = in_world(pair_id="pair")
MEETING = in_world(session_id="meeting")
M = "/api/mentoring"
MP = f"{M}/programs/{{program_id:\\d+}}"

MENTORING_HTTP: dict[tuple[str, str], Cell] = {
    ("POST", f"{M}/programs"): Cell(managing(201), fixed(body={"name": "Matrix program"})),
    ("GET", f"{M}/programs"): Cell(expect(200, ACCOUNT_ROLES)),
    ("GET", MP): Cell(mentoring(200, (*MANAGERS, "member")), PROGRAM),
    ("PATCH", MP): Cell(managing(200), with_body(PROGRAM, {"weights": {"skills": 2}})),
    ("POST", f"{MP}/steps"): Cell(managing(201), with_body(PROGRAM, {"title": "Kick-off"})),
    ("POST", f"{M}/steps/{{step_id:\\d+}}/publish"): Cell(managing(200), _fresh_step),
    ("POST", f"{MP}/enrolments"): Cell(managing(201), _invitee),
    ("GET", f"{MP}/enrolments"): Cell(managing(200), PROGRAM),
    ("GET", f"{M}/enrolments"): Cell(expect(200, ACCOUNT_ROLES)),
    ("POST", f"{M}/enrolments/{{enrolment_id:\\d+}}/answer"): Cell(
        mentoring(200, ("member",)), with_body(_member_invited, {"accept": True})
    ),
    ("PATCH", f"{M}/enrolments/{{enrolment_id:\\d+}}/profile"): Cell(
        mentoring(200, ("member",)),
        with_body(_member_invited, {"skills": ["python"], "timezone": "Europe/Berlin"}),
    ),
    # Managers remove people; a person withdraws.
    ("DELETE", f"{M}/enrolments/{{enrolment_id:\\d+}}"): Cell(
        mentoring(204, (*MANAGERS, "member")), _member_enrolled
    ),
    ("GET", f"{MP}/suggestions"): Cell(
        mentoring(200, (*MANAGERS, "member")),
        in_world(program_id="program", mentee="mentee_enrolment"),
        query="?mentee_enrolment_id={mentee}",
    ),
    ("POST", f"{MP}/pairs"): Cell(managing(201), _to_match),
    ("POST", f"{MP}/pick"): Cell(mentoring(201, ("member",)), _to_pick),
    ("POST", f"{MP}/assign"): Cell(managing(200), with_body(PROGRAM, {"apply": False})),
    ("GET", f"{MP}/pairs"): Cell(managing(200), PROGRAM),
    ("GET", f"{MP}/health"): Cell(managing(200), PROGRAM),
    ("GET", f"{M}/pairs"): Cell(expect(200, ACCOUNT_ROLES)),
    # Managers see a pair's metadata (not its content).
    ("GET", f"{M}/pairs/{{pair_id:\\d+}}"): Cell(mentoring(200, (*MANAGERS, "member")), PAIR),
    ("DELETE", f"{M}/pairs/{{pair_id:\\d+}}"): Cell(managing(204), _fresh_pair),
    ("PUT", f"{M}/pairs/{{pair_id:\\d+}}/agreement"): Cell(
        mentoring(200, THE_PAIR), with_body(PAIR, {"goals": "Ship a talk", "cadence": "weekly"})
    ),
    ("POST", f"{M}/pairs/{{pair_id:\\d+}}/goals"): Cell(
        mentoring(201, THE_PAIR), with_body(PAIR, {"title": "Another goal"})
    ),
    ("PATCH", f"{M}/goals/{{goal_id:\\d+}}"): Cell(mentoring(200, THE_PAIR), _fresh_goal),
    ("POST", f"{M}/goals/{{goal_id:\\d+}}/milestones"): Cell(
        mentoring(201, THE_PAIR), with_body(in_world(goal_id="goal"), {"title": "A step"})
    ),
    ("PATCH", f"{M}/milestones/{{milestone_id:\\d+}}"): Cell(
        mentoring(200, THE_PAIR), _fresh_milestone
    ),
    ("POST", f"{M}/pairs/{{pair_id:\\d+}}/sessions"): Cell(
        mentoring(201, THE_PAIR), with_body(PAIR, _tomorrow)
    ),
    ("DELETE", f"{M}/sessions/{{session_id:\\d+}}"): Cell(mentoring(200, THE_PAIR), _fresh_meeting),
    ("GET", f"{M}/sessions/{{session_id:\\d+}}/calendar.ics"): Cell(
        mentoring(200, THE_PAIR), MEETING
    ),
    ("POST", f"{M}/calendar-feed"): Cell(expect(201, ACCOUNT_ROLES)),
    # Notes are the pair's: managers never read them.
    ("GET", f"{M}/sessions/{{session_id:\\d+}}/notes"): Cell(mentoring(200, THE_PAIR), MEETING),
    ("PUT", f"{M}/sessions/{{session_id:\\d+}}/notes/shared"): Cell(
        mentoring(200, THE_PAIR), with_body(MEETING, {"body": "We met"})
    ),
    ("PUT", f"{M}/sessions/{{session_id:\\d+}}/notes/private"): Cell(
        mentoring(200, THE_PAIR), with_body(MEETING, {"body": "Mine only"})
    ),
    ("POST", f"{M}/sessions/{{session_id:\\d+}}/feedback"): Cell(
        mentoring(201, THE_PAIR), _past_meeting
    ),
    # Feedback is the pair's: managers learn not even who gave it (ratings: program health).
    ("GET", f"{M}/sessions/{{session_id:\\d+}}/feedback"): Cell(mentoring(200, THE_PAIR), MEETING),
    # The feed's secret token is the credential: no session needed.
    ("GET", f"{M}/calendar/{{token}}"): Cell(expect(200, EVERYONE, anonymous=200), _feed_token),
}


async def _per_person_policy_on(world: World, _role: str) -> tuple[dict[str, Any], Any]:
    """Per-person activity is refused for everyone while the policy is off; the row tests
    who may read it once the organization turned it on."""
    async with world.client.app[DB]() as session:
        row = await session.get(AnalyticsPolicy, world.office.org.id)
        if row is None:
            session.add(AnalyticsPolicy(org_id=world.office.org.id, per_person_activity=True))
        else:
            row.per_person_activity = True
        await session.commit()
    return {}, None


DASHBOARD_VIEWERS = ("org_admin", "unit_admin", "group_lead")

# -- analytics: the policy, "what admins see about me", and the admin sub-application
# (/api/admin/, mounted with its own middleware): dashboards only for admins and group leads.
ANALYTICS_HTTP: dict[tuple[str, str], Cell] = {
    ("GET", "/api/org/analytics-policy"): Cell(expect(200, EVERYONE)),
    ("PUT", "/api/org/analytics-policy"): Cell(
        expect(200, ("org_admin",)), fixed(body={"per_person_activity": False})
    ),
    ("GET", "/api/me/analytics"): Cell(expect(200, EVERYONE)),
    ("GET", "/api/admin/dashboards"): Cell(expect(200, DASHBOARD_VIEWERS)),
    ("GET", "/api/admin/dashboards/{name}"): Cell(
        expect(200, DASHBOARD_VIEWERS), fixed({"name": "messages"})
    ),
    ("GET", "/api/admin/dashboards/{name}/csv"): Cell(
        expect(200, DASHBOARD_VIEWERS), fixed({"name": "active"})
    ),
    ("GET", "/api/admin/people"): Cell(expect(200, DASHBOARD_VIEWERS), _per_person_policy_on),
    ("GET", "/api/admin/people/csv"): Cell(expect(200, DASHBOARD_VIEWERS), _per_person_policy_on),
}

HTTP: dict[tuple[str, str], Cell] = {
    ("GET", "/healthz"): Cell(expect(200, EVERYONE, anonymous=200)),
    ("GET", "/readyz"): Cell(expect(200, EVERYONE, anonymous=200)),
    ("GET", "/metrics"): Cell(expect(200, EVERYONE, anonymous=200)),
    ("GET", "/api/openapi.json"): Cell(expect(200, EVERYONE, anonymous=200)),
    ("POST", "/api/auth/sign-in"): Cell(
        expect(200, EVERYONE, anonymous=200),
        fixed(body={"email": "bob@acme.example", "password": "correct-horse-battery"}),
        actor="fresh",
    ),
    ("POST", "/api/auth/join"): Cell(expect(201, EVERYONE, anonymous=201), _join_code, "fresh"),
    ("GET", "/api/auth/session"): Cell(expect(200, EVERYONE)),
    ("POST", "/api/auth/sign-out"): Cell(expect(204, EVERYONE), actor="fresh"),
    ("POST", "/api/auth/sign-out-everywhere"): Cell(expect(204, EVERYONE), actor="clone"),
    ("GET", "/api/me/sessions"): Cell(expect(200, EVERYONE)),
    ("DELETE", "/api/me/sessions/{session_id:\\d+}"): Cell(
        expect(204, ACCOUNT_ROLES, guest=404), _another_session
    ),
    ("POST", "/api/me/password"): Cell(expect(204, ACCOUNT_ROLES), _password_change),
    ("GET", "/api/me/security"): Cell(expect(200, EVERYONE)),
    ("GET", "/api/me/notifications"): Cell(expect(200, ACCOUNT_ROLES)),
    ("PUT", "/api/me/notifications"): Cell(
        expect(200, ACCOUNT_ROLES),
        fixed(body=dict.fromkeys(NOTIFICATION_KINDS, True) | {"sound": False}),
    ),
    ("POST", "/api/org/invite-codes"): Cell(
        expect(201, ("org_admin", "unit_admin", "group_lead"), other_org=404),
        lambda w, _r: _fixed_async({}, {"group_id": w.platform}),
    ),
    ("GET", "/api/office/layout"): Cell(expect(200, ACCOUNT_ROLES)),
    ("POST", "/api/office/floors"): Cell(expect(201, ("org_admin",)), _new_floor_body),
    ("POST", "/api/office/floors/{floor_id:\\d+}/rooms"): Cell(expect(201, ("org_admin",)), _floor),
    ("PATCH", "/api/office/rooms/{room_id:\\d+}"): Cell(
        expect(200, ("org_admin",), other_org=404),
        lambda w, _r: _fixed_async({"room_id": w.team_room}, {"capacity": 12}),
    ),
    ("DELETE", "/api/office/rooms/{room_id:\\d+}"): Cell(expect(204, ("org_admin",)), _room),
    ("PUT", "/api/office/rooms/{room_id:\\d+}/owners"): Cell(
        expect(200, ("org_admin",)),
        lambda w, _r: _fixed_async({"room_id": w.team_room}, {"user_ids": []}),
    ),
    ("GET", "/api/guest-links/{token}"): Cell(expect(200, EVERYONE, anonymous=200), _token),
    ("POST", "/api/guest-links/{token}/join"): Cell(
        expect(201, EVERYONE, anonymous=201), _join_token, "fresh"
    ),
    ("POST", "/api/office/rooms/{room_id:\\d+}/guest-links"): Cell(
        expect(201, ("org_admin",), other_org=404),
        lambda w, _r: _fixed_async({"room_id": w.team_room}, {}),
    ),
    ("GET", "/api/office/rooms/{room_id:\\d+}/guest-links"): Cell(
        expect(200, ("org_admin",), other_org=404), _team_room
    ),
    ("DELETE", "/api/office/guest-links/{link_id:\\d+}"): Cell(
        expect(204, ("org_admin",), other_org=404), _link
    ),
    # Data rights
    ("GET", "/api/me/export"): Cell(expect(200, ACCOUNT_ROLES)),
    ("POST", "/api/me/close-account"): Cell(
        expect(204, ACCOUNT_ROLES), fixed(body={"confirm": True}), actor="clone"
    ),
    ("GET", "/api/me/pending-memberships"): Cell(expect(200, ACCOUNT_ROLES)),
    ("POST", "/api/me/pending-memberships/{pending_id:\\d+}/accept"): Cell(
        expect(204, ACCOUNT_ROLES), _pending
    ),
    ("POST", "/api/me/pending-memberships/{pending_id:\\d+}/decline"): Cell(
        expect(204, ACCOUNT_ROLES), _pending
    ),
    ("POST", "/api/org/groups/{group_id:\\d+}/members"): Cell(
        expect(201, ("org_admin", "unit_admin", "group_lead"), other_org=404), _group_member
    ),
    ("GET", "/api/org/privacy-policy"): Cell(expect(200, ACCOUNT_ROLES)),
    ("PATCH", "/api/org/privacy-policy"): Cell(
        expect(200, ("org_admin",)), fixed(body={"chat_days": 365})
    ),
    ("GET", "/api/org/export"): Cell(expect(200, ("org_admin",))),
    ("GET", "/api/org/audit"): Cell(expect(200, ("org_admin",)), query="?limit=5"),
    ("GET", "/api/org/audit/verify"): Cell(expect(200, ("org_admin",))),
    ("POST", "/api/org/people/{user_id:\\d+}/suspend"): Cell(ADMIN_PERSON_ACTION, _victim),
    ("POST", "/api/org/people/{user_id:\\d+}/restore"): Cell(
        ADMIN_PERSON_ACTION, _suspended_victim
    ),
    ("POST", "/api/org/people/{user_id:\\d+}/reset-password"): Cell(
        expect(200, ("org_admin",)), _victim
    ),
    ("POST", "/api/org/people/{user_id:\\d+}/erase"): Cell(ADMIN_PERSON_ACTION, _victim),
    # Profile pictures: one's own (guests have none); a colleague's for the organization only
    # (another organization, and a guest outside the holder's room, find nothing there).
    ("GET", "/api/me/avatar"): Cell(expect(200, ACCOUNT_ROLES)),
    ("PUT", "/api/me/avatar"): Cell(
        expect(200, ACCOUNT_ROLES), fixed(body=Upload(encode("png"), "image/png"))
    ),
    ("DELETE", "/api/me/avatar"): Cell(expect(204, ACCOUNT_ROLES)),
    ("GET", "/api/avatars/{sha256:[0-9a-f]+}.{ext:png|jpg|webp}"): Cell(
        expect(200, ACME, other_org=404, guest=404), _picture
    ),
    **MENTORING_HTTP,
    **ANALYTICS_HTTP,
}


async def _fixed_async(params: dict[str, Any], body: Any) -> tuple[dict[str, Any], Any]:
    return params, body


# -- Socket.IO events ---------------------------------------------------------------------

EventBuild = Callable[[World, str], Awaitable[dict[str, Any]]]


def payload(value: dict[str, Any] | Callable[[World], dict[str, Any]]) -> EventBuild:
    async def build(world: World, _role: str) -> dict[str, Any]:
        return value(world) if callable(value) else value

    return build


async def _guest_to_remove(world: World, _role: str) -> dict[str, Any]:
    return {"user_id": (await world.guest())[0]}


NO_PAYLOAD = payload({})


@dataclass(frozen=True)
class EventCell:
    expected: dict[str, int | str]
    build: EventBuild = NO_PAYLOAD


OK = "ok"
# Anonymous connections are refused at connect (checked once in the walk): "unauthorized".
NOBODY = {"anonymous": "unauthorized"}


def ev(allowed: tuple[str, ...], denied: str = "forbidden", **cells: str) -> dict[str, int | str]:
    return expect(OK, allowed, denied=denied, anonymous="unauthorized", **cells)


CONNECTED = ROLES[:-1]
# Walked in this order, for each role in turn (entering before acting inside a room).
EVENTS: dict[str, EventCell] = {
    "whoami": EventCell(ev(CONNECTED)),
    "office:snapshot": EventCell(ev(ACCOUNT_ROLES)),
    "presence:set": EventCell(ev(CONNECTED), payload({"status": "busy"})),
    "presence:idle": EventCell(ev(CONNECTED), payload({"idle": False})),
    "room:enter": EventCell(
        ev(CONNECTED, other_org="not_found"), payload(lambda w: {"room_id": w.lobby})
    ),
    # Outside any room there is no position to take.
    "room:position": EventCell(ev(CONNECTED, other_org="invalid"), payload({"x": 3, "y": 4})),
    # A room's chat is for whoever is in the room (another organization's is never entered).
    "chat:room": EventCell(
        ev(CONNECTED, other_org="forbidden"), payload(lambda w: {"room_id": w.lobby})
    ),
    # A room's media is for whoever is in the room (the other organization's person is in
    # none): joined, a bad answer is not_found and a malformed offer invalid; leaving always works.
    "media:join": EventCell(ev(CONNECTED, other_org="conflict")),
    "media:publish": EventCell(
        ev((), denied="invalid", other_org="conflict"),
        payload({"source": "camera", "sdp": "v=0\r\nnot sdp\r\n"}),
    ),
    "media:answer": EventCell(
        ev((), denied="not_found", other_org="conflict"),
        payload({"peer_id": "sub-1-abcdef01", "sdp": "v=0"}),
    ),
    "media:unpublish": EventCell(
        ev(CONNECTED, other_org="conflict"), payload({"source": "screen"})
    ),
    "media:state": EventCell(
        ev(CONNECTED, other_org="conflict"), payload({"muted": True, "camera_off": False})
    ),
    "media:leave": EventCell(ev(CONNECTED)),
    # From the lobby, ask Bob (online, in no room) to come; guests cannot, nor can someone
    # who is in no room.
    "person:get": EventCell(
        ev(ACME, other_org="invalid"), payload(lambda w: {"user_id": w.office.bob.id})
    ),
    "room:leave": EventCell(ev(CONNECTED)),
    "request:answer": EventCell(
        ev((), denied="not_found"), payload({"request_id": "no-such-request", "accept": True})
    ),
    "request:cancel": EventCell(
        ev((), denied="not_found"), payload({"request_id": "no-such-request"})
    ),
    "guest:status": EventCell(ev(("guest",))),
    "guest:remove": EventCell(ev(("org_admin",), other_org="not_found"), _guest_to_remove),
    "chat:open_direct": EventCell(
        ev(ACME, other_org="not_found"), payload(lambda w: {"user_ids": [w.office.bob.id]})
    ),
    "chat:list": EventCell(ev(ACCOUNT_ROLES)),
    "chat:send": EventCell(
        ev(("member",), denied="not_found", guest="forbidden"),
        payload(
            lambda w: {
                "conversation_id": w.conversation,
                "client_id": w.unique("c"),
                "body": "hello",
            }
        ),
    ),
    "chat:history": EventCell(
        ev(("member",), denied="not_found", guest="forbidden"),
        payload(lambda w: {"conversation_id": w.conversation}),
    ),
    "chat:sync": EventCell(
        ev(CONNECTED),
        payload(lambda w: {"cursors": [{"conversation_id": w.conversation, "after_seq": 0}]}),
    ),
    "chat:read": EventCell(
        ev(("member",), denied="not_found", guest="forbidden"),
        payload(lambda w: {"conversation_id": w.conversation, "seq": 1}),
    ),
    "chat:typing": EventCell(
        ev(("member",), denied="not_found", guest="forbidden"),
        payload(lambda w: {"conversation_id": w.conversation}),
    ),
    "chat:edit": EventCell(
        ev(("member",), denied="not_found", guest="forbidden"),
        payload(lambda w: {"message_id": w.messages[0], "body": "edited"}),
    ),
    "chat:delete": EventCell(
        ev(("member",), denied="not_found", guest="forbidden"),
        payload(lambda w: {"message_id": w.messages[1]}),
    ),
}


# -- completeness -------------------------------------------------------------------------


def namespace_events() -> set[str]:
    namespace = OfficeNamespace(*([None] * 8), "cookie")  # type: ignore[arg-type, call-arg]
    return set(namespace.events) | set(namespace.tab_events)


def test_every_route_and_event_has_an_entry() -> None:
    # Every route the OpenAPI document lists: the main table, analytics and the admin sub-app.
    routes = {(r.method, r.path) for r in documented_routes()}
    assert routes - set(HTTP) == set(), "routes without a row in the authorization matrix"
    assert set(HTTP) - routes == set(), "rows for routes that no longer exist"
    events = namespace_events()
    assert events - set(EVENTS) == set(), "events without a row in the authorization matrix"
    assert set(EVENTS) - events == set(), "rows for events that no longer exist"
    cells: list[tuple[object, Cell | EventCell]] = [*HTTP.items(), *EVENTS.items()]
    for key, cell in cells:
        assert set(cell.expected) == set(ROLES), f"{key} does not name every role"


# -- the walk -----------------------------------------------------------------------------


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    """The matrix runs on SQLite only: it is about who may do what, not about storage."""
    return Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'matrix.db'}", None)


@pytest.fixture
async def world(
    client: TestClient[Any, Any],
    office: Office,
    realtime: Callable[[], RealtimeClient],
) -> AsyncIterator[World]:
    app = client.app
    async with app[DB]() as session:
        group = await session.get(Group, office.group_ids[0])
        assert group is not None
        other_unit = await accounts.add_unit(session, office.outsider.org_id, "Elsewhere")
        other_group = await accounts.add_group(session, other_unit, "Team")
        rooms = {
            name: room_id
            for name, room_id in await session.execute(
                select(Room.name, Room.id).where(Room.org_id == office.org.id)
            )
        }
        await session.commit()
    world = World(
        client,
        office,
        unit_id=group.unit_id,
        platform=office.group_ids[0],
        design=office.group_ids[1],
        other_group=other_group.id,
        lobby=rooms["Lobby"],
        team_room=rooms["Team room"],
        users={
            "org_admin": office.admin.id,
            "member": office.alice.id,
            "other_org": office.outsider.id,
        },
        browsers={},
    )
    world.users["unit_admin"] = (
        await world.person(grants=((Role.UNIT_ADMIN, {"unit_id": world.unit_id}),))
    ).id
    world.users["group_lead"] = (
        await world.person(grants=((Role.GROUP_LEAD, {"group_id": world.platform}),))
    ).id
    world.users["program_manager"] = (await world.person(grants=((Role.PROGRAM_MANAGER, {}),))).id
    for role in ACCOUNT_ROLES:
        world.browsers[role] = await world.signed_in(world.users[role])
    guest_id, world.browsers["guest"] = await world.guest()
    world.users["guest"] = guest_id
    world.browsers["anonymous"] = Browser(client)
    world._extra.append(world.browsers["anonymous"])
    for role in CONNECTED:
        world.sockets[role] = await world.browsers[role].connect(realtime())
    bob = await world.signed_in(office.bob.id)
    world.sockets["bob"] = await bob.connect(realtime())
    alice = world.sockets["member"]
    opened = await alice.call("chat:open_direct", {"user_ids": [office.bob.id]})
    world.conversation = opened["conversation"]["id"]
    for i in range(2):
        sent = await alice.call(
            "chat:send",
            {"conversation_id": world.conversation, "client_id": f"m{i}", "body": "hi"},
        )
        world.messages.append(sent["message"]["id"])
    await _set_up_mentoring(world)
    yield world
    for browser in world._extra:
        await browser.close()


async def _set_up_mentoring(world: World) -> None:
    """Through the API, as people would: the program manager runs a program, invites the
    member as mentee and a new person as mentor; both accept; the manager pairs them; the
    member adds a goal with a milestone and the mentor schedules a session."""

    async def call(browser: Browser, method: str, path: str, body: Any = None) -> Any:
        response = await browser.request(method, f"/api/mentoring{path}", json=body)
        assert response.status in (200, 201), f"{method} {path}: {await response.text()}"
        return await response.json()

    manager, member = world.browsers["program_manager"], world.browsers["member"]
    world.mentor = (await world.person()).id
    mentor = await world.signed_in(world.mentor)
    world.program = (await call(manager, "POST", "/programs", {"name": "Matrix mentoring"}))["id"]
    enrolled = {}
    for user_id, browser, role in (
        (world.users["member"], member, "mentee"),
        (world.mentor, mentor, "mentor"),
    ):
        invited = await call(
            manager,
            "POST",
            f"/programs/{world.program}/enrolments",
            {"user_id": user_id, "role": role},
        )
        await call(browser, "POST", f"/enrolments/{invited['id']}/answer", {"accept": True})
        enrolled[role] = invited["id"]
    world.mentee_enrolment = enrolled["mentee"]
    pair = await call(
        manager,
        "POST",
        f"/programs/{world.program}/pairs",
        {"mentor_enrolment_id": enrolled["mentor"], "mentee_enrolment_id": enrolled["mentee"]},
    )
    world.pair = pair["id"]
    world.goal = (await call(member, "POST", f"/pairs/{world.pair}/goals", {"title": "Talk"}))["id"]
    await call(member, "POST", f"/goals/{world.goal}/milestones", {"title": "Outline"})
    world.meeting = (await call(mentor, "POST", f"/pairs/{world.pair}/sessions", _tomorrow(world)))[
        "id"
    ]


def concrete(path: str, params: dict[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        return str(params[match.group(1)])

    return re.sub(r"\{(\w+)(?::[^}]*)?\}", fill, path)


def outcome(ack: Any) -> str:
    if isinstance(ack, dict) and ack.get("ok") is True:
        return OK
    if isinstance(ack, dict) and isinstance(ack.get("error"), dict):
        return str(ack["error"]["code"])
    return f"unexpected ack {ack!r}"


async def test_the_matrix_holds(world: World, realtime: Callable[[], RealtimeClient]) -> None:
    mismatches: list[str] = []
    # A cell that hands someone a new kind of role would change what later cells test.
    roles = await world.role_kinds()
    for (method, path), cell in HTTP.items():
        for role in ROLES:
            params, body = await cell.build(world, role)
            actor = await world.actor(role, cell.actor)
            response = await actor.request(
                method,
                concrete(path + cell.query, params),
                **({"upload": body} if isinstance(body, Upload) else {"json": body}),
            )
            if response.status != cell.expected[role]:
                mismatches.append(
                    f"{method} {path} as {role}: {response.status} "
                    f"(expected {cell.expected[role]}) {(await response.text())[:120]}"
                )
        if (now := await world.role_kinds()) != roles:
            mismatches.append(f"{method} {path} changed the roles people hold: {now}")
            roles = now
    # Nobody's socket gets in at all.
    nobody = realtime()
    with pytest.raises(Exception, match=r"(?i)connect"):
        await nobody.connect(world.client, cookie=None)
    assert nobody.connect_error["data"]["code"] == "unauthorized"
    for event, ecell in EVENTS.items():
        for role in CONNECTED:
            data = await ecell.build(world, role)
            got = outcome(await world.sockets[role].call(event, data))
            if got != ecell.expected[role]:
                mismatches.append(f"{event} as {role}: {got} (expected {ecell.expected[role]})")
        assert ecell.expected["anonymous"] == "unauthorized"
    assert not mismatches, "\n" + "\n".join(mismatches)
