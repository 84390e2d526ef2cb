"""Reading the floor plan for the office service: rooms with ids, rules and owners.

A mentoring pair's room belongs to the pair: only its two people enter it, and only they see
who owns it (its owners are the pairing; everyone else sees the room without owners).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.layout import DoorState, RoomKind
from rooms.occupancy import RoomRules
from server.db.models import Floor, Room, RoomOwner
from server.mentoring.tables import Pair, PairState


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
    # A mentoring pair's room: the people it is reserved for (both, while the pair is active;
    # nobody once it has ended). None for every other room.
    pair_members: frozenset[int] | None = None

    @property
    def is_pair_room(self) -> bool:
        return self.pair_members is not None

    @property
    def rules(self) -> RoomRules:
        return RoomRules(self.id, self.capacity, self.door, self.owners, self.pair_members)

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h

    def public(self, viewer: int | None = None) -> dict[str, Any]:
        """As ``viewer`` sees it (None: as everyone sees it, e.g. in a broadcast): a pair
        room's owners are shown to the pair only, since they say who is paired with whom."""
        owners = (
            sorted(self.owners)
            if self.pair_members is None or (viewer is not None and viewer in self.pair_members)
            else []
        )
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
            "owners": owners,
        }


async def room_info(session: AsyncSession, org_id: int, room_id: int) -> RoomInfo | None:
    room = await session.get(Room, room_id)
    if room is None or room.org_id != org_id or room.archived:
        return None
    owners = await session.scalars(select(RoomOwner.user_id).where(RoomOwner.room_id == room_id))
    pairs = await _pair_members(session, [room_id])
    return _info(room, frozenset(owners), pairs.get(room_id))


async def _pair_members(session: AsyncSession, room_ids: list[int]) -> dict[int, frozenset[int]]:
    """For each of these rooms that is a mentoring pair's: who may enter it."""
    if not room_ids:
        return {}
    rows = await session.execute(
        select(Pair.room_id, Pair.mentor_id, Pair.mentee_id, Pair.state).where(
            Pair.room_id.in_(room_ids)
        )
    )
    members: dict[int, frozenset[int]] = {}
    for room_id, mentor_id, mentee_id, state in rows:
        assert room_id is not None
        people = frozenset({mentor_id, mentee_id}) if state is PairState.ACTIVE else frozenset()
        members[room_id] = members.get(room_id, frozenset()) | people
    return members


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
    pairs = await _pair_members(session, [r.id for r in rooms])
    return floor_docs, [_info(r, frozenset(owners.get(r.id, ())), pairs.get(r.id)) for r in rooms]


def _info(room: Room, owners: frozenset[int], pair_members: frozenset[int] | None) -> RoomInfo:
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
        pair_members,
    )
