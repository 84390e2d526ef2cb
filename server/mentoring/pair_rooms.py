"""A pair's mentoring room: opened when the pair is made, archived once the pair has ended.

The room is locked, owned by both of the pair, on the organization's Mentoring floor (made on
first use), in the first free cell of a grid. When the pair ends nobody may enter any more (the
room loses its owners); it is archived as soon as nobody is inside, at once or by the job.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import DoorState, Rect, RoomKind, RoomPlan
from server.db.models import Floor, Room, RoomOwner
from server.infra.errors import conflict
from server.mentoring.tables import Pair, PairState
from server.office.floorplans import room_row
from server.office.service import Office

MENTORING_FLOOR = "Mentoring"
ROOM_W, ROOM_H = 10, 8
FLOOR_SIDE = 1000


class PairRooms:
    def __init__(self, db: async_sessionmaker[AsyncSession], office: Office) -> None:
        self._db = db
        self._office = office

    async def open_room(
        self,
        session: AsyncSession,
        org_id: int,
        pair: Pair,
        placed: dict[int, list[Rect]] | None = None,
    ) -> int:
        """A locked mentoring room for the pair, owned by both, on the Mentoring floor.
        ``placed`` caches the floor's rooms while many pairs are made in one transaction."""
        floor = await session.scalar(
            select(Floor).where(Floor.org_id == org_id, Floor.name == MENTORING_FLOOR)
        )
        if floor is None:
            count = await session.scalar(
                select(func.count()).select_from(Floor).where(Floor.org_id == org_id)
            )
            floor = Floor(
                org_id=org_id,
                name=MENTORING_FLOOR,
                position=int(count or 0),
                width=FLOOR_SIDE,
                height=FLOOR_SIDE,
            )
            session.add(floor)
            await session.flush()
        taken = (placed or {}).get(floor.id)
        if taken is None:
            rows = await session.execute(
                select(Room.x, Room.y, Room.w, Room.h).where(
                    Room.floor_id == floor.id, Room.archived.is_(False)
                )
            )
            taken = [Rect(x, y, w, h) for x, y, w, h in rows]
            if placed is not None:
                placed[floor.id] = taken
        spot = free_spot(floor.width, floor.height, taken)
        if spot is None:
            raise conflict("the mentoring floor is full")
        taken.append(spot)
        plan = RoomPlan(
            f"Mentoring pair {pair.id}", RoomKind.MENTORING_ROOM, spot, 4, DoorState.LOCKED
        )
        room = room_row(org_id, floor.id, plan)
        session.add(room)
        await session.flush()
        for user_id in sorted({pair.mentor_id, pair.mentee_id}):
            session.add(RoomOwner(room_id=room.id, user_id=user_id))
        await session.flush()
        return room.id

    async def close_room(self, session: AsyncSession, org_id: int, room_id: int) -> None:
        """The pair has ended (the caller commits)."""
        # Nobody enters any more; the room goes away as soon as it is empty.
        for owner in (
            await session.scalars(select(RoomOwner).where(RoomOwner.room_id == room_id))
        ).all():
            await session.delete(owner)
        await self._archive_if_empty(session, org_id, room_id)

    async def archive_ended_rooms(self) -> int:
        """A job: archive the room of every ended pair once nobody is inside. A pair that ends
        (unmatched, or one of them erased) while someone is in its room keeps the room until
        they walk out; nobody can enter it meanwhile (it has no owners)."""
        async with self._db() as session:
            rooms = (
                await session.execute(
                    select(Room.org_id, Room.id)
                    .join(Pair, Pair.room_id == Room.id)
                    .where(Pair.state == PairState.ENDED, Room.archived.is_(False))
                    .distinct()
                )
            ).all()
        archived: set[int] = set()
        for org_id, room_id in rooms:
            async with self._db() as session:
                done = await self._archive_if_empty(session, org_id, room_id)
                await session.commit()
            if done:
                archived.add(org_id)
        for org_id in archived:
            await self._office.layout_changed(org_id)
        return len(archived)

    async def _archive_if_empty(self, session: AsyncSession, org_id: int, room_id: int) -> bool:
        """Archive a pair's room unless someone is inside (the caller commits); whether this
        call archived it."""
        if await self._office.occupants(org_id, room_id):
            return False
        done = await session.execute(
            update(Room).where(Room.id == room_id, Room.archived.is_(False)).values(archived=True)
        )
        return getattr(done, "rowcount", 0) == 1


def free_spot(width: int, height: int, taken: Sequence[Rect]) -> Rect | None:
    """The first grid cell of the floor that no room overlaps, row by row (the cells each
    room covers are marked once, so placing many pairs stays linear per pair)."""
    columns, rows = width // ROOM_W, height // ROOM_H
    covered: set[tuple[int, int]] = set()
    for t in taken:
        for row in range(t.y // ROOM_H, min(rows, (t.y + t.h - 1) // ROOM_H + 1)):
            for col in range(t.x // ROOM_W, min(columns, (t.x + t.w - 1) // ROOM_W + 1)):
                covered.add((row, col))
    for row in range(rows):
        for col in range(columns):
            if (row, col) not in covered:
                return Rect(col * ROOM_W, row * ROOM_H, ROOM_W, ROOM_H)
    return None
