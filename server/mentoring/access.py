"""Who may do what in mentoring, and the loaders every mentoring service reads through.

Guests take no part; program managers (and organization admins) run programs; a pair's things
are for the pair. A loader refuses what is not in the principal's organization (``not_found``)
before any rule is checked, and ``looked`` audits a manager's read of people's metadata.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.infra.clock import Clock
from server.infra.errors import conflict, forbidden, not_found
from server.mentoring.tables import Enrolment, MentoringSession, Pair, PairState, Program
from server.people.identity import Principal, Role


def is_manager(principal: Principal) -> bool:
    return not principal.is_guest and (
        principal.has_role(Role.ORG_ADMIN) or principal.has_role(Role.PROGRAM_MANAGER)
    )


def require_manager(principal: Principal) -> None:
    if not is_manager(principal):
        raise forbidden("only program managers and organization admins run programs")


def no_guests(principal: Principal) -> None:
    if principal.is_guest:
        raise forbidden("guests take no part in mentoring programs")


async def looked(
    session: AsyncSession,
    clock: Clock,
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
        at=clock.now(),
        target_kind=kind,
        target_id=target_id,
        detail=detail,
    )
    await session.commit()


async def program(session: AsyncSession, principal: Principal, pid: int) -> Program:
    found = await session.get(Program, pid)
    if found is None or found.org_id != principal.org_id:
        raise not_found("no such program")
    return found


async def enrolment(
    session: AsyncSession, principal: Principal, enrolment_id: int
) -> tuple[Enrolment, Program]:
    found = await session.get(Enrolment, enrolment_id)
    if found is None:
        raise not_found("no such enrolment")
    return found, await program(session, principal, found.program_id)


async def pair(
    session: AsyncSession, principal: Principal, pair_id: int, *, member: bool = True
) -> tuple[Pair, Program]:
    """The pair; with ``member``, only its mentor and mentee get it (others: forbidden)."""
    no_guests(principal)
    found = await session.get(Pair, pair_id)
    if found is None:
        raise not_found("no such pair")
    its_program = await program(session, principal, found.program_id)
    if member and principal.user_id not in (found.mentor_id, found.mentee_id):
        raise forbidden("only the pair sees this")
    return found, its_program


async def active_pair(session: AsyncSession, principal: Principal, pair_id: int) -> Pair:
    """The pair, for one of its members, while it lasts (an ended pair: conflict)."""
    found, _ = await pair(session, principal, pair_id)
    if found.state is not PairState.ACTIVE:
        raise conflict("this pair has ended")
    return found


async def session_of_pair(
    session: AsyncSession, principal: Principal, session_id: int
) -> tuple[MentoringSession, Pair]:
    """A scheduled session, for a member of its pair."""
    meeting = await session.get(MentoringSession, session_id)
    if meeting is None:
        raise not_found("no such session")
    found, _ = await pair(session, principal, meeting.pair_id)
    return meeting, found
