"""Where the live office lives in the ``StateStore`` and what its documents look like.

Every part of the office service (moves, knocks, connections, guests) reads and writes the same
keys and documents; naming them once here keeps the parts agreeing. Pure: no database, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rooms.presence import Person
from rooms.requests import Request
from rooms.store import Doc

OFFLINE_QUEUE = "offline"  # schedule: when each person's grace period ends
REQUEST_QUEUE = "requests"  # schedule: when each open knock or "get" expires
PROCESSES = "processes"  # set: the server processes that have announced their connections
PROCESS_QUEUE = "process-expiry"  # schedule: when each process counts as dead unless it beats
INVITED_SECONDS = 60  # how long an accepted knock or "get" lets the person in

PAIR_ROOM = "this is a mentoring pair's room: only the pair goes in"


def person_key(org_id: int, user_id: int) -> str:
    return f"p:{org_id}:{user_id}"


def room_key(org_id: int, room_id: int) -> str:
    return f"r:{org_id}:{room_id}"


def request_key(request_id: str) -> str:
    return f"q:{request_id}"


def held_key(org_id: int, room_id: int) -> str:
    """The knocks waiting at a room."""
    return f"held:{org_id}:{room_id}"


def knocker_key(org_id: int, user_id: int) -> str:
    """The knocks a person has waiting (cancelled when they leave the office)."""
    return f"knocking:{org_id}:{user_id}"


def people_key(org_id: int) -> str:
    """Everyone of the organization ever seen in the live office (guests included)."""
    return f"people:{org_id}"


def process_people_key(process: str) -> str:
    """The people holding a connection on ``process`` (what to clean up if it dies)."""
    return f"conns:{process}"


@dataclass(frozen=True)
class Moved:
    """A completed room change: who, from where (with whom it was shared), to where."""

    before: Person
    after: Person
    left_company: dict[int, float]  # other occupants of the room left, with their entry times


class Retry(Exception):
    """The person moved between our read and our transaction; read again."""


def occupants_of(doc: Doc | None) -> dict[int, float]:
    """A room document's occupants, with the time each entered."""
    return {int(k): float(v) for k, v in (doc or {}).get("occupants", {}).items()}


def room_doc(occupants: dict[int, float], invited: dict[str, float]) -> Doc | None:
    """A room document (None, so deleted, once nobody is in it or invited)."""
    if not occupants and not invited:
        return None
    return {"occupants": {str(k): v for k, v in occupants.items()}, "invited": invited}


def request_of(doc: Doc) -> Request:
    """A stored request without its bookkeeping (who was rung)."""
    return Request.from_doc({k: v for k, v in doc.items() if k != "rung"})


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
