"""Editing the floor plan: admins add floors and rooms, move and resize them, set doors and
owners; owners may open, close or lock their own room's door.

Every edit is checked against the whole floor (``rooms.layout`` refuses overlaps and rooms
off the floor), written to the audit log (ids and field names, never names), committed, then
shown to everyone in the organization.

A mentoring pair's room belongs to the pair: an admin may move or resize it, or archive it,
but not open its door, rename it, change its kind or capacity, or give it other owners — each
would be a way into the pair's conversation. The pair (its owners) may set their own door;
``rooms.occupancy`` keeps everyone else out whatever the door says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.layout import DoorState, FloorPlan, LayoutError, Rect, RoomKind, RoomPlan
from server.audit.actions import AuditAction, TargetKind
from server.audit.log import Detail, append
from server.db.models import Floor, Room, RoomOwner, User
from server.infra.clock import Clock
from server.infra.errors import conflict, forbidden, invalid, not_found
from server.office.floorplans import room_row
from server.office.layout_store import RoomInfo, room_info
from server.office.service import Office
from server.people.identity import Principal, Role

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

    def only_geometry(self) -> bool:
        return all(getattr(self, f) is None for f in ("name", "kind", "capacity", "door"))

    def fields(self) -> list[str]:
        return [
            f
            for f in ("name", "kind", "x", "y", "w", "h", "capacity", "door")
            if getattr(self, f) is not None
        ]


def _require_admin(principal: Principal) -> None:
    if not principal.has_role(Role.ORG_ADMIN):
        raise forbidden("only organization admins edit the floor plan")


def _refuse_pair_room(info: RoomInfo, what: str) -> None:
    if info.is_pair_room:
        raise forbidden(f"a mentoring pair's room belongs to the pair: admins cannot {what}")


class LayoutEditor:
    def __init__(self, db: async_sessionmaker[AsyncSession], office: Office, clock: Clock) -> None:
        self._db = db
        self._office = office
        self._clock = clock

    async def _audit(
        self,
        session: AsyncSession,
        principal: Principal,
        op: str,
        target: tuple[TargetKind, int],
        detail: Detail | None = None,
    ) -> None:
        """``layout.changed``: what was done to which floor or room, by ids only."""
        await append(
            session,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action=AuditAction.LAYOUT_CHANGED,
            at=self._clock.now(),
            target_kind=target[0],
            target_id=target[1],
            detail={"op": op, **(detail or {})},
        )

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
            await session.flush()
            await self._audit(session, principal, "floor_added", (TargetKind.FLOOR, floor.id))
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
            await session.flush()
            await self._audit(
                session,
                principal,
                "room_added",
                (TargetKind.ROOM, room.id),
                {"floor_id": floor.id, "kind": plan.kind.value, "door": plan.door.value},
            )
            await session.commit()
            info = await room_info(session, principal.org_id, room.id)
        await self._office.layout_changed(principal.org_id)
        assert info is not None
        return info.public(principal.user_id)

    async def change_room(
        self, principal: Principal, room_id: int, changes: RoomChanges
    ) -> dict[str, Any]:
        async with self._db() as session:
            info = await room_info(session, principal.org_id, room_id)
            if info is None:
                raise not_found("no such room")
            is_admin = principal.has_role(Role.ORG_ADMIN)
            is_owner = principal.user_id in info.owners
            if not is_admin and not (is_owner and changes.only_door()):
                raise forbidden("only admins edit rooms; owners may change their door")
            if (
                info.is_pair_room
                and not (is_owner and changes.only_door())
                and not changes.only_geometry()
            ):
                _refuse_pair_room(info, "open, rename or re-purpose it")
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
            detail: dict[str, str | bool] = {"fields": ".".join(changes.fields())}
            if changes.door is not None:
                detail["door"] = changes.door.value
            if changes.kind is not None:
                detail["kind"] = changes.kind.value
            await self._audit(
                session, principal, "room_changed", (TargetKind.ROOM, room_id), detail
            )
            await session.commit()
            updated = await room_info(session, principal.org_id, room_id)
        await self._office.layout_changed(principal.org_id)
        assert updated is not None
        return updated.public(principal.user_id)

    async def archive_room(self, principal: Principal, room_id: int) -> None:
        _require_admin(principal)
        if await self._office.occupants(principal.org_id, room_id):
            raise conflict("people are in that room; it can be removed when it is empty")
        async with self._db() as session:
            room = await session.get(Room, room_id)
            if room is None or room.org_id != principal.org_id or room.archived:
                raise not_found("no such room")
            room.archived = True
            await self._audit(session, principal, "room_archived", (TargetKind.ROOM, room_id))
            await session.commit()
        await self._office.layout_changed(principal.org_id)

    async def set_owners(
        self, principal: Principal, room_id: int, user_ids: list[int]
    ) -> dict[str, Any]:
        _require_admin(principal)
        async with self._db() as session:
            current = await room_info(session, principal.org_id, room_id)
            if current is None:
                raise not_found("no such room")
            _refuse_pair_room(current, "change who owns it")
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
            await self._audit(
                session,
                principal,
                "owners_set",
                (TargetKind.ROOM, room_id),
                {"owners": sorted(members)},
            )
            await session.commit()
            info = await room_info(session, principal.org_id, room_id)
        await self._office.layout_changed(principal.org_id)
        assert info is not None
        return info.public(principal.user_id)

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
