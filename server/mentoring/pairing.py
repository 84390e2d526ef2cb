"""Making and ending pairs: ranked suggestions, a manager's match, a mentee's pick, the
whole-program assignment, and unmatching.

Scores and reasons come from the pure ``matching`` module; here are who is in the pool (only
people who accepted, mentors within their remaining capacity), who may pair whom, and each new
pair made with its room, audit entry and analytics event in the caller's transaction.
"""

from __future__ import annotations

import asyncio
import zoneinfo
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import Rect
from server.analytics.metrics import Metric
from server.analytics.record import record
from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import conflict, forbidden, invalid, not_found
from server.mentoring import access, matching
from server.mentoring.pair_rooms import PairRooms
from server.mentoring.replies import pair_doc
from server.mentoring.tables import (
    Enrolment,
    EnrolmentRole,
    EnrolmentState,
    MatchMode,
    Pair,
    PairState,
    Program,
)
from server.office.service import Office
from server.people import accounts
from server.people.identity import Principal


async def pair_loads(session: AsyncSession, program_id: int) -> dict[int, int]:
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


class Pairing:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        broadcaster: Broadcaster,
        office: Office,
        rooms: PairRooms,
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._office = office
        self._rooms = rooms

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
        return mentors, mentees, await pair_loads(session, program_id)

    async def suggestions(
        self, principal: Principal, program_id: int, mentee_enrolment_id: int
    ) -> dict[str, Any]:
        """Mentors ranked for one mentee, with the score's parts and reasons. Managers see the
        top ten; the mentee sees the program's ``suggestions_shown``."""
        access.no_guests(principal)
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
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
            elif access.is_manager(principal):
                ranked = await self._ranked(session, program, mentee, 10)
                await access.looked(
                    session,
                    self._clock,
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
        access.require_manager(principal)
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
            pair = await self._make_pair(
                session,
                principal,
                program,
                mentor_enrolment_id,
                mentee_enrolment_id,
                MatchMode.MANAGER,
            )
            await session.commit()
            doc = pair_doc(pair, manager=True)
        await self._after_pair_made(principal.org_id, pair)
        return doc

    async def pick(
        self, principal: Principal, program_id: int, mentor_enrolment_id: int
    ) -> dict[str, Any]:
        """A mentee chooses a mentor among their top suggestions."""
        access.no_guests(principal)
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
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
            doc = pair_doc(pair, manager=False)
        await self._after_pair_made(principal.org_id, pair)
        return doc

    async def assign(self, principal: Principal, program_id: int, apply: bool) -> dict[str, Any]:
        """The whole-program assignment: every unmatched mentee, every mentor's remaining
        capacity, maximising the total score. Shows the greedy total beside it; with
        ``apply`` the pairs are made."""
        access.require_manager(principal)
        now = self._clock.now()
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
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
                current = await pair_loads(session, program.id)
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
                await access.looked(
                    session,
                    self._clock,
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
            loads = await pair_loads(session, program.id)
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
        pair.room_id = await self._rooms.open_room(session, program.org_id, pair, placed)
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

    async def _after_pair_made(self, org_id: int, pair: Pair, *, layout: bool = True) -> None:
        if layout:
            await self._office.layout_changed(org_id)
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id),
            "mentoring:matched",
            {"pair_id": pair.id, "program_id": pair.program_id, "room_id": pair.room_id},
        )

    async def unmatch(self, principal: Principal, pair_id: int) -> None:
        access.require_manager(principal)
        async with self._db() as session:
            pair, _ = await access.pair(session, principal, pair_id, member=False)
            if pair.state is not PairState.ACTIVE:
                raise conflict("this pair has already ended")
            await self.end_pair(session, principal, pair, self._clock.now())
            await session.commit()
        await self.after_pair_ended(principal.org_id, pair)

    async def end_pair(
        self, session: AsyncSession, principal: Principal, pair: Pair, now: datetime
    ) -> None:
        """End an active pair in the caller's transaction (unmatched, or one of them left the
        program); after the commit, ``after_pair_ended`` tells the office and the pair."""
        pair.state = PairState.ENDED
        pair.ended_at = now
        if pair.room_id is not None:
            await self._rooms.close_room(session, principal.org_id, pair.room_id)
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

    async def after_pair_ended(self, org_id: int, pair: Pair) -> None:
        await self._office.layout_changed(org_id)
        await self._broadcaster.to_users(
            (pair.mentor_id, pair.mentee_id),
            "mentoring:unmatched",
            {"pair_id": pair.id, "program_id": pair.program_id},
        )


def _offset_minutes(name: str, now: datetime) -> int:
    offset = now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


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
