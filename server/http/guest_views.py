"""What a guest link shows before anything else happens."""

from __future__ import annotations

from aiohttp import web

from server.http.keys import CLOCK, DB, SETTINGS
from server.invites import inspect_link


async def guest_link(request: web.Request) -> web.Response:
    async with request.app[DB]() as session:
        view = await inspect_link(
            session,
            request.app[SETTINGS].secret_key,
            request.match_info["token"],
            request.app[CLOCK].now(),
        )
    return web.json_response(
        {
            "room": view.room_name,
            "organization": view.organization_name,
            "requires_admission": view.requires_admission,
            "expires_at": view.expires_at.isoformat(),
        }
    )
