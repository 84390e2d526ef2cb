"""What the mentoring services reply: the JSON documents of steps, enrolments, pairs, goals,
sessions and notes, and what each reader sees of them.

The rules about who sees which field live here, next to the fields: a program sees a
person's protected attributes only if they opted in, and only managers see a pair's score.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.content.mentoring_notes import SessionNote
from server.mentoring.tables import (
    Enrolment,
    EnrolmentRole,
    Goal,
    MentoringSession,
    Milestone,
    Pair,
    ProgramStep,
)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def step_doc(step: ProgramStep) -> dict[str, Any]:
    return {
        "id": step.id,
        "title": step.title,
        "due_at": iso(step.due_at),
        "published_at": iso(step.published_at),
    }


def enrolment_doc(e: Enrolment, *, profile: bool, for_program: bool = False) -> dict[str, Any]:
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
        "accepted_at": iso(e.accepted_at),
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


def pair_doc(pair: Pair, *, manager: bool) -> dict[str, Any]:
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
        "ended_at": iso(pair.ended_at),
        "room_id": pair.room_id,
    }
    if not manager:
        del doc["score"]
    return doc


def item_doc(item: Goal | Milestone) -> dict[str, Any]:
    return {"id": item.id, "status": item.status.value, "done_at": iso(item.done_at)}


def session_doc(meeting: MentoringSession) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "cancelled": meeting.cancelled_at is not None,
        "met_seconds": round(meeting.met_seconds, 1),
    }


def note_doc(note: SessionNote | None) -> dict[str, Any] | None:
    if note is None:
        return None
    return {"body": note.body, "updated_at": note.updated_at.isoformat()}
