"""Knocks and "get" invitations: a person asking to come in, or being asked to come over.

Both wait for one answer from the other side and expire after a time-out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class RequestKind(StrEnum):
    KNOCK = "knock"  # user_id knocks on room_id; an occupant answers
    GET = "get"  # host_id asks user_id to come to room_id; user_id answers


class Resolution(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # withdrawn by who made it, or they left the office


@dataclass(frozen=True)
class Request:
    id: str
    kind: RequestKind
    org_id: int
    room_id: int
    user_id: int  # who would move into the room
    display_name: str
    host_id: int | None  # who invited (GET only)
    created_at: float
    expires_at: float
    guest: bool = False  # the knocker is a guest (members are shown guests waiting)

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["kind"] = self.kind.value
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Request:
        return cls(**{**doc, "kind": RequestKind(doc["kind"])})

    def answerable_by(self, user_id: int, occupants: frozenset[int]) -> bool:
        if self.kind is RequestKind.KNOCK:
            return user_id in occupants
        return user_id == self.user_id
