"""The mentoring service: programs, consent-based enrolment, matching, pairs, goals, sessions,
notes and feedback.

Every state change is one method that checks who may do it, writes (with its audit entry and
analytics event) in one transaction, commits, and only then notifies people through the
``Broadcaster``. Program managers (and org admins) see profiles only of people who accepted,
and never see what a pair wrote: notes, goals and feedback text are for the pair.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import DoorState, Rect, RoomKind, RoomPlan
from server.analytics.metrics import Metric
from server.analytics.record import record
from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.content.mentoring_notes import (
    MAX_FEEDBACK,
    MAX_NOTE,
    MAX_TITLE,
    AgreementText,
    FeedbackText,
    GoalText,
    MilestoneText,
    SessionNote,
)
from server.db.models import Floor, Room, RoomOwner, User
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import conflict, forbidden, invalid, not_found
from server.mentoring import calendar, health, matching
from server.mentoring.tables import (
    SHOWABLE,
    Cadence,
    CalendarFeed,
    Enrolment,
    EnrolmentRole,
    EnrolmentState,
    Feedback,
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
from server.office.floorplans import room_row
from server.office.service import Office
from server.people import accounts
from server.people.identity import Principal, Role, UserStatus
from server.people.tokens import keyed_hash, new_token

log = logging.getLogger("officehours.mentoring")

TAG = re.compile(r"[\w][\w .+#/&-]{0,39}")
MAX_TAGS = 20
PROTECTED_ATTRIBUTES = frozenset({"gender"})
MENTORING_FLOOR = "Mentoring"
ROOM_W, ROOM_H = 10, 8
FLOOR_SIDE = 1000
SESSION_MINUTES = (15, 240)


@dataclass(frozen=True)
class MentoringConfig:
    reminder_minutes: int = 15
    min_group_size: int = 5


@dataclass(frozen=True)
class ProfileChanges:
    skills: list[str] | None = None
    goals: list[str] | None = None
    interests: list[str] | None = None
    languages: list[str] | None = None
    timezone: str | None = None
    availability: list[int] | None = None
    capacity: int | None = None
    protected: dict[str, str] | None = None
    use_protected: bool | None = None
    shown_to_mentees: list[str] | None = None


def _tags(values: Sequence[str], what: str) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        tag = " ".join(value.split()).lower()
        if not TAG.fullmatch(tag):
            raise invalid(f"{what}: {value[:40]!r} is not a short tag (1-40 letters, digits)")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise invalid(f"{what}: at most {MAX_TAGS}")
    return cleaned


def _check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise invalid("timezone: not a known time zone (e.g. Europe/Berlin)") from None
    return name


def _offset_minutes(name: str, now: datetime) -> int:
    offset = now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _text(value: str, limit: int, what: str, *, empty_ok: bool = False) -> str:
    value = value.strip()
    if not value and not empty_ok:
        raise invalid(f"{what} is required")
    if len(value) > limit:
        raise invalid(f"{what} has at most {limit} characters")
    return value


class Mentoring:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        broadcaster: Broadcaster,
        office: Office,
        *,
        secret_key: str,
        base_url: str,
        config: MentoringConfig | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._office = office
        self._secret_key = secret_key
        self._base_url = base_url.rstrip("/")
        self.config = config or MentoringConfig()

    # -- who may ----------------------------------------------------------------------------

    @staticmethod
    def is_manager(principal: Principal) -> bool:
        return not principal.is_guest and (
            principal.has_role(Role.ORG_ADMIN) or principal.has_role(Role.PROGRAM_MANAGER)
        )

    def _require_manager(self, principal: Principal) -> None:
        if not self.is_manager(principal):
            raise forbidden("only program managers and organization admins run programs")

    @staticmethod
    def _no_guests(principal: Principal) -> None:
        if principal.is_guest:
            raise forbidden("guests take no part in mentoring programs")

    async def _looked(
        self,
        session: AsyncSession,
        principal: Principal,
        action: AuditAction,
        kind: TargetKind,
        target_id: int,
        detail: dict[str, int] | None = None,
    ) -> None:
        """Record that a manager read metadata about people (ids only), and commit."""
        await append(
            session,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action=action,
            at=self._clock.now(),
            target_kind=kind,
            target_id=target_id,
            detail=detail,
        )
        await session.commit()

    async def _program(self, session: AsyncSession, principal: Principal, pid: int) -> Program:
        program = await session.get(Program, pid)
        if program is None or program.org_id != principal.org_id:
            raise not_found("no such program")
        return program

    async def _enrolment(
        self, session: AsyncSession, principal: Principal, enrolment_id: int
    ) -> tuple[Enrolment, Program]:
        enrolment = await session.get(Enrolment, enrolment_id)
        if enrolment is None:
            raise not_found("no such enrolment")
        program = await self._program(session, principal, enrolment.program_id)
        return enrolment, program

    async def _pair(
        self, session: AsyncSession, principal: Principal, pair_id: int, *, member: bool = True
    ) -> tuple[Pair, Program]:
        """The pair; with ``member``, only its mentor and mentee get it (others: forbidden)."""
        self._no_guests(principal)
        pair = await session.get(Pair, pair_id)
        if pair is None:
            raise not_found("no such pair")
        program = await self._program(session, principal, pair.program_id)
        if member and principal.user_id not in (pair.mentor_id, pair.mentee_id):
            raise forbidden("only the pair sees this")
        return pair, program

    async def _session_of_pair(
        self, session: AsyncSession, principal: Principal, session_id: int
    ) -> tuple[MentoringSession, Pair]:
        meeting = await session.get(MentoringSession, session_id)
        if meeting is None:
            raise not_found("no such session")
        pair, _ = await self._pair(session, principal, meeting.pair_id)
        return meeting, pair

    # -- programs ---------------------------------------------------------------------------

    async def create_program(
        self,
        principal: Principal,
        name: str,
        weights: dict[str, float] | None = None,
        suggestions_shown: int = 3,
    ) -> dict[str, Any]:
        self._require_manager(principal)
        name = accounts.clean_display_name(name)
        chosen = self._weights(weights or {})
        now = self._clock.now()
        async with self._db() as session:
            program = Program(
                org_id=principal.org_id,
                name=name,
                weights=chosen.as_dict(),
                suggestions_shown=suggestions_shown,
                created_by=principal.user_id,
                created_at=now,
            )
            session.add(program)
            await session.flush()
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.PROGRAM_CREATED,
                at=now,
                target_kind=TargetKind.PROGRAM,
                target_id=program.id,
            )
            await session.commit()
            log.info("mentoring.program_created", extra={"program_id": program.id})
            return await self._program_doc(session, principal, program)

    @staticmethod
    def _weights(data: dict[str, float]) -> matching.Weights:
        try:
            return matching.Weights.from_dict(data)
        except matching.MatchingError as exc:
            raise invalid(str(exc)) from None

    async def set_weights(
        self,
        principal: Principal,
        program_id: int,
        weights: dict[str, float],
        suggestions_shown: int | None = None,
    ) -> dict[str, Any]:
        self._require_manager(principal)
        now = self._clock.now()
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            merged = self._weights({**program.weights, **weights})
            program.weights = merged.as_dict()
            if suggestions_shown is not None:
                program.suggestions_shown = suggestions_shown
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.WEIGHTS_CHANGED,
                at=now,
                target_kind=TargetKind.PROGRAM,
                target_id=program.id,
                detail={k: v for k, v in merged.as_dict().items()},
            )
            await session.commit()
            return await self._program_doc(session, principal, program)

    async def list_programs(self, principal: Principal) -> list[dict[str, Any]]:
        self._no_guests(principal)
        async with self._db() as session:
            query = select(Program).where(Program.org_id == principal.org_id)
            if not self.is_manager(principal):
                query = query.where(
                    Program.id.in_(
                        select(Enrolment.program_id).where(
                            Enrolment.user_id == principal.user_id,
                            Enrolment.state.in_([EnrolmentState.INVITED, EnrolmentState.ACTIVE]),
                        )
                    )
                )
            programs = (await session.scalars(query.order_by(Program.id))).all()
            return [{"id": p.id, "name": p.name} for p in programs]

    async def get_program(self, principal: Principal, program_id: int) -> dict[str, Any]:
        self._no_guests(principal)
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            if not self.is_manager(principal):
                mine = await session.scalar(
                    select(Enrolment.id).where(
                        Enrolment.program_id == program.id,
                        Enrolment.user_id == principal.user_id,
                        Enrolment.state.in_([EnrolmentState.INVITED, EnrolmentState.ACTIVE]),
                    )
                )
                if mine is None:
                    raise forbidden("you are not in this program")
            return await self._program_doc(session, principal, program)

    async def _program_doc(
        self, session: AsyncSession, principal: Principal, program: Program
    ) -> dict[str, Any]:
        steps_query = select(ProgramStep).where(ProgramStep.program_id == program.id)
        if not self.is_manager(principal):
            steps_query = steps_query.where(ProgramStep.published_at.is_not(None))
        steps = (await session.scalars(steps_query.order_by(ProgramStep.id))).all()
        mine = (
            await session.scalars(
                select(Enrolment).where(
                    Enrolment.program_id == program.id, Enrolment.user_id == principal.user_id
                )
            )
        ).all()
        return {
            "id": program.id,
            "name": program.name,
            "weights": matching.Weights.from_dict(program.weights).as_dict(),
            "suggestions_shown": program.suggestions_shown,
            "steps": [_step_doc(s) for s in steps],
            "my_enrolments": [_enrolment_doc(e, profile=True) for e in mine],
            "may_manage": self.is_manager(principal),
        }

    async def add_step(
        self, principal: Principal, program_id: int, title: str, due_at: datetime | None
    ) -> dict[str, Any]:
        self._require_manager(principal)
        title = accounts.clean_display_name(title)
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            step = ProgramStep(program_id=program.id, title=title, due_at=due_at)
            session.add(step)
            await session.flush()
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.PROGRAM_CHANGED,
                at=self._clock.now(),
                target_kind=TargetKind.PROGRAM,
                target_id=program.id,
                detail={"step_id": step.id},
            )
            await session.commit()
            return _step_doc(step)

    async def publish_step(self, principal: Principal, step_id: int) -> dict[str, Any]:
        self._require_manager(principal)
        now = self._clock.now()
        async with self._db() as session:
            step = await session.get(ProgramStep, step_id)
            if step is None:
                raise not_found("no such step")
            program = await self._program(session, principal, step.program_id)
            if step.published_at is not None:
                raise conflict("this step is already published")
            step.published_at = now
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.PROGRAM_STEP_PUBLISHED,
                at=now,
                target_kind=TargetKind.PROGRAM,
                target_id=program.id,
                detail={"step_id": step.id},
            )
            await session.commit()
            people = await self._active_people(session, program.id)
            doc = _step_doc(step)
        await self._broadcaster.to_users(
            people, "mentoring:step", {"program_id": program.id, "step": doc}
        )
        return doc

    async def _active_people(self, session: AsyncSession, program_id: int) -> list[int]:
        return list(
            (
                await session.scalars(
                    select(Enrolment.user_id).where(
                        Enrolment.program_id == program_id,
                        Enrolment.state == EnrolmentState.ACTIVE,
                    )
                )
            ).all()
        )

    # -- enrolment and consent --------------------------------------------------------------

    async def invite(
        self,
        principal: Principal,
        program_id: int,
        user_id: int,
        role: EnrolmentRole,
        display_name: str | None = None,
        capacity: int | None = None,
    ) -> dict[str, Any]:
        """Invite a person: nothing of their profile reaches the program until they accept."""
        self._require_manager(principal)
        now = self._clock.now()
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            user = await session.get(User, user_id)
            if (
                user is None
                or user.org_id != principal.org_id
                or user.is_guest
                or user.status is not UserStatus.ACTIVE
            ):
                raise invalid("invite a current member of this organization")
            name = accounts.clean_display_name(display_name or user.display_name)
            enrolment = await session.scalar(
                select(Enrolment).where(
                    Enrolment.program_id == program.id,
                    Enrolment.user_id == user.id,
                    Enrolment.role == role,
                )
            )
            if enrolment is not None:
                if enrolment.state in (EnrolmentState.INVITED, EnrolmentState.ACTIVE):
                    raise conflict(f"already {enrolment.state.value} as {role.value}")
                enrolment.state = EnrolmentState.INVITED
                enrolment.display_name = name
                enrolment.invited_by = principal.user_id
                enrolment.invited_at = now
                enrolment.accepted_at = None
            else:
                enrolment = Enrolment(
                    program_id=program.id,
                    user_id=user.id,
                    role=role,
                    state=EnrolmentState.INVITED,
                    display_name=name,
                    invited_by=principal.user_id,
                    invited_at=now,
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
                session.add(enrolment)
            if capacity is not None:
                enrolment.capacity = capacity
            await session.flush()
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.ENROLMENT_INVITED,
                at=now,
                target_kind=TargetKind.ENROLMENT,
                target_id=enrolment.id,
                detail={"program_id": program.id, "user_id": user.id, "role": role.value},
            )
            await session.commit()
            doc = _enrolment_doc(enrolment, profile=False)
        await self._broadcaster.to_user(
            user_id,
            "mentoring:invited",
            {
                "enrolment_id": doc["id"],
                "program_id": program.id,
                "program_name": program.name,
                "role": role.value,
            },
        )
        return doc

    async def my_enrolments(self, principal: Principal) -> list[dict[str, Any]]:
        self._no_guests(principal)
        async with self._db() as session:
            rows = (
                await session.execute(
                    select(Enrolment, Program.name)
                    .join(Program, Program.id == Enrolment.program_id)
                    .where(
                        Enrolment.user_id == principal.user_id,
                        Program.org_id == principal.org_id,
                    )
                    .order_by(Enrolment.id)
                )
            ).all()
            return [{**_enrolment_doc(e, profile=True), "program_name": name} for e, name in rows]

    async def respond(
        self, principal: Principal, enrolment_id: int, accept: bool
    ) -> dict[str, Any]:
        """The invited person accepts (their profile is shared from now on) or declines."""
        self._no_guests(principal)
        now = self._clock.now()
        async with self._db() as session:
            enrolment, _ = await self._enrolment(session, principal, enrolment_id)
            if enrolment.user_id != principal.user_id:
                raise forbidden("only the invited person answers an invitation")
            if enrolment.state is not EnrolmentState.INVITED:
                raise conflict("this invitation is not open")
            enrolment.state = EnrolmentState.ACTIVE if accept else EnrolmentState.DECLINED
            enrolment.accepted_at = now if accept else None
            await session.commit()
            log.info(
                "mentoring.enrolment_answered",
                extra={"enrolment_id": enrolment.id, "accepted": accept},
            )
            return _enrolment_doc(enrolment, profile=True)

    async def update_profile(
        self, principal: Principal, enrolment_id: int, changes: ProfileChanges
    ) -> dict[str, Any]:
        """Only the person edits their profile (also before accepting: it stays private)."""
        self._no_guests(principal)
        async with self._db() as session:
            enrolment, _ = await self._enrolment(session, principal, enrolment_id)
            if enrolment.user_id != principal.user_id:
                raise forbidden("only the person edits their profile")
            if enrolment.state not in (EnrolmentState.INVITED, EnrolmentState.ACTIVE):
                raise conflict("this enrolment has ended")
            if changes.skills is not None:
                enrolment.skills = _tags(changes.skills, "skills")
            if changes.goals is not None:
                enrolment.goals = _tags(changes.goals, "goals")
            if changes.interests is not None:
                enrolment.interests = _tags(changes.interests, "interests")
            if changes.languages is not None:
                enrolment.languages = [t.title() for t in _tags(changes.languages, "languages")]
            if changes.timezone is not None:
                enrolment.timezone = _check_timezone(changes.timezone)
            if changes.availability is not None:
                if any(not 0 <= h < matching.HOURS_PER_WEEK for h in changes.availability):
                    raise invalid("availability: hours of the week in UTC, 0 to 167")
                enrolment.availability = sorted(set(changes.availability))
            if changes.capacity is not None:
                if enrolment.role is not EnrolmentRole.MENTOR:
                    raise invalid("capacity: only mentors have a capacity")
                enrolment.capacity = changes.capacity
            if changes.protected is not None:
                unknown = set(changes.protected) - PROTECTED_ATTRIBUTES
                if unknown:
                    raise invalid(f"protected: only {', '.join(sorted(PROTECTED_ATTRIBUTES))}")
                enrolment.protected = {
                    k: " ".join(v.split()).lower()[:40] for k, v in changes.protected.items()
                }
            if changes.use_protected is not None:
                enrolment.use_protected = changes.use_protected
            if changes.shown_to_mentees is not None:
                if enrolment.role is not EnrolmentRole.MENTOR:
                    raise invalid("shown_to_mentees: only mentors are suggested to mentees")
                unknown = set(changes.shown_to_mentees) - set(SHOWABLE)
                if unknown:
                    raise invalid(f"shown_to_mentees: only {', '.join(SHOWABLE)}")
                enrolment.shown_to_mentees = [
                    k for k in SHOWABLE if k in set(changes.shown_to_mentees)
                ]
            await session.commit()
            return _enrolment_doc(enrolment, profile=True)

    async def remove_enrolment(self, principal: Principal, enrolment_id: int) -> None:
        """A manager removes someone, or a person withdraws; their active pairs end."""
        self._no_guests(principal)
        now = self._clock.now()
        async with self._db() as session:
            enrolment, program = await self._enrolment(session, principal, enrolment_id)
            own = enrolment.user_id == principal.user_id
            if not own and not self.is_manager(principal):
                raise forbidden("only managers remove people from a program")
            if enrolment.state in (EnrolmentState.REMOVED, EnrolmentState.DECLINED):
                raise conflict("this enrolment has already ended")
            enrolment.state = EnrolmentState.REMOVED
            pairs = (
                await session.scalars(
                    select(Pair).where(
                        Pair.state == PairState.ACTIVE,
                        or_(
                            Pair.mentor_enrolment_id == enrolment.id,
                            Pair.mentee_enrolment_id == enrolment.id,
                        ),
                    )
                )
            ).all()
            for pair in pairs:
                await self._end_pair(session, principal, pair, now)
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.ENROLMENT_REMOVED,
                at=now,
                target_kind=TargetKind.ENROLMENT,
                target_id=enrolment.id,
                detail={"program_id": program.id, "withdrawn": own},
            )
            await session.commit()
        for pair in pairs:
            await self._after_pair_ended(principal.org_id, pair)

    async def program_enrolments(
        self, principal: Principal, program_id: int
    ) -> list[dict[str, Any]]:
        """For managers: everyone invited; profiles only of those who accepted."""
        self._require_manager(principal)
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            enrolments = (
                await session.scalars(
                    select(Enrolment)
                    .where(Enrolment.program_id == program.id)
                    .order_by(Enrolment.id)
                )
            ).all()
            loads = await self._loads(session, program.id)
            docs = [
                {
                    **_enrolment_doc(e, profile=e.state is EnrolmentState.ACTIVE, for_program=True),
                    "active_pairs": loads.get(e.id, 0),
                }
                for e in enrolments
            ]
            await self._looked(
                session,
                principal,
                AuditAction.ENROLMENTS_VIEWED,
                TargetKind.PROGRAM,
                program.id,
                {"profiles": sum(1 for d in docs if "profile" in d)},
            )
            return docs

    async def _loads(self, session: AsyncSession, program_id: int) -> dict[int, int]:
        """Active pairs per enrolment (mentor or mentee side)."""
        loads: dict[int, int] = {}
        rows = await session.execute(
            select(Pair.mentor_enrolment_id, Pair.mentee_enrolment_id).where(
                Pair.program_id == program_id, Pair.state == PairState.ACTIVE
            )
        )
        for mentor, mentee in rows:
            loads[mentor] = loads.get(mentor, 0) + 1
            loads[mentee] = loads.get(mentee, 0) + 1
        return loads

    # -- matching ---------------------------------------------------------------------------

    def _profile(
        self, e: Enrolment, capacity: int | None = None, shown: frozenset[str] | None = None
    ) -> matching.Profile:
        return matching.Profile(
            id=e.id,
            name=e.display_name,
            skills=frozenset(e.skills),
            goals=frozenset(e.goals),
            interests=frozenset(e.interests),
            languages=tuple(e.languages),
            utc_offset_minutes=_offset_minutes(e.timezone, self._clock.now()),
            availability=frozenset(e.availability),
            capacity=e.capacity if capacity is None else capacity,
            person_id=e.user_id,
            protected=dict(e.protected),
            use_protected=e.use_protected,
            shown=shown,
        )

    async def _pool(
        self, session: AsyncSession, program_id: int
    ) -> tuple[list[Enrolment], list[Enrolment], dict[int, int]]:
        """Active mentors and mentees of a program (only people who accepted), with loads."""
        active = (
            await session.scalars(
                select(Enrolment)
                .where(
                    Enrolment.program_id == program_id,
                    Enrolment.state == EnrolmentState.ACTIVE,
                )
                .order_by(Enrolment.id)
            )
        ).all()
        mentors = [e for e in active if e.role is EnrolmentRole.MENTOR]
        mentees = [e for e in active if e.role is EnrolmentRole.MENTEE]
        return mentors, mentees, await self._loads(session, program_id)

    async def suggestions(
        self, principal: Principal, program_id: int, mentee_enrolment_id: int
    ) -> dict[str, Any]:
        """Mentors ranked for one mentee, with the score's parts and reasons. Managers see the
        top ten; the mentee sees the program's ``suggestions_shown``."""
        self._no_guests(principal)
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            mentee = await session.get(Enrolment, mentee_enrolment_id)
            if (
                mentee is None
                or mentee.program_id != program.id
                or mentee.role is not EnrolmentRole.MENTEE
                or mentee.state is not EnrolmentState.ACTIVE
            ):
                raise not_found("no such active mentee in this program")
            if mentee.user_id == principal.user_id:
                # The mentee's own view, even when they also manage: only what mentors show.
                ranked = await self._ranked(
                    session, program, mentee, program.suggestions_shown, for_mentee=True
                )
            elif self.is_manager(principal):
                ranked = await self._ranked(session, program, mentee, 10)
                await self._looked(
                    session,
                    principal,
                    AuditAction.SUGGESTIONS_VIEWED,
                    TargetKind.ENROLMENT,
                    mentee.id,
                    {"program_id": program.id, "mentors": len(ranked)},
                )
            else:
                raise forbidden("only the mentee and program managers see suggestions")
        return {
            "weights": matching.Weights.from_dict(program.weights).as_dict(),
            "suggestions": ranked,
        }

    async def _ranked(
        self,
        session: AsyncSession,
        program: Program,
        mentee: Enrolment,
        top: int,
        *,
        for_mentee: bool = False,
    ) -> list[dict[str, Any]]:
        """``for_mentee``: ranked, scored and explained from only what each mentor chose to
        show mentees, in coarse terms (see ``matching.explain``) — nothing a mentee could
        learn about a mentor by changing their own profile and asking again."""
        mentors, _, loads = await self._pool(session, program.id)
        paired_with = set(
            (
                await session.scalars(
                    select(Pair.mentor_enrolment_id).where(
                        Pair.mentee_enrolment_id == mentee.id, Pair.state == PairState.ACTIVE
                    )
                )
            ).all()
        )
        names = {m.id: m.display_name for m in mentors}
        profiles = [
            self._profile(
                m,
                max(0, m.capacity - loads.get(m.id, 0)),
                shown=frozenset(m.shown_to_mentees) if for_mentee else None,
            )
            for m in mentors
            if m.id not in paired_with
        ]
        weights = matching.Weights.from_dict(program.weights)
        return [
            {
                "mentor_enrolment_id": s.mentor_id,
                "display_name": names[s.mentor_id],
                "score": s.score,
                "parts": s.parts,
                "reasons": list(s.reasons),
            }
            for s in matching.suggestions(self._profile(mentee), profiles, weights, top)
        ]

    async def match(
        self,
        principal: Principal,
        program_id: int,
        mentor_enrolment_id: int,
        mentee_enrolment_id: int,
    ) -> dict[str, Any]:
        """A manager pairs a mentor (within capacity) with an unmatched mentee."""
        self._require_manager(principal)
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            pair = await self._make_pair(
                session,
                principal,
                program,
                mentor_enrolment_id,
                mentee_enrolment_id,
                MatchMode.MANAGER,
            )
            await session.commit()
            doc = _pair_doc(pair, manager=True)
        await self._after_pair_made(principal.org_id, pair)
        return doc

    async def pick(
        self, principal: Principal, program_id: int, mentor_enrolment_id: int
    ) -> dict[str, Any]:
        """A mentee chooses a mentor among their top suggestions."""
        self._no_guests(principal)
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            mentee = await session.scalar(
                select(Enrolment).where(
                    Enrolment.program_id == program.id,
                    Enrolment.user_id == principal.user_id,
                    Enrolment.role == EnrolmentRole.MENTEE,
                    Enrolment.state == EnrolmentState.ACTIVE,
                )
            )
            if mentee is None:
                raise forbidden("only enrolled mentees pick a mentor")
            offered = await self._ranked(
                session, program, mentee, program.suggestions_shown, for_mentee=True
            )
            if mentor_enrolment_id not in {s["mentor_enrolment_id"] for s in offered}:
                raise forbidden("pick one of your suggested mentors")
            pair = await self._make_pair(
                session, principal, program, mentor_enrolment_id, mentee.id, MatchMode.MENTEE_PICK
            )
            await session.commit()
            doc = _pair_doc(pair, manager=False)
        await self._after_pair_made(principal.org_id, pair)
        return doc

    async def assign(self, principal: Principal, program_id: int, apply: bool) -> dict[str, Any]:
        """The whole-program assignment: every unmatched mentee, every mentor's remaining
        capacity, maximising the total score. Shows the greedy total beside it; with
        ``apply`` the pairs are made."""
        self._require_manager(principal)
        now = self._clock.now()
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            mentors, mentees, loads = await self._pool(session, program.id)
            open_mentees = [m for m in mentees if loads.get(m.id, 0) == 0]
            mentor_profiles = [
                self._profile(m, max(0, m.capacity - loads.get(m.id, 0))) for m in mentors
            ]
            mentee_profiles = [self._profile(m) for m in open_mentees]
            weights = matching.Weights.from_dict(program.weights)
            # Seconds of arithmetic for a large program: off the event loop.
            best, greedy = await asyncio.to_thread(
                _solve, mentor_profiles, mentee_profiles, weights
            )
            by_id = {p.id: p for p in (*mentor_profiles, *mentee_profiles)}
            proposal = [
                {
                    "mentor_enrolment_id": mentor_id,
                    "mentee_enrolment_id": mentee_id,
                    "score": score,
                    "reasons": list(
                        matching.explain(by_id[mentor_id], by_id[mentee_id], weights).reasons
                    ),
                }
                for mentor_id, mentee_id, score in best.pairs
            ]
            made: list[Pair] = []
            if apply and best.pairs:
                await append(
                    session,
                    org_id=principal.org_id,
                    actor_id=principal.user_id,
                    action=AuditAction.MATCHING_RUN,
                    at=now,
                    target_kind=TargetKind.PROGRAM,
                    target_id=program.id,
                    detail={"pairs": len(best.pairs), "total_score": best.total},
                )
                current = await self._loads(session, program.id)
                placed: dict[int, list[Rect]] = {}
                for mentor_id, mentee_id, _ in best.pairs:
                    made.append(
                        await self._make_pair(
                            session,
                            principal,
                            program,
                            mentor_id,
                            mentee_id,
                            MatchMode.OPTIMAL,
                            current,
                            placed,
                        )
                    )
                await session.commit()
            elif not apply:
                await self._looked(
                    session,
                    principal,
                    AuditAction.MATCHING_PREVIEWED,
                    TargetKind.PROGRAM,
                    program.id,
                    {"pairs": len(best.pairs)},
                )
        if made:
            await self._office.layout_changed(principal.org_id)  # once for all the new rooms
        for pair in made:
            await self._after_pair_made(principal.org_id, pair, layout=False)
        assigned = {mentee_id for _, mentee_id, _ in best.pairs}
        return {
            "pairs": proposal,
            "total_score": best.total,
            "greedy_total_score": greedy.total,
            "unassigned_mentees": [m.id for m in open_mentees if m.id not in assigned],
            "applied": bool(apply and made),
        }

    async def _make_pair(
        self,
        session: AsyncSession,
        principal: Principal,
        program: Program,
        mentor_enrolment_id: int,
        mentee_enrolment_id: int,
        mode: MatchMode,
        loads: dict[int, int] | None = None,
        placed: dict[int, list[Rect]] | None = None,
    ) -> Pair:
        """``loads`` (active pairs per enrolment) and ``placed`` (rooms per floor): given when
        the caller makes many pairs at once; kept up to date here."""
        mentor = await session.get(Enrolment, mentor_enrolment_id)
        mentee = await session.get(Enrolment, mentee_enrolment_id)
        for enrolment, role in ((mentor, EnrolmentRole.MENTOR), (mentee, EnrolmentRole.MENTEE)):
            if (
                enrolment is None
                or enrolment.program_id != program.id
                or enrolment.role is not role
                or enrolment.state is not EnrolmentState.ACTIVE
            ):
                raise invalid(f"{role.value}: not an active {role.value} of this program")
        assert mentor is not None and mentee is not None
        if mentor.user_id == mentee.user_id:
            raise invalid("a person is not their own mentor")
        if loads is None:
            loads = await self._loads(session, program.id)
        if loads.get(mentee.id, 0) > 0:
            raise conflict("this mentee already has a mentor")
        if loads.get(mentor.id, 0) >= mentor.capacity:
            raise conflict("this mentor has no capacity left")
        now = self._clock.now()
        weights = matching.Weights.from_dict(program.weights)
        score = matching.explain(self._profile(mentor), self._profile(mentee), weights).score
        pair = Pair(
            program_id=program.id,
            mentor_enrolment_id=mentor.id,
            mentee_enrolment_id=mentee.id,
            mentor_id=mentor.user_id,
            mentee_id=mentee.user_id,
            state=PairState.ACTIVE,
            mode=mode,
            score=score,
            matched_by=principal.user_id,
            matched_at=now,
        )
        session.add(pair)
        await session.flush()
        loads[mentor.id] = loads.get(mentor.id, 0) + 1
        loads[mentee.id] = loads.get(mentee.id, 0) + 1
        pair.room_id = await self._open_room(session, program.org_id, pair, placed)
        await append(
            session,
            org_id=program.org_id,
            actor_id=principal.user_id,
            action=AuditAction.MATCH_MADE,
            at=now,
            target_kind=TargetKind.PAIR,
            target_id=pair.id,
            detail={
                "program_id": program.id,
                "mentor_enrolment_id": mentor.id,
                "mentee_enrolment_id": mentee.id,
                "mode": mode.value,
                "score": score,
            },
        )
        subject = await accounts.analytics_subject(session, program.org_id, mentee.user_id)
        await record(session, Metric.MENTORING_MATCHED, subject, at=now)
        return pair

    async def _open_room(
        self,
        session: AsyncSession,
        org_id: int,
        pair: Pair,
        placed: dict[int, list[Rect]] | None = None,
    ) -> int:
        """A locked mentoring room for the pair, owned by both, on the Mentoring floor.
        ``placed`` caches the floor's rooms while many pairs are made in one transaction."""
        floor = await session.scalar(
            select(Floor).where(Floor.org_id == org_id, Floor.name == MENTORING_FLOOR)
        )
        if floor is None:
            count = await session.scalar(
                select(func.count()).select_from(Floor).where(Floor.org_id == org_id)
            )
            floor = Floor(
                org_id=org_id,
                name=MENTORING_FLOOR,
                position=int(count or 0),
                width=FLOOR_SIDE,
                height=FLOOR_SIDE,
            )
            session.add(floor)
            await session.flush()
        taken = (placed or {}).get(floor.id)
        if taken is None:
            rows = await session.execute(
                select(Room.x, Room.y, Room.w, Room.h).where(
                    Room.floor_id == floor.id, Room.archived.is_(False)
                )
            )
            taken = [Rect(x, y, w, h) for x, y, w, h in rows]
            if placed is not None:
                placed[floor.id] = taken
        spot = _free_spot(floor.width, floor.height, taken)
        if spot is None:
            raise conflict("the mentoring floor is full")
        taken.append(spot)
        plan = RoomPlan(
            f"Mentoring pair {pair.id}", RoomKind.MENTORING_ROOM, spot, 4, DoorState.LOCKED
        )
        room = room_row(org_id, floor.id, plan)
        session.add(room)
        await session.flush()
        for user_id in sorted({pair.mentor_id, pair.mentee_id}):
            session.add(RoomOwner(room_id=room.id, user_id=user_id))
        await session.flush()
        return room.id

    async def _after_pair_made(self, org_id: int, pair: Pair, *, layout: bool = True) -> None:
        if layout:
            await self._office.layout_changed(org_id)
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id),
            "mentoring:matched",
            {"pair_id": pair.id, "program_id": pair.program_id, "room_id": pair.room_id},
        )

    async def unmatch(self, principal: Principal, pair_id: int) -> None:
        self._require_manager(principal)
        async with self._db() as session:
            pair, _ = await self._pair(session, principal, pair_id, member=False)
            if pair.state is not PairState.ACTIVE:
                raise conflict("this pair has already ended")
            await self._end_pair(session, principal, pair, self._clock.now())
            await session.commit()
        await self._after_pair_ended(principal.org_id, pair)

    async def _end_pair(
        self, session: AsyncSession, principal: Principal, pair: Pair, now: datetime
    ) -> None:
        pair.state = PairState.ENDED
        pair.ended_at = now
        if pair.room_id is not None:
            # Nobody enters any more; the room goes away as soon as it is empty.
            for owner in (
                await session.scalars(select(RoomOwner).where(RoomOwner.room_id == pair.room_id))
            ).all():
                await session.delete(owner)
            await self._archive_if_empty(session, principal.org_id, pair.room_id)
        await append(
            session,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action=AuditAction.MATCH_ENDED,
            at=now,
            target_kind=TargetKind.PAIR,
            target_id=pair.id,
            detail={"program_id": pair.program_id},
        )

    async def _after_pair_ended(self, org_id: int, pair: Pair) -> None:
        await self._office.layout_changed(org_id)
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id),
            "mentoring:unmatched",
            {"pair_id": pair.id, "program_id": pair.program_id},
        )

    # -- pairs, agreement, goals ------------------------------------------------------------

    async def my_pairs(self, principal: Principal) -> list[dict[str, Any]]:
        self._no_guests(principal)
        async with self._db() as session:
            pairs = (
                await session.scalars(
                    select(Pair)
                    .join(Program, Program.id == Pair.program_id)
                    .where(
                        Program.org_id == principal.org_id,
                        or_(
                            Pair.mentor_id == principal.user_id, Pair.mentee_id == principal.user_id
                        ),
                    )
                    .order_by(Pair.id)
                )
            ).all()
            manager = self.is_manager(principal)
            return [_pair_doc(p, manager=manager) for p in pairs]

    async def program_pairs(self, principal: Principal, program_id: int) -> list[dict[str, Any]]:
        """For managers: who is paired with whom, how and when — no content."""
        self._require_manager(principal)
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            pairs = (
                await session.scalars(
                    select(Pair).where(Pair.program_id == program.id).order_by(Pair.id)
                )
            ).all()
            return [_pair_doc(p, manager=True) for p in pairs]

    async def get_pair(self, principal: Principal, pair_id: int) -> dict[str, Any]:
        """The pair sees everything of theirs; a manager sees the pair's metadata only."""
        async with self._db() as session:
            pair, _ = await self._pair(session, principal, pair_id, member=False)
            is_member = principal.user_id in (pair.mentor_id, pair.mentee_id)
            if not is_member and not self.is_manager(principal):
                raise forbidden("only the pair sees this")
            doc = _pair_doc(pair, manager=self.is_manager(principal))
            names = dict(
                (
                    await session.execute(
                        select(Enrolment.id, Enrolment.display_name).where(
                            Enrolment.id.in_([pair.mentor_enrolment_id, pair.mentee_enrolment_id])
                        )
                    )
                ).all()
            )
            doc["mentor_name"] = names.get(pair.mentor_enrolment_id)
            doc["mentee_name"] = names.get(pair.mentee_enrolment_id)
            goals = (
                await session.scalars(select(Goal).where(Goal.pair_id == pair.id).order_by(Goal.id))
            ).all()
            milestones = (
                await session.scalars(
                    select(Milestone)
                    .where(Milestone.goal_id.in_([g.id for g in goals]))
                    .order_by(Milestone.id)
                )
            ).all()
            meetings = (
                await session.scalars(
                    select(MentoringSession)
                    .where(MentoringSession.pair_id == pair.id)
                    .order_by(MentoringSession.starts_at)
                )
            ).all()
            doc["sessions"] = [_session_doc(m) for m in meetings]
            if not is_member:
                doc["goals"] = {
                    "open": sum(g.status is ItemStatus.OPEN for g in goals),
                    "done": sum(g.status is ItemStatus.DONE for g in goals),
                }
                return doc
            goal_titles = dict(
                (
                    await session.execute(
                        select(GoalText.goal_id, GoalText.title).where(
                            GoalText.goal_id.in_([g.id for g in goals])
                        )
                    )
                ).all()
            )
            milestone_titles = dict(
                (
                    await session.execute(
                        select(MilestoneText.milestone_id, MilestoneText.title).where(
                            MilestoneText.milestone_id.in_([m.id for m in milestones])
                        )
                    )
                ).all()
            )
            agreement = await session.get(AgreementText, pair.id)
            doc["agreement"] = {
                "goals": agreement.goals if agreement else "",
                "cadence": pair.cadence.value if pair.cadence else None,
                "agreed_at": _iso(pair.agreed_at),
            }
            doc["goals"] = [
                {
                    **_item_doc(g),
                    "title": goal_titles.get(g.id, ""),
                    "milestones": [
                        {
                            **_item_doc(m),
                            "title": milestone_titles.get(m.id, ""),
                            "due_on": _iso(m.due_on),
                        }
                        for m in milestones
                        if m.goal_id == g.id
                    ],
                }
                for g in goals
            ]
            return doc

    async def _changed(self, pair: Pair, what: str, **ids: int) -> None:
        """Tell the pair something changed (ids only: the client fetches what it may see)."""
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id),
            "mentoring:pair_changed",
            {"pair_id": pair.id, "what": what, **ids},
        )

    async def _active_pair(self, session: AsyncSession, principal: Principal, pair_id: int) -> Pair:
        pair, _ = await self._pair(session, principal, pair_id)
        if pair.state is not PairState.ACTIVE:
            raise conflict("this pair has ended")
        return pair

    async def set_agreement(
        self, principal: Principal, pair_id: int, goals: str, cadence: Cadence
    ) -> dict[str, Any]:
        text = _text(goals, MAX_NOTE, "goals", empty_ok=True)
        async with self._db() as session:
            pair = await self._active_pair(session, principal, pair_id)
            agreement = await session.get(AgreementText, pair.id)
            if agreement is None:
                session.add(AgreementText(pair_id=pair.id, goals=text))
            else:
                agreement.goals = text
            pair.cadence = cadence
            pair.agreed_at = self._clock.now()
            await session.commit()
        await self._changed(pair, "agreement")
        return {"goals": text, "cadence": cadence.value, "agreed_at": _iso(pair.agreed_at)}

    async def add_goal(self, principal: Principal, pair_id: int, title: str) -> dict[str, Any]:
        title = _text(title, MAX_TITLE, "title")
        async with self._db() as session:
            pair = await self._active_pair(session, principal, pair_id)
            goal = Goal(pair_id=pair.id, status=ItemStatus.OPEN, created_at=self._clock.now())
            session.add(goal)
            await session.flush()
            session.add(GoalText(goal_id=goal.id, title=title))
            await session.commit()
            doc = {**_item_doc(goal), "title": title, "milestones": []}
        await self._changed(pair, "goal", goal_id=goal.id)
        return doc

    async def _goal(
        self, session: AsyncSession, principal: Principal, goal_id: int
    ) -> tuple[Goal, Pair]:
        goal = await session.get(Goal, goal_id)
        if goal is None:
            raise not_found("no such goal")
        return goal, await self._active_pair(session, principal, goal.pair_id)

    async def set_goal(
        self,
        principal: Principal,
        goal_id: int,
        status: ItemStatus | None,
        title: str | None,
    ) -> dict[str, Any]:
        now = self._clock.now()
        async with self._db() as session:
            goal, pair = await self._goal(session, principal, goal_id)
            if title is not None:
                text = await session.get(GoalText, goal.id)
                assert text is not None
                text.title = _text(title, MAX_TITLE, "title")
            if status is not None and status is not goal.status:
                goal.status = status
                goal.done_at = now if status is ItemStatus.DONE else None
                if status is ItemStatus.DONE:
                    subject = await accounts.analytics_subject(
                        session, principal.org_id, pair.mentee_id
                    )
                    await record(session, Metric.GOAL_COMPLETED, subject, at=now)
            await session.commit()
            doc = _item_doc(goal)
        await self._changed(pair, "goal", goal_id=goal.id)
        return doc

    async def add_milestone(
        self, principal: Principal, goal_id: int, title: str, due_on: datetime | None
    ) -> dict[str, Any]:
        title = _text(title, MAX_TITLE, "title")
        async with self._db() as session:
            goal, pair = await self._goal(session, principal, goal_id)
            milestone = Milestone(goal_id=goal.id, status=ItemStatus.OPEN, due_on=due_on)
            session.add(milestone)
            await session.flush()
            session.add(MilestoneText(milestone_id=milestone.id, title=title))
            await session.commit()
            doc = {**_item_doc(milestone), "title": title, "due_on": _iso(due_on)}
        await self._changed(pair, "milestone", goal_id=goal.id, milestone_id=milestone.id)
        return doc

    async def set_milestone(
        self, principal: Principal, milestone_id: int, status: ItemStatus
    ) -> dict[str, Any]:
        async with self._db() as session:
            milestone = await session.get(Milestone, milestone_id)
            if milestone is None:
                raise not_found("no such milestone")
            goal, pair = await self._goal(session, principal, milestone.goal_id)
            milestone.status = status
            milestone.done_at = self._clock.now() if status is ItemStatus.DONE else None
            await session.commit()
            doc = _item_doc(milestone)
        await self._changed(pair, "milestone", goal_id=goal.id, milestone_id=milestone.id)
        return doc

    # -- sessions and calendars -------------------------------------------------------------

    async def schedule(
        self, principal: Principal, pair_id: int, starts_at: datetime, minutes: int
    ) -> dict[str, Any]:
        if starts_at.tzinfo is None:
            raise invalid("starts_at: give a time zone (e.g. 2026-01-05T09:00:00Z)")
        if not SESSION_MINUTES[0] <= minutes <= SESSION_MINUTES[1]:
            raise invalid(f"minutes: {SESSION_MINUTES[0]} to {SESSION_MINUTES[1]}")
        if starts_at <= self._clock.now():
            raise invalid("starts_at: a session is scheduled in the future")
        async with self._db() as session:
            pair = await self._active_pair(session, principal, pair_id)
            meeting = MentoringSession(
                pair_id=pair.id,
                uid=f"{uuid.uuid4()}@officehours",
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=minutes),
                sequence=0,
                mentor_present=False,
                mentee_present=False,
                met_seconds=0.0,
            )
            session.add(meeting)
            await session.commit()
            doc = _session_doc(meeting)
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id), "mentoring:session", {"pair_id": pair.id, **doc}
        )
        return doc

    async def cancel_session(self, principal: Principal, session_id: int) -> dict[str, Any]:
        async with self._db() as session:
            meeting, pair = await self._session_of_pair(session, principal, session_id)
            if meeting.cancelled_at is not None:
                raise conflict("this session is already cancelled")
            meeting.cancelled_at = self._clock.now()
            meeting.sequence += 1
            await session.commit()
            doc = _session_doc(meeting)
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id), "mentoring:session", {"pair_id": pair.id, **doc}
        )
        return doc

    async def session_ics(self, principal: Principal, session_id: int) -> str:
        async with self._db() as session:
            meeting, pair = await self._session_of_pair(session, principal, session_id)
            events = await self._events(session, principal.user_id, [(meeting, pair)])
        return calendar.calendar(events, now=self._clock.now())

    async def _events(
        self,
        session: AsyncSession,
        user_id: int,
        meetings: Sequence[tuple[MentoringSession, Pair]],
    ) -> list[calendar.CalendarEvent]:
        enrolment_ids = {p.mentor_enrolment_id for _, p in meetings} | {
            p.mentee_enrolment_id for _, p in meetings
        }
        names = dict(
            (
                await session.execute(
                    select(Enrolment.id, Enrolment.display_name).where(
                        Enrolment.id.in_(enrolment_ids)
                    )
                )
            ).all()
        )
        rooms = dict(
            (
                await session.execute(
                    select(Room.id, Room.name).where(
                        Room.id.in_([p.room_id for _, p in meetings if p.room_id])
                    )
                )
            ).all()
        )
        events = []
        for meeting, pair in meetings:
            other = (
                pair.mentee_enrolment_id if user_id == pair.mentor_id else pair.mentor_enrolment_id
            )
            events.append(
                calendar.CalendarEvent(
                    uid=meeting.uid,
                    starts_at=meeting.starts_at,
                    ends_at=meeting.ends_at,
                    summary=f"Mentoring with {names.get(other, 'your pair')}",
                    description="Meet in your mentoring room in the office.",
                    location=rooms.get(pair.room_id, "") if pair.room_id else "",
                    url=f"{self._base_url}/office",
                    sequence=meeting.sequence,
                    cancelled=meeting.cancelled_at is not None,
                )
            )
        return events

    def _feed_hash(self, token: str) -> str:
        return keyed_hash(self._secret_key, f"mentoringfeed:{token}")

    async def create_feed(self, principal: Principal) -> dict[str, Any]:
        """A new secret feed URL for this person (replacing any earlier one); shown once."""
        self._no_guests(principal)
        token = new_token(24)
        async with self._db() as session:
            feed = await session.scalar(
                select(CalendarFeed).where(CalendarFeed.user_id == principal.user_id)
            )
            if feed is None:
                feed = CalendarFeed(user_id=principal.user_id)
                session.add(feed)
            feed.token_hash = self._feed_hash(token)
            feed.created_at = self._clock.now()
            await session.commit()
        return {"url": f"{self._base_url}/api/mentoring/calendar/{token}", "token": token}

    async def feed(self, token: str) -> str:
        """Every session of the person's pairs from 30 days ago on, by the secret token."""
        if not token or len(token) > 128:
            raise not_found("no such calendar")
        async with self._db() as session:
            user_id = await session.scalar(
                select(CalendarFeed.user_id).where(
                    CalendarFeed.token_hash == self._feed_hash(token)
                )
            )
            user = await session.get(User, user_id) if user_id else None
            if user is None or user.status is not UserStatus.ACTIVE:
                raise not_found("no such calendar")
            since = self._clock.now() - timedelta(days=30)
            rows = (
                await session.execute(
                    select(MentoringSession, Pair)
                    .join(Pair, Pair.id == MentoringSession.pair_id)
                    .where(
                        or_(Pair.mentor_id == user.id, Pair.mentee_id == user.id),
                        MentoringSession.starts_at >= since,
                    )
                    .order_by(MentoringSession.starts_at)
                )
            ).all()
            events = await self._events(session, user.id, [(m, p) for m, p in rows])
        return calendar.calendar(events, now=self._clock.now(), name="Mentoring")

    async def participant_joined(self, session_id: int, user_id: int, at: datetime) -> None:
        """The media relay saw this person join the session's call."""
        await self._presence(session_id, user_id, at, present=True)

    async def participant_left(self, session_id: int, user_id: int, at: datetime) -> None:
        await self._presence(session_id, user_id, at, present=False)

    async def _presence(self, session_id: int, user_id: int, at: datetime, present: bool) -> None:
        """Time counts only while both of the pair are present; each stretch together ends
        in one analytics event (``count`` 1 for the session's first stretch, else 0)."""
        async with self._db() as session:
            meeting = await session.get(MentoringSession, session_id, with_for_update=True)
            if meeting is None:
                raise not_found("no such session")
            pair = await session.get(Pair, meeting.pair_id)
            assert pair is not None
            if user_id == pair.mentor_id:
                meeting.mentor_present = present
            elif user_id == pair.mentee_id:
                meeting.mentee_present = present
            else:
                return  # someone else in the call: not part of the pair's time
            both = meeting.mentor_present and meeting.mentee_present
            if both and meeting.together_since is None:
                meeting.together_since = at
            elif not both and meeting.together_since is not None:
                seconds = max(0.0, (at - meeting.together_since).total_seconds())
                first = meeting.first_met_at is None
                if first:
                    meeting.first_met_at = meeting.together_since
                meeting.met_seconds += seconds
                meeting.together_since = None
                program = await session.get(Program, pair.program_id)
                assert program is not None
                subject = await accounts.analytics_subject(session, program.org_id, pair.mentee_id)
                _, mentor_group = await accounts.first_group_of(session, pair.mentor_id)
                await record(
                    session,
                    Metric.MENTORING_SESSION,
                    subject,
                    at=at,
                    count=1 if first else 0,
                    seconds=seconds,
                    room_kind=RoomKind.MENTORING_ROOM,
                    peer_group_id=mentor_group,
                )
            await session.commit()

    async def archive_ended_rooms(self) -> int:
        """A job: archive the room of every ended pair once nobody is inside. A pair that ends
        (unmatched, or one of them erased) while someone is in its room keeps the room until
        they walk out; nobody can enter it meanwhile (it has no owners)."""
        async with self._db() as session:
            rooms = (
                await session.execute(
                    select(Room.org_id, Room.id)
                    .join(Pair, Pair.room_id == Room.id)
                    .where(Pair.state == PairState.ENDED, Room.archived.is_(False))
                    .distinct()
                )
            ).all()
        archived: set[int] = set()
        for org_id, room_id in rooms:
            async with self._db() as session:
                done = await self._archive_if_empty(session, org_id, room_id)
                await session.commit()
            if done:
                archived.add(org_id)
        for org_id in archived:
            await self._office.layout_changed(org_id)
        return len(archived)

    async def _archive_if_empty(self, session: AsyncSession, org_id: int, room_id: int) -> bool:
        """Archive a pair's room unless someone is inside (the caller commits); whether this
        call archived it."""
        if await self._office.occupants(org_id, room_id):
            return False
        done = await session.execute(
            update(Room).where(Room.id == room_id, Room.archived.is_(False)).values(archived=True)
        )
        return getattr(done, "rowcount", 0) == 1

    async def send_reminders(self) -> int:
        """A job: remind both people ``reminder_minutes`` before each session, once."""
        now = self._clock.now()
        horizon = now + timedelta(minutes=self.config.reminder_minutes)
        sent = 0
        async with self._db() as session:
            due = (
                await session.execute(
                    select(MentoringSession, Pair)
                    .join(Pair, Pair.id == MentoringSession.pair_id)
                    .where(
                        MentoringSession.reminded_at.is_(None),
                        MentoringSession.cancelled_at.is_(None),
                        MentoringSession.starts_at > now,
                        MentoringSession.starts_at <= horizon,
                        Pair.state == PairState.ACTIVE,
                    )
                )
            ).all()
        for meeting, pair in due:
            async with self._db() as session:
                claimed = await session.execute(
                    update(MentoringSession)
                    .where(
                        MentoringSession.id == meeting.id, MentoringSession.reminded_at.is_(None)
                    )
                    .values(reminded_at=now)
                )
                await session.commit()
            if getattr(claimed, "rowcount", 0) != 1:
                continue  # another process reminded them
            minutes = max(0, round((meeting.starts_at - now).total_seconds() / 60))
            await self._broadcaster.to_users(
                (pair.mentor_id, pair.mentee_id),
                "mentoring:reminder",
                {
                    "session_id": meeting.id,
                    "pair_id": pair.id,
                    "room_id": pair.room_id,
                    "starts_at": meeting.starts_at.isoformat(),
                    "minutes_before": minutes,
                },
            )
            sent += 1
        return sent

    # -- notes and feedback -----------------------------------------------------------------

    async def notes(self, principal: Principal, session_id: int) -> dict[str, Any]:
        """The shared note (the pair) and the reader's own private note (the author only)."""
        async with self._db() as session:
            meeting, _ = await self._session_of_pair(session, principal, session_id)
            rows = (
                await session.scalars(
                    select(SessionNote).where(
                        SessionNote.session_id == meeting.id,
                        or_(
                            SessionNote.owner_id.is_(None),
                            SessionNote.owner_id == principal.user_id,
                        ),
                    )
                )
            ).all()
            shared = next((n for n in rows if n.owner_id is None), None)
            private = next((n for n in rows if n.owner_id == principal.user_id), None)
            return {
                "session_id": meeting.id,
                "shared": _note_doc(shared),
                "private": _note_doc(private),
            }

    async def write_note(
        self, principal: Principal, session_id: int, body: str, *, shared: bool
    ) -> dict[str, Any]:
        body = _text(body, MAX_NOTE, "body", empty_ok=True)
        now = self._clock.now()
        owner = None if shared else principal.user_id
        async with self._db() as session:
            meeting, pair = await self._session_of_pair(session, principal, session_id)
            query = select(SessionNote).where(SessionNote.session_id == meeting.id)
            query = query.where(
                SessionNote.owner_id.is_(None) if owner is None else SessionNote.owner_id == owner
            )
            note = await session.scalar(query)
            if note is None:
                note = SessionNote(session_id=meeting.id, owner_id=owner)
                session.add(note)
            note.body = body
            note.edited_by = principal.user_id
            note.updated_at = now
            await session.commit()
            doc = _note_doc(note)
        if shared:
            await self._changed(pair, "notes", session_id=meeting.id)
        return doc or {}

    async def give_feedback(
        self, principal: Principal, session_id: int, rating: int, text: str | None
    ) -> dict[str, Any]:
        if not 1 <= rating <= 5:
            raise invalid("rating: 1 to 5")
        body = _text(text or "", MAX_FEEDBACK, "text", empty_ok=True)
        now = self._clock.now()
        async with self._db() as session:
            meeting, pair = await self._session_of_pair(session, principal, session_id)
            if meeting.cancelled_at is not None or meeting.starts_at > now:
                raise conflict("feedback is given after a session has taken place")
            if await session.scalar(
                select(Feedback.id).where(
                    Feedback.session_id == meeting.id, Feedback.author_id == principal.user_id
                )
            ):
                raise conflict("you have already given feedback on this session")
            feedback = Feedback(
                session_id=meeting.id, author_id=principal.user_id, rating=rating, created_at=now
            )
            session.add(feedback)
            await session.flush()
            if body:
                session.add(FeedbackText(feedback_id=feedback.id, body=body))
            subject = await accounts.analytics_subject(session, principal.org_id, principal.user_id)
            await record(session, Metric.FEEDBACK_GIVEN, subject, at=now)
            await session.commit()
        await self._changed(pair, "feedback", session_id=meeting.id)
        return {"rating": rating, "text": body, "created_at": now.isoformat()}

    async def feedback(self, principal: Principal, session_id: int) -> dict[str, Any]:
        """The pair reads both sides' feedback. Nobody else learns anything of it here, not
        even who gave it: managers see ratings only in program health, over enough people."""
        async with self._db() as session:
            meeting, pair = await self._session_of_pair(session, principal, session_id)
            given = (
                await session.scalars(select(Feedback).where(Feedback.session_id == meeting.id))
            ).all()

            def side(f: Feedback) -> str:
                return "mentor" if f.author_id == pair.mentor_id else "mentee"

            texts = dict(
                (
                    await session.execute(
                        select(FeedbackText.feedback_id, FeedbackText.body).where(
                            FeedbackText.feedback_id.in_([f.id for f in given])
                        )
                    )
                ).all()
            )
            return {
                "given_by": sorted(side(f) for f in given),
                "feedback": [
                    {
                        "from": side(f),
                        "rating": f.rating,
                        "text": texts.get(f.id, ""),
                        "created_at": f.created_at.isoformat(),
                    }
                    for f in given
                ],
            }

    # -- program health ---------------------------------------------------------------------

    async def health(self, principal: Principal, program_id: int) -> dict[str, Any]:
        """Program health; each look is audited (and may publish a new rating snapshot, in
        the same transaction)."""
        self._require_manager(principal)
        async with self._db() as session:
            program = await self._program(session, principal, program_id)
            figures = await health.program_health(
                session, program.id, self._clock.now(), self.config.min_group_size
            )
            await self._looked(
                session,
                principal,
                AuditAction.PROGRAM_HEALTH_VIEWED,
                TargetKind.PROGRAM,
                program.id,
            )
            return figures


def _solve(
    mentors: Sequence[matching.Profile],
    mentees: Sequence[matching.Profile],
    weights: matching.Weights,
) -> tuple[matching.Assignment, matching.Assignment]:
    """The optimal assignment and, for comparison, the greedy one, from one score matrix."""
    scores = matching.score_matrix(mentors, mentees, weights)
    return (
        matching.optimal_assignment(mentors, mentees, weights, scores),
        matching.greedy_assignment(mentors, mentees, weights, scores),
    )


def _free_spot(width: int, height: int, taken: Sequence[Rect]) -> Rect | None:
    """The first grid cell of the floor that no room overlaps, row by row (the cells each
    room covers are marked once, so placing many pairs stays linear per pair)."""
    columns, rows = width // ROOM_W, height // ROOM_H
    covered: set[tuple[int, int]] = set()
    for t in taken:
        for row in range(t.y // ROOM_H, min(rows, (t.y + t.h - 1) // ROOM_H + 1)):
            for col in range(t.x // ROOM_W, min(columns, (t.x + t.w - 1) // ROOM_W + 1)):
                covered.add((row, col))
    for row in range(rows):
        for col in range(columns):
            if (row, col) not in covered:
                return Rect(col * ROOM_W, row * ROOM_H, ROOM_W, ROOM_H)
    return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _step_doc(step: ProgramStep) -> dict[str, Any]:
    return {
        "id": step.id,
        "title": step.title,
        "due_at": _iso(step.due_at),
        "published_at": _iso(step.published_at),
    }


def _enrolment_doc(e: Enrolment, *, profile: bool, for_program: bool = False) -> dict[str, Any]:
    """``for_program``: as managers see it — protected attributes only if the person opted in
    to their use in matching (the person always sees their own)."""
    doc: dict[str, Any] = {
        "id": e.id,
        "program_id": e.program_id,
        "user_id": e.user_id,
        "role": e.role.value,
        "state": e.state.value,
        "display_name": e.display_name,
        "invited_at": e.invited_at.isoformat(),
        "accepted_at": _iso(e.accepted_at),
    }
    if profile:
        doc["profile"] = {
            "skills": list(e.skills),
            "goals": list(e.goals),
            "interests": list(e.interests),
            "languages": list(e.languages),
            "timezone": e.timezone,
            "availability": list(e.availability),
            "capacity": e.capacity,
            "protected": dict(e.protected) if e.use_protected or not for_program else {},
            "use_protected": e.use_protected,
            "shown_to_mentees": list(e.shown_to_mentees) if e.role is EnrolmentRole.MENTOR else [],
        }
    return doc


def _pair_doc(pair: Pair, *, manager: bool) -> dict[str, Any]:
    """``score`` is for managers only: it is computed from both whole profiles, so a mentee
    who knows the program's weights could read a mentor's hidden profile parts out of it."""
    doc = {
        "id": pair.id,
        "program_id": pair.program_id,
        "mentor_enrolment_id": pair.mentor_enrolment_id,
        "mentee_enrolment_id": pair.mentee_enrolment_id,
        "mentor_id": pair.mentor_id,
        "mentee_id": pair.mentee_id,
        "state": pair.state.value,
        "mode": pair.mode.value,
        "score": pair.score,
        "matched_at": pair.matched_at.isoformat(),
        "ended_at": _iso(pair.ended_at),
        "room_id": pair.room_id,
    }
    if not manager:
        del doc["score"]
    return doc


def _item_doc(item: Goal | Milestone) -> dict[str, Any]:
    return {"id": item.id, "status": item.status.value, "done_at": _iso(item.done_at)}


def _session_doc(meeting: MentoringSession) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "cancelled": meeting.cancelled_at is not None,
        "met_seconds": round(meeting.met_seconds, 1),
    }


def _note_doc(note: SessionNote | None) -> dict[str, Any] | None:
    if note is None:
        return None
    return {"body": note.body, "updated_at": note.updated_at.isoformat()}
