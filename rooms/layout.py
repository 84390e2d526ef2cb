"""Floor plans: floors, rooms with a kind, a rectangle, a capacity and a door.

Values validate themselves on construction, so a layout that exists is a layout that makes
sense (rooms on the floor, not overlapping, sensible capacities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

MAX_NAME = 80


class RoomKind(StrEnum):
    TEAM_ROOM = "team_room"
    PRIVATE_OFFICE = "private_office"
    MEETING_ROOM = "meeting_room"
    MENTORING_ROOM = "mentoring_room"
    LOBBY = "lobby"
    TOWN_HALL = "town_hall"


class DoorState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # enter by knocking
    LOCKED = "locked"  # owners and invited people only


class LayoutError(ValueError):
    """A floor plan that cannot exist."""


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        if self.x < 0 or self.y < 0:
            raise LayoutError("a room starts inside the floor (x, y >= 0)")
        if self.w < 2 or self.h < 2:
            raise LayoutError("a room is at least 2 x 2 units")

    def overlaps(self, other: Rect) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )

    def fits_in(self, width: int, height: int) -> bool:
        return self.x + self.w <= width and self.y + self.h <= height


@dataclass(frozen=True)
class RoomPlan:
    name: str
    kind: RoomKind
    rect: Rect
    capacity: int
    door: DoorState = DoorState.OPEN

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > MAX_NAME:
            raise LayoutError(f"a room name has 1 to {MAX_NAME} characters")
        if not 1 <= self.capacity <= 500:
            raise LayoutError("a room holds 1 to 500 people")


@dataclass(frozen=True)
class FloorPlan:
    name: str
    width: int
    height: int
    rooms: tuple[RoomPlan, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > MAX_NAME:
            raise LayoutError(f"a floor name has 1 to {MAX_NAME} characters")
        if not (10 <= self.width <= 1000 and 10 <= self.height <= 1000):
            raise LayoutError("a floor is 10 to 1000 units on each side")
        names: set[str] = set()
        for i, room in enumerate(self.rooms):
            if not room.rect.fits_in(self.width, self.height):
                raise LayoutError(f"room {room.name!r} extends beyond the floor")
            if room.name in names:
                raise LayoutError(f"two rooms are named {room.name!r}")
            names.add(room.name)
            for other in self.rooms[:i]:
                if room.rect.overlaps(other.rect):
                    raise LayoutError(f"rooms {other.name!r} and {room.name!r} overlap")


def default_floor(team_names: tuple[str, ...] = ("Team room",)) -> FloorPlan:
    """The floor a new organization starts with: a lobby, one room per team, meeting and
    mentoring rooms, two private offices and a town hall."""
    rooms: list[RoomPlan] = [
        RoomPlan("Lobby", RoomKind.LOBBY, Rect(0, 0, 20, 12), capacity=50),
        RoomPlan("Town hall", RoomKind.TOWN_HALL, Rect(0, 12, 20, 18), capacity=200),
    ]
    for i, team in enumerate(team_names[:4]):
        rooms.append(RoomPlan(team, RoomKind.TEAM_ROOM, Rect(20 + 15 * i, 0, 15, 12), 16))
    rooms += [
        RoomPlan("Meeting room A", RoomKind.MEETING_ROOM, Rect(20, 12, 12, 9), 8),
        RoomPlan(
            "Meeting room B", RoomKind.MEETING_ROOM, Rect(20, 21, 12, 9), 8, door=DoorState.CLOSED
        ),
        RoomPlan(
            "Mentoring room 1",
            RoomKind.MENTORING_ROOM,
            Rect(32, 12, 10, 9),
            4,
            door=DoorState.CLOSED,
        ),
        RoomPlan(
            "Mentoring room 2",
            RoomKind.MENTORING_ROOM,
            Rect(32, 21, 10, 9),
            4,
            door=DoorState.CLOSED,
        ),
        RoomPlan("Office 1", RoomKind.PRIVATE_OFFICE, Rect(42, 12, 8, 9), 3, door=DoorState.CLOSED),
        RoomPlan("Office 2", RoomKind.PRIVATE_OFFICE, Rect(42, 21, 8, 9), 3, door=DoorState.LOCKED),
    ]
    width = max(50, 20 + 15 * min(len(team_names), 4))
    return FloorPlan("Ground floor", width=width, height=30, rooms=tuple(rooms))
