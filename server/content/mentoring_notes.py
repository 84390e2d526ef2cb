"""The content store of mentoring: what a pair writes — agreement goals, goal and milestone
titles, session notes (shared and private) and feedback text.

Only the mentoring service (``pairs``, ``notes``, ``feedback``) reads it, after checking that the
reader is in the pair (or, for a private note, its author); the privacy part exports and erases
it. Analytics and program health never import it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import UTCDateTime

MAX_NOTE = 20_000
MAX_TITLE = 300
MAX_FEEDBACK = 4000


class AgreementText(Base):
    __tablename__ = "mentoring_agreement_texts"

    pair_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_pairs.id", ondelete="CASCADE"), primary_key=True
    )
    goals: Mapped[str] = mapped_column(Text)


class GoalText(Base):
    __tablename__ = "mentoring_goal_texts"

    goal_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_goals.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(Text)


class MilestoneText(Base):
    __tablename__ = "mentoring_milestone_texts"

    milestone_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_milestones.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(Text)


class SessionNote(Base):
    """One shared note per session (``owner_id`` NULL: the pair's) and one private note per
    author (``owner_id`` the author: nobody else reads it)."""

    __tablename__ = "mentoring_session_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_sessions.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    edited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FeedbackText(Base):
    __tablename__ = "mentoring_feedback_texts"

    feedback_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_feedback.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text)


__all__ = [
    "MAX_FEEDBACK",
    "MAX_NOTE",
    "MAX_TITLE",
    "AgreementText",
    "FeedbackText",
    "GoalText",
    "MilestoneText",
    "SessionNote",
]
