"""The mentoring service: one object that builds every part of mentoring over the same
database, clock, broadcaster and office, and holds each part as an attribute.

Every state change is one method that checks who may do it (``access``), writes (with its
audit entry and analytics event) in one transaction, commits, and only then notifies people
through the ``Broadcaster``. Program managers (and org admins) see profiles only of people who
accepted, and never see what a pair wrote: notes, goals and feedback text are for the pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.mentoring.attendance import Attendance
from server.mentoring.enrolments import Enrolments
from server.mentoring.feedback import SessionFeedback
from server.mentoring.notes import Notes
from server.mentoring.pair_rooms import PairRooms
from server.mentoring.pairing import Pairing
from server.mentoring.pairs import Pairs
from server.mentoring.programs import Programs
from server.mentoring.sessions import Sessions
from server.office.service import Office


@dataclass(frozen=True)
class MentoringConfig:
    reminder_minutes: int = 15
    min_group_size: int = 5


class Mentoring:
    """``programs`` (programs, steps, health), ``enrolments`` (invitations, consent,
    profiles), ``pairing`` (suggestions, match, pick, assign, unmatch), ``rooms`` (pairs'
    rooms), ``pairs`` (agreement, goals, milestones), ``sessions`` (scheduling, reminders,
    calendars), ``attendance`` (time met, from the media relay), ``notes``, ``feedback``."""

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
        config = config or MentoringConfig()
        self.programs = Programs(db, clock, broadcaster, min_group_size=config.min_group_size)
        self.rooms = PairRooms(db, office)
        self.pairing = Pairing(db, clock, broadcaster, office, self.rooms)
        self.enrolments = Enrolments(db, clock, broadcaster, self.pairing)
        self.pairs = Pairs(db, clock, broadcaster)
        self.sessions = Sessions(
            db,
            clock,
            broadcaster,
            secret_key=secret_key,
            base_url=base_url,
            reminder_minutes=config.reminder_minutes,
        )
        self.attendance = Attendance(db)
        self.notes = Notes(db, clock, broadcaster)
        self.feedback = SessionFeedback(db, clock, broadcaster)
