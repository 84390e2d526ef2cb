"""Who is in a program, by consent: invitations, answers, profiles, withdrawal and removal.

A person's profile reaches the program only once they accept; until then (and always) only
they edit it. Managers see everyone invited, profiles only of those who accepted, and each such
look is audited. Leaving a program ends the person's active pairs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.db.models import User
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import conflict, forbidden, invalid
from server.mentoring import access, inputs, matching
from server.mentoring.pairing import Pairing, pair_loads
from server.mentoring.replies import enrolment_doc
from server.mentoring.tables import (
    SHOWABLE,
    Enrolment,
    EnrolmentRole,
    EnrolmentState,
    Pair,
    PairState,
    Program,
)
from server.people import accounts
from server.people.identity import Principal, UserStatus

log = logging.getLogger("officehours.mentoring")

PROTECTED_ATTRIBUTES = frozenset({"gender"})


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


class Enrolments:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        broadcaster: Broadcaster,
        pairing: Pairing,
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._pairing = pairing

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
        access.require_manager(principal)
        now = self._clock.now()
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
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
            doc = enrolment_doc(enrolment, profile=False)
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
        access.no_guests(principal)
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
            return [{**enrolment_doc(e, profile=True), "program_name": name} for e, name in rows]

    async def respond(
        self, principal: Principal, enrolment_id: int, accept: bool
    ) -> dict[str, Any]:
        """The invited person accepts (their profile is shared from now on) or declines."""
        access.no_guests(principal)
        now = self._clock.now()
        async with self._db() as session:
            enrolment, _ = await access.enrolment(session, principal, enrolment_id)
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
            return enrolment_doc(enrolment, profile=True)

    async def update_profile(
        self, principal: Principal, enrolment_id: int, changes: ProfileChanges
    ) -> dict[str, Any]:
        """Only the person edits their profile (also before accepting: it stays private)."""
        access.no_guests(principal)
        async with self._db() as session:
            enrolment, _ = await access.enrolment(session, principal, enrolment_id)
            if enrolment.user_id != principal.user_id:
                raise forbidden("only the person edits their profile")
            if enrolment.state not in (EnrolmentState.INVITED, EnrolmentState.ACTIVE):
                raise conflict("this enrolment has ended")
            if changes.skills is not None:
                enrolment.skills = inputs.tags(changes.skills, "skills")
            if changes.goals is not None:
                enrolment.goals = inputs.tags(changes.goals, "goals")
            if changes.interests is not None:
                enrolment.interests = inputs.tags(changes.interests, "interests")
            if changes.languages is not None:
                enrolment.languages = [
                    t.title() for t in inputs.tags(changes.languages, "languages")
                ]
            if changes.timezone is not None:
                enrolment.timezone = inputs.check_timezone(changes.timezone)
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
            return enrolment_doc(enrolment, profile=True)

    async def remove_enrolment(self, principal: Principal, enrolment_id: int) -> None:
        """A manager removes someone, or a person withdraws; their active pairs end."""
        access.no_guests(principal)
        now = self._clock.now()
        async with self._db() as session:
            enrolment, program = await access.enrolment(session, principal, enrolment_id)
            own = enrolment.user_id == principal.user_id
            if not own and not access.is_manager(principal):
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
                await self._pairing.end_pair(session, principal, pair, now)
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
            await self._pairing.after_pair_ended(principal.org_id, pair)

    async def program_enrolments(
        self, principal: Principal, program_id: int
    ) -> list[dict[str, Any]]:
        """For managers: everyone invited; profiles only of those who accepted."""
        access.require_manager(principal)
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
            enrolments = (
                await session.scalars(
                    select(Enrolment)
                    .where(Enrolment.program_id == program.id)
                    .order_by(Enrolment.id)
                )
            ).all()
            loads = await pair_loads(session, program.id)
            docs = [
                {
                    **enrolment_doc(e, profile=e.state is EnrolmentState.ACTIVE, for_program=True),
                    "active_pairs": loads.get(e.id, 0),
                }
                for e in enrolments
            ]
            await access.looked(
                session,
                self._clock,
                principal,
                AuditAction.ENROLMENTS_VIEWED,
                TargetKind.PROGRAM,
                program.id,
                {"profiles": sum(1 for d in docs if "profile" in d)},
            )
            return docs
