"""Presence as pure state transitions that take ``now``.

A person is online while any of their connections (tabs, devices) is open. When the last one
closes they stay shown as they were for a grace period, so a reload or a network blip does not
flap their presence for everyone else; only after it do they go offline and leave their room.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

MAX_STATUS_TEXT = 80


class Status(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    DO_NOT_DISTURB = "do_not_disturb"
    OFFLINE = "offline"


CHOOSABLE = frozenset({Status.AVAILABLE, Status.BUSY, Status.AWAY, Status.DO_NOT_DISTURB})


@dataclass(frozen=True)
class Person:
    """What the office knows of one person right now. ``rev`` grows with every change, so a
    client can drop a delta older than what it already has."""

    org_id: int
    user_id: int
    display_name: str
    connections: frozenset[str] = frozenset()
    chosen: Status = Status.AVAILABLE
    text: str = ""
    idle: bool = False
    disconnected_at: float | None = None
    online: bool = False
    room_id: int | None = None
    entered_at: float | None = None
    position: tuple[int, int] | None = None
    rev: int = 0
    guest: bool = False
    # Where the person's profile picture is fetched (None: others draw their initials).
    avatar_url: str | None = None

    @property
    def status(self) -> Status:
        """What others see: offline, else do-not-disturb (it survives idling and moving),
        else away while idle, else what the person chose."""
        if not self.online:
            return Status.OFFLINE
        if self.chosen is Status.DO_NOT_DISTURB:
            return Status.DO_NOT_DISTURB
        if self.idle:
            return Status.AWAY
        return self.chosen

    def bump(self, **changes: Any) -> Person:
        return replace(self, rev=self.rev + 1, **changes)

    def public(self) -> dict[str, Any]:
        """The part every colleague may see."""
        return {
            "user_id": self.user_id,
            "display_name": self.display_name,
            "status": self.status.value,
            "text": self.text,
            "room_id": self.room_id,
            "position": list(self.position) if self.position else None,
            "guest": self.guest,
            "avatar_url": self.avatar_url,
            "rev": self.rev,
        }

    def to_doc(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "user_id": self.user_id,
            "display_name": self.display_name,
            "connections": sorted(self.connections),
            "chosen": self.chosen.value,
            "text": self.text,
            "idle": self.idle,
            "disconnected_at": self.disconnected_at,
            "online": self.online,
            "room_id": self.room_id,
            "entered_at": self.entered_at,
            "position": list(self.position) if self.position else None,
            "rev": self.rev,
            "guest": self.guest,
            "avatar_url": self.avatar_url,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Person:
        position = doc.get("position")
        return cls(
            org_id=doc["org_id"],
            user_id=doc["user_id"],
            display_name=doc["display_name"],
            connections=frozenset(doc.get("connections", ())),
            chosen=Status(doc["chosen"]),
            text=doc.get("text", ""),
            idle=doc.get("idle", False),
            disconnected_at=doc.get("disconnected_at"),
            online=doc.get("online", False),
            room_id=doc.get("room_id"),
            entered_at=doc.get("entered_at"),
            position=(int(position[0]), int(position[1])) if position else None,
            rev=doc.get("rev", 0),
            guest=doc.get("guest", False),
            avatar_url=doc.get("avatar_url"),
        )


def connect(
    person: Person, connection: str, display_name: str, avatar_url: str | None = None
) -> Person:
    """A new tab or device. Returns the person online, with any pending offline cancelled, and
    their name and picture as the account has them now."""
    return person.bump(
        connections=person.connections | {connection},
        online=True,
        disconnected_at=None,
        display_name=display_name,
        avatar_url=avatar_url,
    )


def disconnect(person: Person, connection: str, now: float) -> Person:
    """A tab closed. The last one starts the grace period; the person stays online for now."""
    remaining = person.connections - {connection}
    if remaining == person.connections:
        return person
    return replace(
        person,
        connections=remaining,
        disconnected_at=now if not remaining else person.disconnected_at,
    )


def grace_over(person: Person, now: float, grace_seconds: float) -> bool:
    return (
        person.online
        and not person.connections
        and person.disconnected_at is not None
        and now - person.disconnected_at >= grace_seconds
    )


def go_offline(person: Person) -> Person:
    return person.bump(
        online=False, idle=False, room_id=None, entered_at=None, position=None, disconnected_at=None
    )


def choose(person: Person, status: Status, text: str | None) -> Person:
    if status not in CHOOSABLE:
        raise ValueError(f"{status} cannot be chosen")
    new_text = person.text if text is None else " ".join(text.split())[:MAX_STATUS_TEXT]
    return person.bump(chosen=status, text=new_text)


def set_idle(person: Person, idle: bool) -> Person:
    return person if person.idle == idle else person.bump(idle=idle)
