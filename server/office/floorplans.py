"""Storing floor plans: the ``rooms.layout`` values in the floors and rooms tables."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.layout import FloorPlan, Rect, RoomPlan
from server.db.models import Floor, Room


async def add_floor(session: AsyncSession, org_id: int, plan: FloorPlan, position: int = 0) -> int:
    floor = Floor(
        org_id=org_id, name=plan.name, position=position, width=plan.width, height=plan.height
    )
    session.add(floor)
    await session.flush()
    for room in plan.rooms:
        session.add(room_row(org_id, floor.id, room))
    await session.flush()
    return floor.id


async def load_floors(session: AsyncSession, org_id: int) -> list[tuple[int, FloorPlan]]:
    floors = (
        await session.scalars(select(Floor).where(Floor.org_id == org_id).order_by(Floor.position))
    ).all()
    rooms = (
        await session.scalars(
            select(Room).where(Room.org_id == org_id, Room.archived.is_(False)).order_by(Room.id)
        )
    ).all()
    result = []
    for floor in floors:
        plans = tuple(
            RoomPlan(r.name, r.kind, Rect(r.x, r.y, r.w, r.h), r.capacity, r.door)
            for r in rooms
            if r.floor_id == floor.id
        )
        result.append((floor.id, FloorPlan(floor.name, floor.width, floor.height, plans)))
    return result


def room_row(org_id: int, floor_id: int, plan: RoomPlan) -> Room:
    return Room(
        org_id=org_id,
        floor_id=floor_id,
        name=plan.name,
        kind=plan.kind,
        x=plan.rect.x,
        y=plan.rect.y,
        w=plan.rect.w,
        h=plan.rect.h,
        capacity=plan.capacity,
        door=plan.door,
    )
