"""Data rights over HTTP: export, close account, consent to groups; for organization admins:
organization export, account actions, the lifecycle policy and the audit log."""

from __future__ import annotations

from aiohttp import web

from server.http.enforce import body_of, query_of
from server.http.errors import path_id
from server.http.keys import PRIVACY, SETTINGS
from server.http.middleware import require_session, session_cookie_name
from server.http.schemas import (
    AuditQuery,
    CloseAccountBody,
    GroupMemberBody,
    PolicyBody,
    SeenHeadQuery,
)
from server.infra.errors import invalid
from server.people.identity import Role


def _zip(archive: bytes, filename: str) -> web.Response:
    return web.Response(
        body=archive,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def export_me(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    archive = await request.app[PRIVACY].export_me(principal)
    return _zip(archive, f"officehours-my-data-{principal.user_id}.zip")


async def close_account(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body_of(request, CloseAccountBody)
    await request.app[PRIVACY].close_account(principal)
    response = web.Response(status=204)
    settings = request.app[SETTINGS]
    response.del_cookie(
        session_cookie_name(settings.secure_cookies),
        path="/",
        secure=settings.secure_cookies,
        samesite="Lax",
    )
    return response


async def pending_memberships(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    return web.json_response({"pending": await request.app[PRIVACY].pending(principal)})


async def accept_membership(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    await request.app[PRIVACY].answer(principal, path_id(request, "pending_id"), accept=True)
    return web.Response(status=204)


async def decline_membership(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    await request.app[PRIVACY].answer(principal, path_id(request, "pending_id"), accept=False)
    return web.Response(status=204)


async def add_group_member(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, GroupMemberBody)
    result = await request.app[PRIVACY].add_to_group(
        principal, path_id(request, "group_id"), body.user_id, Role(body.role)
    )
    return web.json_response(result, status=201 if result["status"] == "pending" else 200)


async def export_org(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    archive = await request.app[PRIVACY].export_org(principal)
    return _zip(archive, f"officehours-organization-{principal.org_id}.zip")


async def suspend(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    await request.app[PRIVACY].suspend(principal, path_id(request, "user_id"))
    return web.Response(status=204)


async def restore(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    await request.app[PRIVACY].restore(principal, path_id(request, "user_id"))
    return web.Response(status=204)


async def reset_password(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    password = await request.app[PRIVACY].reset_password(principal, path_id(request, "user_id"))
    return web.json_response({"temporary_password": password})


async def erase(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    await request.app[PRIVACY].erase(principal, path_id(request, "user_id"))
    return web.Response(status=204)


async def policy(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    return web.json_response(await request.app[PRIVACY].policy(principal))


async def change_policy(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, PolicyBody)
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if not changes:
        raise invalid("name at least one setting to change")
    if changes.get("inactive_account_days", 0) is None or changes.get("erased_content", "") is None:
        raise invalid("inactive_account_days and erased_content cannot be null")
    return web.json_response(await request.app[PRIVACY].change_policy(principal, changes))


async def audit_log(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    query = query_of(request, AuditQuery)
    page = await request.app[PRIVACY].audit_page(principal, query.before_seq, query.limit)
    return web.json_response(page)


async def audit_verify(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    query = query_of(request, SeenHeadQuery)
    return web.json_response(await request.app[PRIVACY].audit_verify(principal, query.checkpoint()))
