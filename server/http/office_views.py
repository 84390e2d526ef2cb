"""The floor plan over HTTP: read by every member, edited by admins (doors also by owners)."""

from __future__ import annotations

from aiohttp import web

from rooms.layout import DoorState, RoomKind
from server.http.enforce import body_of
from server.http.errors import path_id
from server.http.keys import DB, LAYOUT_EDITOR
from server.http.middleware import require_session
from server.http.schemas import NewFloorBody, NewRoomBody, OwnersBody, RoomChangesBody
from server.infra.errors import forbidden
from server.office.layout_editor import NewRoom, RoomChanges
from server.office.layout_store import org_layout


async def layout(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    if principal.is_guest:
        raise forbidden("guests see only the room they were invited to")
    async with request.app[DB]() as session:
        floors, rooms = await org_layout(session, principal.org_id)
    return web.json_response(
        {"floors": floors, "rooms": [r.public(principal.user_id) for r in rooms]}
    )


async def add_floor(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, NewFloorBody)
    floor = await request.app[LAYOUT_EDITOR].add_floor(
        principal, body.name, body.width, body.height
    )
    return web.json_response(floor, status=201)


async def add_room(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, NewRoomBody)
    room = await request.app[LAYOUT_EDITOR].add_room(
        principal,
        path_id(request, "floor_id"),
        NewRoom(
            body.name,
            RoomKind(body.kind),
            body.x,
            body.y,
            body.w,
            body.h,
            body.capacity,
            DoorState(body.door),
        ),
    )
    return web.json_response(room, status=201)


async def change_room(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, RoomChangesBody)
    changes = RoomChanges(
        name=body.name,
        kind=RoomKind(body.kind) if body.kind else None,
        x=body.x,
        y=body.y,
        w=body.w,
        h=body.h,
        capacity=body.capacity,
        door=DoorState(body.door) if body.door else None,
    )
    room = await request.app[LAYOUT_EDITOR].change_room(
        principal, path_id(request, "room_id"), changes
    )
    return web.json_response(room)


async def remove_room(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    await request.app[LAYOUT_EDITOR].archive_room(principal, path_id(request, "room_id"))
    return web.Response(status=204)


async def set_owners(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, OwnersBody)
    room = await request.app[LAYOUT_EDITOR].set_owners(
        principal, path_id(request, "room_id"), body.user_ids
    )
    return web.json_response(room)
