"""Mentoring's data part: enrolments with profiles, pairs, goals, sessions, notes, feedback
and calendar feeds.

A person's export holds what the pair's pages show them (the other person by display name
only, never their private notes). An organization's export holds ids, counts and times:
admins do not read profiles, notes, goals or feedback. Erasure scrubs the profile, deletes
private notes and the calendar feed, ends the person's pairs and treats what they wrote where
the other person reads it (shared notes, the agreement, goals, feedback text) by the
organization's policy, like chat.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.actions import TargetKind
from server.content.mentoring_notes import (
    AgreementText,
    FeedbackText,
    GoalText,
    MilestoneText,
    SessionNote,
)
from server.db.models import RoomOwner, User
from server.mentoring.tables import (
    CalendarFeed,
    Enrolment,
    EnrolmentState,
    Feedback,
    Goal,
    ItemStatus,
    MentoringSession,
    Milestone,
    Pair,
    PairState,
    Program,
)
from server.privacy.erasure import ANONYMOUS
from server.privacy.parts import AuditTargets, ErasurePolicy, Exported, row
from server.privacy.tables import ErasedContent

ENROLMENT_FIELDS = ("id", "program_id", "role", "state", "invited_at", "accepted_at")
PROFILE_FIELDS = (
    "display_name",
    "skills",
    "goals",
    "interests",
    "languages",
    "timezone",
    "availability",
    "capacity",
    "protected",
    "use_protected",
    "shown_to_mentees",
)
PAIR_FIELDS = ("id", "program_id", "state", "mode", "matched_at", "ended_at")
SESSION_FIELDS = (
    "id",
    "pair_id",
    "starts_at",
    "ends_at",
    "cancelled_at",
    "met_seconds",
    "first_met_at",
)


def _changed(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class MentoringPart:
    """See the module docstring. Feedback keeps its ``author_id`` after erasure: the pair
    row keeps both people's ids anyway (a pair is two enrolments), so the id would unlink
    nothing, and the other person still reads which side wrote what — from an account that
    is now "Anonymous user" with no name or email."""

    name = "mentoring"

    async def _pairs_of(self, session: AsyncSession, user_id: int) -> list[Pair]:
        return list(
            (
                await session.scalars(
                    select(Pair)
                    .where(or_(Pair.mentor_id == user_id, Pair.mentee_id == user_id))
                    .order_by(Pair.id)
                )
            ).all()
        )

    async def audit_targets(self, session: AsyncSession, user: User) -> AuditTargets:
        """The person's enrolments and pairs, and their pairs' sessions and goals."""
        enrolment_ids = (
            await session.scalars(select(Enrolment.id).where(Enrolment.user_id == user.id))
        ).all()
        pair_ids = [p.id for p in await self._pairs_of(session, user.id)]
        session_ids = (
            await session.scalars(
                select(MentoringSession.id).where(MentoringSession.pair_id.in_(pair_ids))
            )
        ).all()
        goal_ids = (await session.scalars(select(Goal.id).where(Goal.pair_id.in_(pair_ids)))).all()
        return [
            (TargetKind.ENROLMENT, list(enrolment_ids)),
            (TargetKind.PAIR, pair_ids),
            (TargetKind.SESSION, list(session_ids)),
            (TargetKind.GOAL, list(goal_ids)),
        ]

    async def export(self, session: AsyncSession, user: User) -> Exported:
        enrolments = (
            await session.scalars(
                select(Enrolment).where(Enrolment.user_id == user.id).order_by(Enrolment.id)
            )
        ).all()
        pairs = await self._pairs_of(session, user.id)
        pair_ids = [p.id for p in pairs]
        other_ids = [
            p.mentee_enrolment_id if p.mentor_id == user.id else p.mentor_enrolment_id
            for p in pairs
        ]
        names = dict(
            (
                await session.execute(
                    select(Enrolment.id, Enrolment.display_name).where(Enrolment.id.in_(other_ids))
                )
            ).all()
        )
        agreements = dict(
            (
                await session.execute(
                    select(AgreementText.pair_id, AgreementText.goals).where(
                        AgreementText.pair_id.in_(pair_ids)
                    )
                )
            ).all()
        )
        goals = (
            await session.execute(
                select(Goal, GoalText.title)
                .outerjoin(GoalText, GoalText.goal_id == Goal.id)
                .where(Goal.pair_id.in_(pair_ids))
                .order_by(Goal.id)
            )
        ).all()
        milestones = (
            await session.execute(
                select(Milestone, MilestoneText.title)
                .outerjoin(MilestoneText, MilestoneText.milestone_id == Milestone.id)
                .where(Milestone.goal_id.in_([g.id for g, _ in goals]))
                .order_by(Milestone.id)
            )
        ).all()
        meetings = (
            await session.scalars(
                select(MentoringSession)
                .where(MentoringSession.pair_id.in_(pair_ids))
                .order_by(MentoringSession.starts_at, MentoringSession.id)
            )
        ).all()
        session_ids = [m.id for m in meetings]
        # The shared note of each session, and only the person's own private notes.
        notes = (
            await session.scalars(
                select(SessionNote)
                .where(
                    SessionNote.session_id.in_(session_ids),
                    or_(SessionNote.owner_id.is_(None), SessionNote.owner_id == user.id),
                )
                .order_by(SessionNote.session_id, SessionNote.id)
            )
        ).all()
        feedback = (
            await session.execute(
                select(Feedback, FeedbackText.body)
                .outerjoin(FeedbackText, FeedbackText.feedback_id == Feedback.id)
                .where(Feedback.session_id.in_(session_ids))
                .order_by(Feedback.id)
            )
        ).all()
        pair_of_session = {m.id: m.pair_id for m in meetings}
        by_id = {p.id: p for p in pairs}

        def side(author_id: int | None, pair: Pair) -> str:
            if author_id == user.id:
                return "you"
            return "mentor" if author_id == pair.mentor_id else "mentee"

        feed = await session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))
        return {
            "enrolments": [row(e, *ENROLMENT_FIELDS, *PROFILE_FIELDS) for e in enrolments],
            "pairs": [
                {
                    **row(p, *PAIR_FIELDS, "cadence", "agreed_at"),
                    "your_role": "mentor" if p.mentor_id == user.id else "mentee",
                    "other_person": names.get(other),
                    "agreement": agreements.get(p.id, ""),
                }
                for p, other in zip(pairs, other_ids, strict=True)
            ],
            "goals": [
                {**row(g, "id", "pair_id", "status", "created_at", "done_at"), "title": t or ""}
                for g, t in goals
            ],
            "milestones": [
                {**row(m, "id", "goal_id", "status", "due_on", "done_at"), "title": t or ""}
                for m, t in milestones
            ],
            "sessions": [row(m, *SESSION_FIELDS) for m in meetings],
            "shared_notes": [
                {
                    **row(n, "session_id", "body", "updated_at"),
                    "last_edited_by_you": n.edited_by == user.id,
                }
                for n in notes
                if n.owner_id is None
            ],
            "private_notes": [
                row(n, "session_id", "body", "updated_at") for n in notes if n.owner_id == user.id
            ],
            "feedback": [
                {
                    **row(f, "session_id", "rating", "created_at"),
                    "from": side(f.author_id, by_id[pair_of_session[f.session_id]]),
                    "text": text or "",
                }
                for f, text in feedback
            ],
            # That a feed exists and since when; its secret URL is never kept in clear.
            "calendar_feed": [row(feed, "created_at")] if feed is not None else [],
        }

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        programs = (
            await session.scalars(
                select(Program).where(Program.org_id == org_id).order_by(Program.id)
            )
        ).all()
        program_ids = [p.id for p in programs]
        enrolments = await session.scalars(
            select(Enrolment).where(Enrolment.program_id.in_(program_ids)).order_by(Enrolment.id)
        )
        pairs = (
            await session.scalars(
                select(Pair).where(Pair.program_id.in_(program_ids)).order_by(Pair.id)
            )
        ).all()
        pair_ids = [p.id for p in pairs]
        goals = Counter(
            (pair_id, status)
            for pair_id, status in await session.execute(
                select(Goal.pair_id, Goal.status).where(Goal.pair_id.in_(pair_ids))
            )
        )
        meetings = (
            await session.scalars(
                select(MentoringSession)
                .where(MentoringSession.pair_id.in_(pair_ids))
                .order_by(MentoringSession.id)
            )
        ).all()
        return {
            "programs": [row(p, "id", "name", "created_at") for p in programs],
            # No profiles and no display names chosen for the program: those are the
            # person's, shared with the program's matching only.
            "enrolments": [row(e, "user_id", *ENROLMENT_FIELDS) for e in enrolments],
            "pairs": [
                {
                    **row(p, *PAIR_FIELDS, "mentor_id", "mentee_id"),
                    "goals_open": goals[(p.id, ItemStatus.OPEN)],
                    "goals_done": goals[(p.id, ItemStatus.DONE)],
                }
                for p in pairs
            ],
            "sessions": [
                {
                    **row(m, "id", "pair_id", "starts_at", "ends_at", "cancelled_at"),
                    # Not whether anyone gave feedback: even that is the pair's.
                    "met_seconds": round(m.met_seconds, 1),
                }
                for m in meetings
            ],
        }

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        changed = 0
        pairs = await self._pairs_of(session, user.id)
        pair_ids = [p.id for p in pairs]
        statements: list[Any] = [
            # The profile and the name the program knew them by; never matched again.
            update(Enrolment)
            .where(
                Enrolment.user_id == user.id,
                or_(
                    Enrolment.display_name != ANONYMOUS,
                    Enrolment.state.in_([EnrolmentState.INVITED, EnrolmentState.ACTIVE]),
                ),
            )
            .values(
                display_name=ANONYMOUS,
                state=EnrolmentState.REMOVED,
                skills=[],
                goals=[],
                interests=[],
                languages=[],
                timezone="UTC",
                availability=[],
                capacity=0,
                protected={},
                use_protected=False,
            ),
            delete(SessionNote).where(SessionNote.owner_id == user.id),
            delete(CalendarFeed).where(CalendarFeed.user_id == user.id),
            # What they did as a program manager stays, by nobody.
            update(Program).where(Program.created_by == user.id).values(created_by=None),
            update(Enrolment).where(Enrolment.invited_by == user.id).values(invited_by=None),
            update(Pair).where(Pair.matched_by == user.id).values(matched_by=None),
        ]
        ending = [p for p in pairs if p.state is PairState.ACTIVE]
        if ending:
            statements.append(
                update(Pair)
                .where(Pair.id.in_([p.id for p in ending]))
                .values(state=PairState.ENDED, ended_at=policy.now)
            )
            rooms = [p.room_id for p in ending if p.room_id is not None]
            # As when a pair ends: nobody may enter its room any more.
            statements.append(delete(RoomOwner).where(RoomOwner.room_id.in_(rooms)))
        if policy.content is ErasedContent.DELETE:
            # Goals and the agreement record no author: both of the pair may have written
            # them, so the delete policy removes the texts (statuses and dates stay).
            goal_ids = select(Goal.id).where(Goal.pair_id.in_(pair_ids))
            statements += [
                delete(FeedbackText).where(
                    FeedbackText.feedback_id.in_(
                        select(Feedback.id).where(Feedback.author_id == user.id)
                    )
                ),
                delete(SessionNote).where(
                    SessionNote.owner_id.is_(None), SessionNote.edited_by == user.id
                ),
                delete(AgreementText).where(AgreementText.pair_id.in_(pair_ids)),
                delete(GoalText).where(GoalText.goal_id.in_(goal_ids)),
                delete(MilestoneText).where(
                    MilestoneText.milestone_id.in_(
                        select(Milestone.id).where(Milestone.goal_id.in_(goal_ids))
                    )
                ),
            ]
        else:
            statements.append(
                update(SessionNote).where(SessionNote.edited_by == user.id).values(edited_by=None)
            )
        for statement in statements:
            changed += _changed(await session.execute(statement))
        return changed
