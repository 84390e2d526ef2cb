"""A pair's own work: what they agreed, their goals and milestones, and the pair as each reader
sees it.

The pair sees everything of theirs; a manager sees a pair's metadata (who, how and when, its
sessions' times, goal counts), never the agreement or a title: those are in the content store.
Every change is told to the pair by id only (``pair_changed``); the client fetches the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Metric
from server.analytics.record import record
from server.content.mentoring_notes import (
    MAX_NOTE,
    MAX_TITLE,
    AgreementText,
    GoalText,
    MilestoneText,
)
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import forbidden, not_found
from server.mentoring import access, inputs
from server.mentoring.replies import iso, item_doc, pair_doc, session_doc
from server.mentoring.tables import (
    Cadence,
    Enrolment,
    Goal,
    ItemStatus,
    MentoringSession,
    Milestone,
    Pair,
    Program,
)
from server.people import accounts
from server.people.identity import Principal


async def pair_changed(broadcaster: Broadcaster, pair: Pair, what: str, **ids: int) -> None:
    """Tell the pair something changed (ids only: the client fetches what it may see)."""
    await broadcaster.to_users(
        (pair.mentor_id, pair.mentee_id),
        "mentoring:pair_changed",
        {"pair_id": pair.id, "what": what, **ids},
    )


class Pairs:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, broadcaster: Broadcaster
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster

    async def my_pairs(self, principal: Principal) -> list[dict[str, Any]]:
        access.no_guests(principal)
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
            manager = access.is_manager(principal)
            return [pair_doc(p, manager=manager) for p in pairs]

    async def program_pairs(self, principal: Principal, program_id: int) -> list[dict[str, Any]]:
        """For managers: who is paired with whom, how and when — no content."""
        access.require_manager(principal)
        async with self._db() as session:
            program = await access.program(session, principal, program_id)
            pairs = (
                await session.scalars(
                    select(Pair).where(Pair.program_id == program.id).order_by(Pair.id)
                )
            ).all()
            return [pair_doc(p, manager=True) for p in pairs]

    async def get_pair(self, principal: Principal, pair_id: int) -> dict[str, Any]:
        """The pair sees everything of theirs; a manager sees the pair's metadata only."""
        async with self._db() as session:
            pair, _ = await access.pair(session, principal, pair_id, member=False)
            is_member = principal.user_id in (pair.mentor_id, pair.mentee_id)
            if not is_member and not access.is_manager(principal):
                raise forbidden("only the pair sees this")
            doc = pair_doc(pair, manager=access.is_manager(principal))
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
            doc["sessions"] = [session_doc(m) for m in meetings]
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
                "agreed_at": iso(pair.agreed_at),
            }
            doc["goals"] = [
                {
                    **item_doc(g),
                    "title": goal_titles.get(g.id, ""),
                    "milestones": [
                        {
                            **item_doc(m),
                            "title": milestone_titles.get(m.id, ""),
                            "due_on": iso(m.due_on),
                        }
                        for m in milestones
                        if m.goal_id == g.id
                    ],
                }
                for g in goals
            ]
            return doc

    async def set_agreement(
        self, principal: Principal, pair_id: int, goals: str, cadence: Cadence
    ) -> dict[str, Any]:
        text = inputs.text(goals, MAX_NOTE, "goals", empty_ok=True)
        async with self._db() as session:
            pair = await access.active_pair(session, principal, pair_id)
            agreement = await session.get(AgreementText, pair.id)
            if agreement is None:
                session.add(AgreementText(pair_id=pair.id, goals=text))
            else:
                agreement.goals = text
            pair.cadence = cadence
            pair.agreed_at = self._clock.now()
            await session.commit()
        await pair_changed(self._broadcaster, pair, "agreement")
        return {"goals": text, "cadence": cadence.value, "agreed_at": iso(pair.agreed_at)}

    async def add_goal(self, principal: Principal, pair_id: int, title: str) -> dict[str, Any]:
        title = inputs.text(title, MAX_TITLE, "title")
        async with self._db() as session:
            pair = await access.active_pair(session, principal, pair_id)
            goal = Goal(pair_id=pair.id, status=ItemStatus.OPEN, created_at=self._clock.now())
            session.add(goal)
            await session.flush()
            session.add(GoalText(goal_id=goal.id, title=title))
            await session.commit()
            doc = {**item_doc(goal), "title": title, "milestones": []}
        await pair_changed(self._broadcaster, pair, "goal", goal_id=goal.id)
        return doc

    async def _goal(
        self, session: AsyncSession, principal: Principal, goal_id: int
    ) -> tuple[Goal, Pair]:
        goal = await session.get(Goal, goal_id)
        if goal is None:
            raise not_found("no such goal")
        return goal, await access.active_pair(session, principal, goal.pair_id)

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
                text.title = inputs.text(title, MAX_TITLE, "title")
            if status is not None and status is not goal.status:
                goal.status = status
                goal.done_at = now if status is ItemStatus.DONE else None
                if status is ItemStatus.DONE:
                    subject = await accounts.analytics_subject(
                        session, principal.org_id, pair.mentee_id
                    )
                    await record(session, Metric.GOAL_COMPLETED, subject, at=now)
            await session.commit()
            doc = item_doc(goal)
        await pair_changed(self._broadcaster, pair, "goal", goal_id=goal.id)
        return doc

    async def add_milestone(
        self, principal: Principal, goal_id: int, title: str, due_on: datetime | None
    ) -> dict[str, Any]:
        title = inputs.text(title, MAX_TITLE, "title")
        async with self._db() as session:
            goal, pair = await self._goal(session, principal, goal_id)
            milestone = Milestone(goal_id=goal.id, status=ItemStatus.OPEN, due_on=due_on)
            session.add(milestone)
            await session.flush()
            session.add(MilestoneText(milestone_id=milestone.id, title=title))
            await session.commit()
            doc = {**item_doc(milestone), "title": title, "due_on": iso(due_on)}
        await pair_changed(
            self._broadcaster, pair, "milestone", goal_id=goal.id, milestone_id=milestone.id
        )
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
            doc = item_doc(milestone)
        await pair_changed(
            self._broadcaster, pair, "milestone", goal_id=goal.id, milestone_id=milestone.id
        )
        return doc
