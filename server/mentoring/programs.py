"""Mentoring programs as their managers run them: creating one, its matching weights, its
published steps, and its health.

Program managers (and organization admins) run programs; members see only the programs they
are invited to or in, and only the steps already published.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import conflict, forbidden, invalid, not_found
from server.mentoring import access, health, matching
from server.mentoring.replies import enrolment_doc, step_doc
from server.mentoring.tables import Enrolment, EnrolmentState, Program, ProgramStep
from server.people import accounts
from server.people.identity import Principal

log = logging.getLogger("officehours.mentoring")


class Programs:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        broadcaster: Broadcaster,
        *,
        min_group_size: int,
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self.min_group_size = min_group_size  # of raters, before health shows a rating

    async def create_program(
        self,
        principal: Principal,
        name: str,
        weights: dict[str, float] | None = None,
        suggestions_shown: int = 3,
    ) -> dict[str, Any]:
        access.require_manager(principal)
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
        access.require_manager(principal)
        now = self._clock.now()
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
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
        access.no_guests(principal)
        async with self._db() as session:
            query = select(Program).where(Program.org_id == principal.org_id)
            if not access.is_manager(principal):
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
        access.no_guests(principal)
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
            if not access.is_manager(principal):
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
        if not access.is_manager(principal):
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
            "steps": [step_doc(s) for s in steps],
            "my_enrolments": [enrolment_doc(e, profile=True) for e in mine],
            "may_manage": access.is_manager(principal),
        }

    async def add_step(
        self, principal: Principal, program_id: int, title: str, due_at: datetime | None
    ) -> dict[str, Any]:
        access.require_manager(principal)
        title = accounts.clean_display_name(title)
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
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
            return step_doc(step)

    async def publish_step(self, principal: Principal, step_id: int) -> dict[str, Any]:
        access.require_manager(principal)
        now = self._clock.now()
        async with self._db() as session:
            step = await session.get(ProgramStep, step_id)
            if step is None:
                raise not_found("no such step")
            program = await access.program(session, principal, step.program_id)
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
            doc = step_doc(step)
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

    async def health(self, principal: Principal, program_id: int) -> dict[str, Any]:
        """Program health; each look is audited (and may publish a new rating snapshot, in
        the same transaction)."""
        access.require_manager(principal)
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
            figures = await health.program_health(
                session, program.id, self._clock.now(), self.min_group_size
            )
            await access.looked(
                session,
                self._clock,
                principal,
                AuditAction.PROGRAM_HEALTH_VIEWED,
                TargetKind.PROGRAM,
                program.id,
            )
            return figures
