"""Editing the floor plan: admins add floors and rooms, move and resize them, set doors and
owners; owners may open, close or lock their own room's door.

Every edit is checked against the whole floor (``rooms.layout`` refuses overlaps and rooms
off the floor), committed, then shown to everyone in the organization.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import DoorState, FloorPlan, LayoutError, Rect, RoomKind, RoomPlan
from server.db.models import Floor, Room, RoomOwner, User
from server.errors import conflict, forbidden, invalid, not_found
from server.floorplans import room_row
from server.identity import Principal, Role
from server.layout_store import room_info
from server.office import Office

T = TypeVar("T")


@dataclass(frozen=True)
class NewRoom:
    name: str
    kind: RoomKind
    x: int
    y: int
    w: int
    h: int
    capacity: int
    door: DoorState = DoorState.OPEN


@dataclass(frozen=True)
class RoomChanges:
    name: str | None = None
    kind: RoomKind | None = None
    x: int | None = None
    y: int | None = None
    w: int | None = None
    h: int | None = None
    capacity: int | None = None
    door: DoorState | None = None

    def only_door(self) -> bool:
        return all(
            getattr(self, f) is None for f in ("name", "kind", "x", "y", "w", "h", "capacity")
        )


def _require_admin(principal: Principal) -> None:
    if not principal.has_role(Role.ORG_ADMIN):
        raise forbidden("only organization admins edit the floor plan")


class LayoutEditor:
    def __init__(self, db: async_sessionmaker[AsyncSession], office: Office) -> None:
        self._db = db
        self._office = office

    async def add_floor(
        self, principal: Principal, name: str, width: int, height: int
    ) -> dict[str, Any]:
        _require_admin(principal)
        plan = _checked(lambda: FloorPlan(name, width, height))
        async with self._db() as session:
            if await session.scalar(
                select(Floor.id).where(Floor.org_id == principal.org_id, Floor.name == plan.name)
            ):
                raise conflict("a floor with that name exists")
            count = len(
                (
                    await session.scalars(select(Floor.id).where(Floor.org_id == principal.org_id))
                ).all()
            )
            floor = Floor(
                org_id=principal.org_id,
                name=plan.name,
                position=count,
                width=plan.width,
                height=plan.height,
            )
            session.add(floor)
            await session.commit()
        await self._office.layout_changed(principal.org_id)
        return {"id": floor.id, "name": floor.name, "width": floor.width, "height": floor.height}

    async def add_room(self, principal: Principal, floor_id: int, new: NewRoom) -> dict[str, Any]:
        _require_admin(principal)
        async with self._db() as session:
            floor = await self._floor(session, principal, floor_id)
            others = await self._floor_rooms(session, floor.id, exclude=None)
            plan = _checked(
                lambda: RoomPlan(
                    new.name, new.kind, Rect(new.x, new.y, new.w, new.h), new.capacity, new.door
                )
            )
            _checked(lambda: FloorPlan(floor.name, floor.width, floor.height, (*others, plan)))
            room = room_row(principal.org_id, floor.id, plan)
            session.add(room)
            await session.commit()
            info = await room_info(session, principal.org_id, room.id)
        await self._office.layout_changed(principal.org_id)
        assert info is not None
        return info.public()

    async def change_room(
        self, principal: Principal, room_id: int, changes: RoomChanges
    ) -> dict[str, Any]:
        async with self._db() as session:
            info = await room_info(session, principal.org_id, room_id)
            if info is None:
                raise not_found("no such room")
            is_admin = principal.has_role(Role.ORG_ADMIN)
            if not is_admin and not (principal.user_id in info.owners and changes.only_door()):
                raise forbidden("only admins edit rooms; owners may change their door")
            room = await session.get(Room, room_id)
            floor = await session.get(Floor, info.floor_id)
            assert room is not None and floor is not None
            plan = _checked(
                lambda: RoomPlan(
                    changes.name if changes.name is not None else room.name,
                    changes.kind or room.kind,
                    Rect(
                        *(
                            v if v is not None else d
                            for v, d in (
                                (changes.x, room.x),
                                (changes.y, room.y),
                                (changes.w, room.w),
                                (changes.h, room.h),
                            )
                        )
                    ),
                    changes.capacity if changes.capacity is not None else room.capacity,
                    changes.door or room.door,
                )
            )
            others = await self._floor_rooms(session, floor.id, exclude=room_id)
            _checked(lambda: FloorPlan(floor.name, floor.width, floor.height, (*others, plan)))
            room.name, room.kind, room.capacity, room.door = (
                plan.name,
                plan.kind,
                plan.capacity,
                plan.door,
            )
            room.x, room.y, room.w, room.h = plan.rect.x, plan.rect.y, plan.rect.w, plan.rect.h
            await session.commit()
            updated = await room_info(session, principal.org_id, room_id)
        await self._office.layout_changed(principal.org_id)
        assert updated is not None
        return updated.public()

    async def archive_room(self, principal: Principal, room_id: int) -> None:
        _require_admin(principal)
        if await self._office.occupants(principal.org_id, room_id):
            raise conflict("people are in that room; it can be removed when it is empty")
        async with self._db() as session:
            room = await session.get(Room, room_id)
            if room is None or room.org_id != principal.org_id or room.archived:
                raise not_found("no such room")
            room.archived = True
            await session.commit()
        await self._office.layout_changed(principal.org_id)

    async def set_owners(
        self, principal: Principal, room_id: int, user_ids: list[int]
    ) -> dict[str, Any]:
        _require_admin(principal)
        async with self._db() as session:
            if await room_info(session, principal.org_id, room_id) is None:
                raise not_found("no such room")
            members = set(
                (
                    await session.scalars(
                        select(User.id).where(
                            User.org_id == principal.org_id, User.id.in_(user_ids)
                        )
                    )
                ).all()
            )
            if members != set(user_ids):
                raise invalid("every owner must be a member of this organization")
            for owner in (
                await session.scalars(select(RoomOwner).where(RoomOwner.room_id == room_id))
            ).all():
                await session.delete(owner)
            await session.flush()
            for user_id in sorted(members):
                session.add(RoomOwner(room_id=room_id, user_id=user_id))
            await session.commit()
            info = await room_info(session, principal.org_id, room_id)
        await self._office.layout_changed(principal.org_id)
        assert info is not None
        return info.public()

    async def _floor(self, session: AsyncSession, principal: Principal, floor_id: int) -> Floor:
        floor = await session.get(Floor, floor_id)
        if floor is None or floor.org_id != principal.org_id:
            raise not_found("no such floor")
        return floor

    async def _floor_rooms(
        self, session: AsyncSession, floor_id: int, exclude: int | None
    ) -> tuple[RoomPlan, ...]:
        rooms = (
            await session.scalars(
                select(Room).where(Room.floor_id == floor_id, Room.archived.is_(False))
            )
        ).all()
        return tuple(
            RoomPlan(r.name, r.kind, Rect(r.x, r.y, r.w, r.h), r.capacity, r.door)
            for r in rooms
            if r.id != exclude
        )


def _checked(build: Callable[[], T]) -> T:
    """Build a layout value; a layout that cannot exist is the client's ``invalid``."""
    try:
        return build()
    except LayoutError as exc:
        raise invalid(str(exc)) from None
