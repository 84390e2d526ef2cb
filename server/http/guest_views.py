"""Guest links over HTTP: hosts make, list and revoke them; guests look at one and join."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from server.guests.service import LinkTerms
from server.http.auth_views import client_address, with_cookie
from server.http.enforce import body_of
from server.http.errors import path_id
from server.http.keys import GUESTS, SETTINGS
from server.http.middleware import require_session
from server.http.schemas import GuestJoinBody, GuestLinkBody


async def guest_link(request: web.Request) -> web.Response:
    view = await request.app[GUESTS].inspect(request.match_info["token"], client_address(request))
    return web.json_response(
        {
            "room": view.room_name,
            "organization": view.organization_name,
            "requires_admission": view.requires_admission,
            "expires_at": view.expires_at.isoformat(),
        }
    )


async def join(request: web.Request) -> web.Response:
    body = body_of(request, GuestJoinBody)
    signed_in = await request.app[GUESTS].join(
        request.match_info["token"], body.display_name, client_address(request)
    )
    return with_cookie(request.app[SETTINGS], signed_in, 201)


async def create_link(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, GuestLinkBody)
    link = await request.app[GUESTS].create_link(
        principal,
        path_id(request, "room_id"),
        LinkTerms(timedelta(minutes=body.valid_minutes), body.max_uses, body.requires_admission),
    )
    return web.json_response(link, status=201)


async def list_links(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    links = await request.app[GUESTS].list_links(principal, path_id(request, "room_id"))
    return web.json_response({"links": links})


async def revoke_link(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    await request.app[GUESTS].revoke(principal, path_id(request, "link_id"))
    return web.Response(status=204)
