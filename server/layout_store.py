"""Reading the floor plan for the office service: rooms with ids, rules and owners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.layout import DoorState, RoomKind
from rooms.occupancy import RoomRules
from server.db.models import Floor, Room, RoomOwner


@dataclass(frozen=True)
class RoomInfo:
    id: int
    org_id: int
    floor_id: int
    name: str
    kind: RoomKind
    x: int
    y: int
    w: int
    h: int
    capacity: int
    door: DoorState
    owners: frozenset[int]

    @property
    def rules(self) -> RoomRules:
        return RoomRules(self.id, self.capacity, self.door, self.owners)

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "floor_id": self.floor_id,
            "name": self.name,
            "kind": self.kind.value,
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "capacity": self.capacity,
            "door": self.door.value,
            "owners": sorted(self.owners),
        }


async def room_info(session: AsyncSession, org_id: int, room_id: int) -> RoomInfo | None:
    room = await session.get(Room, room_id)
    if room is None or room.org_id != org_id or room.archived:
        return None
    owners = await session.scalars(select(RoomOwner.user_id).where(RoomOwner.room_id == room_id))
    return _info(room, frozenset(owners))


async def org_layout(
    session: AsyncSession, org_id: int
) -> tuple[list[dict[str, Any]], list[RoomInfo]]:
    floors = (
        await session.scalars(
            select(Floor).where(Floor.org_id == org_id).order_by(Floor.position, Floor.id)
        )
    ).all()
    rooms = (
        await session.scalars(
            select(Room).where(Room.org_id == org_id, Room.archived.is_(False)).order_by(Room.id)
        )
    ).all()
    owner_rows = await session.execute(
        select(RoomOwner.room_id, RoomOwner.user_id)
        .join(Room, Room.id == RoomOwner.room_id)
        .where(Room.org_id == org_id)
    )
    owners: dict[int, set[int]] = {}
    for room_id, user_id in owner_rows:
        owners.setdefault(room_id, set()).add(user_id)
    floor_docs = [
        {"id": f.id, "name": f.name, "width": f.width, "height": f.height} for f in floors
    ]
    return floor_docs, [_info(r, frozenset(owners.get(r.id, ()))) for r in rooms]


def _info(room: Room, owners: frozenset[int]) -> RoomInfo:
    return RoomInfo(
        room.id,
        room.org_id,
        room.floor_id,
        room.name,
        room.kind,
        room.x,
        room.y,
        room.w,
        room.h,
        room.capacity,
        room.door,
        owners,
    )
