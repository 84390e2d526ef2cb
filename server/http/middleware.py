"""Cross-cutting HTTP behaviour: JSON errors, metrics, session lookup, CSRF and Origin checks."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from server.http.errors import error_response
from server.http.keys import AUTH, METRICS, SESSION, SETTINGS
from server.infra.errors import AppError, ErrorCode, forbidden, unauthorized
from server.infra.outages import is_outage, unavailable
from server.people.auth import SessionInfo, password_change_required
from server.people.tokens import same

log = logging.getLogger("officehours.http")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
# These act on no existing session (they open a new one), so an old cookie in the browser
# must not block them; the Origin check and the JSON-only body still apply.
SOCKETIO_PREFIX = "/socket.io/"
SESSION_OPENING_PATHS = frozenset({"/api/auth/sign-in", "/api/auth/join"})
# All a session opened with an admin's reset credential may do: see itself and the reset,
# set a new password, or sign out. Every other API request answers password_change_required.
PASSWORD_CHANGE_PATHS = frozenset(
    {
        "/api/auth/session",
        "/api/auth/sign-out",
        "/api/auth/sign-out-everywhere",
        "/api/me/password",
        "/api/me/security",
        *SESSION_OPENING_PATHS,
    }
)


def session_cookie_name(secure: bool) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless Secure, Path=/ and no Domain.
    return "__Host-officehours_session" if secure else "officehours_session"


@web.middleware
async def errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    try:
        response = await handler(request)
    except AppError as error:
        response = error_response(error)
        metrics.errors.inc("http", error.code.value)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.INVALID, 413: ErrorCode.TOO_LARGE}.get(
            exc.status, ErrorCode.INVALID if exc.status < 500 else ErrorCode.INTERNAL
        )
        response = web.json_response(
            {"error": {"code": code.value, "message": exc.reason.lower()}}, status=exc.status
        )
        metrics.errors.inc("http", code.value)
    except Exception as exc:
        if is_outage(exc):
            log.warning("http.storage_unreachable", extra={"route": _route_name(request)})
            metrics.errors.inc("http", ErrorCode.UNAVAILABLE.value)
            response = error_response(unavailable())
        else:
            log.exception("http.unhandled", extra={"route": _route_name(request)})
            metrics.errors.inc("http", ErrorCode.INTERNAL.value)
            response = error_response(
                AppError(ErrorCode.INTERNAL, "something went wrong on our side")
            )
    metrics.http_requests.inc(request.method, f"{response.status // 100}xx")
    return response


@web.middleware
async def sessions_and_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the signed-in session, and refuse state changes from other sites.

    Every unsafe request must come from an allowed Origin when the browser names one; one made
    with a session cookie must also carry that session's CSRF token in ``X-CSRF-Token``.
    """
    settings = request.app[SETTINGS]
    token = request.cookies.get(session_cookie_name(settings.secure_cookies))
    info = await request.app[AUTH].authenticate(token) if token else None
    if info is not None:
        request[SESSION] = info
    if request.method not in SAFE_METHODS:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in settings.allowed_origins:
            raise forbidden("cross-site request refused")
        if (
            info is not None
            and request.path not in SESSION_OPENING_PATHS
            # Engine.IO polling POSTs carry frames, not actions; Socket.IO checks the Origin
            # and authenticates the connection itself.
            and not request.path.startswith(SOCKETIO_PREFIX)
        ):
            sent = request.headers.get(CSRF_HEADER, "")
            if not same(sent, info.csrf_token):
                raise forbidden(f"missing or wrong {CSRF_HEADER} header")
    if (
        info is not None
        and info.password_change_required
        and request.path.startswith("/api/")
        and request.path not in PASSWORD_CHANGE_PATHS
    ):
        raise password_change_required()
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def require_session(request: web.Request) -> SessionInfo:
    if SESSION not in request:
        raise unauthorized()
    return request[SESSION]


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def no_websocket_compression(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse permessage-deflate on Socket.IO's WebSocket: compressing every frame once per
    recipient costs a zlib context per connection (≈100 KB) and about a third of fan-out
    capacity (the presence benchmark in docs/benchmarks.md). Events are small JSON."""
    if request.path.startswith(SOCKETIO_PREFIX) and "Sec-WebSocket-Extensions" in request.headers:
        headers = request.headers.copy()
        del headers["Sec-WebSocket-Extensions"]
        request = request.clone(headers=headers)
    return await handler(request)
