"""Analytics over HTTP outside the admin sub-app: the policy, and "what admins see about me"."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from server.analytics import policy, transparency
from server.audit import log as audit
from server.http.enforce import body_of, query_of
from server.http.keys import CLOCK, DB
from server.http.middleware import require_session
from server.http.schemas import AboutMeQuery, AnalyticsPolicyBody
from server.infra.errors import invalid


async def get_policy(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    async with request.app[DB]() as session:
        enabled = await policy.per_person_activity(session, principal.org_id)
    return web.json_response({"per_person_activity": enabled})


async def set_policy(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, AnalyticsPolicyBody)
    enabled = await policy.set_per_person_activity(
        request.app[DB], principal, body.per_person_activity, request.app[CLOCK].now()
    )
    return web.json_response({"per_person_activity": enabled})


async def about_me(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    if principal.is_guest:
        return web.json_response({"figures": [], "looks": []})
    query = query_of(request, AboutMeQuery)
    end = query.end or request.app[CLOCK].now().date()
    start = query.start or end - timedelta(days=365)
    if end < start or (end - start).days > 366:
        raise invalid("a period runs forwards and covers at most 366 days")
    async with request.app[DB]() as session:
        report = await transparency.about_me(
            session, principal.org_id, principal.user_id, start, end
        )
        # The looks above come from the audit log: say whether it still holds, and its head,
        # so that a log rewritten or cut back since someone last looked shows here.
        seen = query.checkpoint()
        report["audit"] = await audit.status(
            session, principal.org_id, None if seen is None else audit.Checkpoint(*seen)
        )
    return web.json_response(report)
