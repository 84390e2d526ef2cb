"""The admin sub-application under ``/api/admin/``: dashboards, CSV exports, per-person activity.

Figures come from ``server.analytics.read`` only, on ``ANALYTICS_DB`` (on PostgreSQL, when
configured, a role that can SELECT the analytics tables and nothing else). Each dashboard
query and export is written to the audit log before the answer leaves. Its own middleware
admits organization admins, unit admins and group leads; scopes are checked per request.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from server.analytics import read
from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.http.enforce import query_of
from server.http.keys import ANALYTICS_DB, CLOCK, DB, SETTINGS
from server.http.middleware import require_session
from server.http.schemas import DashboardQuery
from server.infra.errors import forbidden, not_found
from server.people.identity import Principal

ADMIN_PREFIX = "/api/admin"
TABLES = [d for d in read.Dashboard if d is not read.Dashboard.PEOPLE]


@web.middleware
async def dashboard_viewers_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    principal = require_session(request).principal
    if not read.may_view_dashboards(principal):
        raise forbidden("dashboards are for organization admins, unit admins and group leads")
    response = await handler(request)
    response.headers["Cache-Control"] = "no-store"
    return response


def create_admin_app(routes: list[tuple[str, str, Handler]]) -> web.Application:
    admin = web.Application(middlewares=[dashboard_viewers_only])
    for method, path, handler in routes:
        admin.router.add_route(method, path, handler)
    return admin


def _window(request: web.Request, query: DashboardQuery) -> read.Window:
    end = query.end or request.config_dict[CLOCK].now().date()
    start = query.start or read.default_window(end).start
    return read.Window(start, end, read.Granularity(query.granularity))


def _dashboard(request: web.Request) -> read.Dashboard:
    try:
        dashboard = read.Dashboard(request.match_info["name"])
    except ValueError:
        raise not_found("no such dashboard") from None
    if dashboard is read.Dashboard.PEOPLE:
        raise not_found("per-person activity is at /api/admin/people")
    return dashboard


async def _audit(
    request: web.Request,
    principal: Principal,
    action: AuditAction,
    dashboard: read.Dashboard,
    scope: read.Scope,
    window: read.Window,
) -> None:
    async with request.config_dict[DB]() as session:
        await append(
            session,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            action=action,
            at=request.config_dict[CLOCK].now(),
            target_kind=TargetKind.DASHBOARD,
            detail={
                "dashboard": dashboard.value,
                "scope": scope.label,
                "unit_id": scope.unit_id,
                "group_id": scope.group_id,
                "from": window.start.isoformat(),
                "to": window.end.isoformat(),
                "granularity": window.granularity.value,
            },
        )
        await session.commit()


async def index(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    async with request.config_dict[ANALYTICS_DB]() as session:
        per_person = await read.per_person_activity_allowed(session, principal.org_id)
    async with request.config_dict[DB]() as session:
        names = await read.scope_names(session, principal)
    return web.json_response(
        {
            "dashboards": [d.value for d in TABLES],
            "scopes": read.scopes_of(principal),
            # Every scope the caller may open (not only their grants), with its name.
            "scope_names": names,
            "min_group_size": request.config_dict[SETTINGS].analytics_min_group_size,
            "per_person_activity": per_person,
        }
    )


async def _table(request: web.Request, action: AuditAction) -> read.Table:
    principal = require_session(request).principal
    dashboard = _dashboard(request)
    query = query_of(request, DashboardQuery)
    window = _window(request, query)
    k = request.config_dict[SETTINGS].analytics_min_group_size
    async with request.config_dict[ANALYTICS_DB]() as session:
        scope = await read.resolve_scope(session, principal, query.scope)
        table = await read.dashboard(session, dashboard, scope, window, k)
    await _audit(request, principal, action, dashboard, scope, window)
    return table


async def view_dashboard(request: web.Request) -> web.Response:
    table = await _table(request, AuditAction.DASHBOARD_VIEWED)
    return web.json_response(table.as_json())


def _filename(name: str, scope: read.Scope, window: read.Window) -> str:
    return f"{name}-{scope.label.replace(':', '-')}-{window.start}-{window.end}.csv"


async def export_dashboard(request: web.Request) -> web.Response:
    table = await _table(request, AuditAction.DASHBOARD_EXPORTED)
    return _csv(table.as_csv(), _filename(table.dashboard.value, table.scope, table.window))


def _csv(text: str, filename: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _people(request: web.Request, action: AuditAction) -> tuple[read.Scope, Any, list[Any]]:
    principal = require_session(request).principal
    query = query_of(request, DashboardQuery)
    window = _window(request, query)
    async with request.config_dict[ANALYTICS_DB]() as session:
        scope = await read.resolve_scope(session, principal, query.scope)
        activity = await read.people_activity(session, scope, window)
    async with request.config_dict[DB]() as session:
        names = await read.person_names(session, scope.org_id, [a.person for a in activity])
    rows = []
    for item in activity:
        user_id, name = names.get(item.person, (None, None))
        rows.append(
            {
                "user_id": user_id,  # None: an erased person, counted anonymously
                "display_name": name,
                "events": item.events,
                "messages": item.messages,
                "meetings": item.meetings,
                "last_active": item.last_active.isoformat() if item.last_active else None,
            }
        )
    await _audit(request, principal, action, read.Dashboard.PEOPLE, scope, window)
    return scope, window, rows


async def people(request: web.Request) -> web.Response:
    scope, window, rows = await _people(request, AuditAction.DASHBOARD_VIEWED)
    return web.json_response(
        {
            "scope": scope.label,
            "from": window.start.isoformat(),
            "to": window.end.isoformat(),
            "people": rows,
        }
    )


async def export_people(request: web.Request) -> web.Response:
    scope, window, rows = await _people(request, AuditAction.DASHBOARD_EXPORTED)
    return _csv(read.people_csv(rows), _filename("people", scope, window))
