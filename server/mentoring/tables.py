"""Mentoring tables: programs, enrolments with profiles, pairs, goals, sessions, feedback.

No free text written by the pair lives here (goal titles, notes, feedback text are in
``server.content.mentoring_notes``); profiles hold short tags chosen by the person, and are
shown to the program only once the person has accepted the invitation.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import UTCDateTime, text_enum


class EnrolmentRole(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


class EnrolmentState(StrEnum):
    INVITED = "invited"  # nothing of the person's profile is shared yet
    ACTIVE = "active"  # accepted: the program sees the profile
    DECLINED = "declined"
    REMOVED = "removed"


class PairState(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class MatchMode(StrEnum):
    MANAGER = "manager"  # a program manager assigned the pair
    MENTEE_PICK = "mentee_pick"  # the mentee chose from their top suggestions
    OPTIMAL = "optimal"  # the whole-program assignment


class Cadence(StrEnum):
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"


class ItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


def _enum(cls: type[StrEnum], name: str) -> Any:
    return text_enum(cls, name=name, checked=False)


class Program(Base):
    __tablename__ = "mentoring_programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # How many suggestions a mentee sees (and may pick from).
    suggestions_shown: Mapped[int] = mapped_column(Integer, default=3)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProgramStep(Base):
    """A step of the program (kick-off, mid-point review…) announced to participants."""

    __tablename__ = "mentoring_program_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_programs.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(120))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# What a mentor's profile may tell the mentees they are suggested to (reasons and scores of
# a mentee's suggestions use nothing else). New enrolments show skills and languages — what a
# mentor offers — and nothing about goals, interests, times or protected attributes.
SHOWABLE = ("skills", "goals", "interests", "languages", "availability", "timezone", "protected")
SHOWN_BY_DEFAULT = ("skills", "languages")


def _shown_by_default() -> list[str]:
    return list(SHOWN_BY_DEFAULT)


class Enrolment(Base):
    __tablename__ = "mentoring_enrolments"
    __table_args__ = (UniqueConstraint("program_id", "user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_programs.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[EnrolmentRole] = mapped_column(_enum(EnrolmentRole, "enrolment_role"))
    state: Mapped[EnrolmentState] = mapped_column(_enum(EnrolmentState, "enrolment_state"))
    # How the program shows the person: may be initials only.
    display_name: Mapped[str] = mapped_column(String(80))
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The profile: short tags and numbers, written by the person.
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    goals: Mapped[list[str]] = mapped_column(JSON, default=list)
    interests: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    availability: Mapped[list[int]] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    protected: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    use_protected: Mapped[bool] = mapped_column(Boolean, default=False)
    # Which parts of the profile a mentor lets mentees' suggestions use (see SHOWABLE).
    shown_to_mentees: Mapped[list[str]] = mapped_column(JSON, default=_shown_by_default)


class Pair(Base):
    __tablename__ = "mentoring_pairs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_programs.id", ondelete="CASCADE"), index=True
    )
    mentor_enrolment_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_enrolments.id", ondelete="CASCADE"), index=True
    )
    mentee_enrolment_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_enrolments.id", ondelete="CASCADE"), index=True
    )
    mentor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    mentee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[PairState] = mapped_column(_enum(PairState, "pair_state"))
    mode: Mapped[MatchMode] = mapped_column(_enum(MatchMode, "match_mode"))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    matched_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="SET NULL"))
    cadence: Mapped[Cadence | None] = mapped_column(_enum(Cadence, "pair_cadence"))
    agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Goal(Base):
    __tablename__ = "mentoring_goals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_pairs.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[ItemStatus] = mapped_column(_enum(ItemStatus, "goal_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Milestone(Base):
    __tablename__ = "mentoring_milestones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    goal_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_goals.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[ItemStatus] = mapped_column(_enum(ItemStatus, "milestone_status"))
    due_on: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MentoringSession(Base):
    """A scheduled meeting of a pair. Its real length (``met_seconds``) is the time both were
    present in the media session, accumulated from join/leave, never typed in."""

    __tablename__ = "mentoring_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_pairs.id", ondelete="CASCADE"), index=True
    )
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # iCalendar SEQUENCE
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mentor_present: Mapped[bool] = mapped_column(Boolean, default=False)
    mentee_present: Mapped[bool] = mapped_column(Boolean, default=False)
    together_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    met_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    first_met_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Feedback(Base):
    __tablename__ = "mentoring_feedback"
    __table_args__ = (UniqueConstraint("session_id", "author_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_sessions.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rating: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RatingSnapshot(Base):
    """The rating figure a program last published. A new one is published only once at least
    the minimum group size of new raters have rated in closed weeks since, so two readings
    never differ by one person's rating."""

    __tablename__ = "mentoring_rating_snapshots"

    program_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_programs.id", ondelete="CASCADE"), primary_key=True
    )
    raters: Mapped[int] = mapped_column(Integer)
    average: Mapped[float] = mapped_column(Float)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())  # feedback before this counted
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CalendarFeed(Base):
    """A person's calendar feed URL: a random token, stored only as a keyed hash."""

    __tablename__ = "mentoring_calendar_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
