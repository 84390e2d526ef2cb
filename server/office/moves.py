"""The transactions of a room change, as functions over the person's and the rooms' documents.

Walking from one room to another touches three documents at once (the person, the room left,
the room entered) and must see them all unchanged or start again; going offline touches two.
Kept apart from the service so the rules of a move read in one place, free of I/O: the service
runs these inside ``StateStore.transact`` and does what follows a move (deltas, analytics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rooms import presence
from rooms.occupancy import Outcome, decide_entry
from rooms.presence import Person
from rooms.store import Doc
from server.infra.errors import AppError, ErrorCode, conflict, forbidden
from server.office.layout_store import RoomInfo
from server.office.state import PAIR_ROOM, Moved, Retry, occupants_of, room_doc

MoveChange = Callable[[list[Doc | None]], tuple[list[Doc | None], tuple[Outcome, Moved | None]]]
OfflineChange = Callable[[list[Doc | None]], tuple[list[Doc | None], Moved | None]]


def move_change(
    expected_room: int | None,
    room: RoomInfo | None,
    now: float,
    invited_ok: bool,
    force_invited: bool,
) -> MoveChange:
    """Over [person, room left (if any), room entered (if any)]: enter ``room`` (None: out of
    every room), or say why not. Raises ``Retry`` if the person is no longer in
    ``expected_room``."""

    def change(docs: list[Doc | None]) -> tuple[list[Doc | None], tuple[Outcome, Moved | None]]:
        if docs[0] is None:
            raise AppError(ErrorCode.CONFLICT, "you are not in the office")
        person = Person.from_doc(docs[0])
        if person.room_id != expected_room:
            raise Retry
        rest = docs[1:]
        old_doc = rest.pop(0) if expected_room is not None else None
        new_doc = rest.pop(0) if room is not None else None
        new_docs: list[Doc | None] = []
        left_company: dict[int, float] = {}
        new_room_doc: Doc | None = None
        if room is not None:
            occupants = occupants_of(new_doc)
            invited = {k: v for k, v in (new_doc or {}).get("invited", {}).items() if v > now}
            is_invited = force_invited or (invited_ok and str(person.user_id) in invited)
            outcome = decide_entry(room.rules, person.user_id, occupants.keys(), invited=is_invited)
            if outcome is Outcome.REFUSED_FULL:
                raise conflict(f"{room.name} is full")
            if outcome is Outcome.REFUSED_LOCKED:
                raise forbidden(f"{room.name} is locked")
            if outcome is Outcome.REFUSED_PRIVATE:
                raise forbidden(PAIR_ROOM)
            if outcome is Outcome.KNOCK:
                return docs, (outcome, None)
            occupants[person.user_id] = now
            invited.pop(str(person.user_id), None)
            new_room_doc = room_doc(occupants, invited)
        after = person.bump(
            room_id=room.id if room else None, entered_at=now if room else None, position=None
        )
        new_docs.append(after.to_doc())
        if expected_room is not None:
            old = occupants_of(old_doc)
            old.pop(person.user_id, None)
            left_company = dict(old)
            new_docs.append(room_doc(old, (old_doc or {}).get("invited", {})))
        if room is not None:
            new_docs.append(new_room_doc)
        return new_docs, (Outcome.ENTER, Moved(person, after, left_company))

    return change


def offline_change(
    room_id: int | None, now: float, grace: float, after_grace: bool
) -> OfflineChange:
    """Over [person, their room (if any)]: out of the office and out of ``room_id``; nothing if
    they came back meanwhile (``after_grace``: only once the grace period is over). Raises
    ``Retry`` if the person is no longer in ``room_id``."""

    def change(docs: list[Doc | None]) -> tuple[list[Doc | None], Moved | None]:
        current = Person.from_doc(docs[0]) if docs[0] else None
        if current is None or (after_grace and not presence.grace_over(current, now, grace)):
            return docs, None  # came back meanwhile
        if current.room_id != room_id:
            raise Retry
        after = presence.go_offline(replace(current, connections=frozenset()))
        new_docs: list[Doc | None] = [after.to_doc()]
        company: dict[int, float] = {}
        if room_id is not None:
            occupants = occupants_of(docs[1])
            occupants.pop(current.user_id, None)
            company = dict(occupants)
            new_docs.append(room_doc(occupants, (docs[1] or {}).get("invited", {})))
        return new_docs, Moved(current, after, company)

    return change
