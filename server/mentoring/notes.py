"""Session notes: one shared note per session for the pair, and a private note per author.

Only a member of the session's pair reads or writes them, and a private note only its author;
the bodies live in the content store. A change to the shared note is told to the pair.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.content.mentoring_notes import MAX_NOTE, SessionNote
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.mentoring import access, inputs
from server.mentoring.pairs import pair_changed
from server.mentoring.replies import note_doc
from server.people.identity import Principal


class Notes:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, broadcaster: Broadcaster
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster

    async def read(self, principal: Principal, session_id: int) -> dict[str, Any]:
        """The shared note (the pair) and the reader's own private note (the author only)."""
        async with self._db() as session:
            meeting, _ = await access.session_of_pair(session, principal, session_id)
            rows = (
                await session.scalars(
                    select(SessionNote).where(
                        SessionNote.session_id == meeting.id,
                        or_(
                            SessionNote.owner_id.is_(None),
                            SessionNote.owner_id == principal.user_id,
                        ),
                    )
                )
            ).all()
            shared = next((n for n in rows if n.owner_id is None), None)
            private = next((n for n in rows if n.owner_id == principal.user_id), None)
            return {
                "session_id": meeting.id,
                "shared": note_doc(shared),
                "private": note_doc(private),
            }

    async def write(
        self, principal: Principal, session_id: int, body: str, *, shared: bool
    ) -> dict[str, Any]:
        body = inputs.text(body, MAX_NOTE, "body", empty_ok=True)
        now = self._clock.now()
        owner = None if shared else principal.user_id
        async with self._db() as session:
            meeting, pair = await access.session_of_pair(session, principal, session_id)
            query = select(SessionNote).where(SessionNote.session_id == meeting.id)
            query = query.where(
                SessionNote.owner_id.is_(None) if owner is None else SessionNote.owner_id == owner
            )
            note = await session.scalar(query)
            if note is None:
                note = SessionNote(session_id=meeting.id, owner_id=owner)
                session.add(note)
            note.body = body
            note.edited_by = principal.user_id
            note.updated_at = now
            await session.commit()
            doc = note_doc(note)
        if shared:
            await pair_changed(self._broadcaster, pair, "notes", session_id=meeting.id)
        return doc or {}
