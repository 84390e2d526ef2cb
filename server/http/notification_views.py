"""My notification settings over HTTP: read them, replace them (the /me page edits them, the
office and mentoring pages read them)."""

from __future__ import annotations

from aiohttp import web

from server.http.enforce import body_of
from server.http.keys import NOTIFICATIONS
from server.http.middleware import require_session
from server.http.schemas import NotificationSettingsBody
from server.people.notification_settings import Preferences


async def my_settings(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    return web.json_response(await request.app[NOTIFICATIONS].get(principal))


async def replace_settings(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, NotificationSettingsBody)
    chosen = Preferences(**body.model_dump())
    return web.json_response(await request.app[NOTIFICATIONS].replace(principal, chosen))
