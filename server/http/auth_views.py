"""Sign-in, join with an invite code, who am I, sign-out (here or everywhere), my sessions
and my password."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from server.http.enforce import body_of
from server.http.errors import path_id
from server.http.keys import AUTH, SETTINGS
from server.http.middleware import require_session, session_cookie_name
from server.http.schemas import ChangePasswordBody, InviteCodeBody, JoinBody, SignInBody
from server.infra.settings import Settings
from server.people.auth import SessionInfo, SignedIn

DEVICE_COOKIE_DAYS = 365


def session_json(info: SessionInfo) -> dict[str, object]:
    p = info.principal
    return {
        "user": {"id": p.user_id, "display_name": p.display_name, "org_id": p.org_id},
        "roles": [
            {"role": g.role.value, "unit_id": g.unit_id, "group_id": g.group_id} for g in p.grants
        ],
        "csrf_token": info.csrf_token,
        "expires_at": info.expires_at.isoformat(),
        "password_change_required": info.password_change_required,
    }


def client_address(request: web.Request) -> str:
    """The client's address, for rate limits. Behind a reverse proxy listed in
    OFFICEHOURS_TRUSTED_PROXIES, the nearest address in X-Forwarded-For that is not a trusted
    proxy; otherwise the peer itself (a header from anyone else is ignored: it is forgeable)."""
    trusted = request.app[SETTINGS].trusted_proxies
    peer = request.remote or "unknown"
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer


def with_cookie(settings: Settings, signed_in: SignedIn, status: int) -> web.Response:
    body = session_json(signed_in.session)
    body["security_notice"] = signed_in.security_notice
    response = web.json_response(body, status=status)
    set_private_cookie(
        response,
        settings,
        session_cookie_name(settings.secure_cookies),
        signed_in.token,
        settings.session_ttl_hours * 3600,
    )
    return response


def set_private_cookie(
    response: web.Response, settings: Settings, name: str, value: str, max_age: int
) -> None:
    """A cookie scripts cannot read, sent on same-site requests only (HTTPS-only when the
    deployment is)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
    )


def device_cookie_name(secure: bool) -> str:
    return "__Host-officehours_device" if secure else "officehours_device"


async def sign_in(request: web.Request) -> web.Response:
    body = body_of(request, SignInBody)
    settings = request.app[SETTINGS]
    auth = request.app[AUTH]
    cookie = device_cookie_name(settings.secure_cookies)
    signed_in = await auth.sign_in(
        body.email, body.password, client_address(request), request.cookies.get(cookie)
    )
    response = with_cookie(settings, signed_in, 200)
    # This browser now knows the account: guesses from elsewhere will not slow it down.
    set_private_cookie(
        response, settings, cookie, auth.device_token(body.email), DEVICE_COOKIE_DAYS * 86400
    )
    return response


async def join(request: web.Request) -> web.Response:
    body = body_of(request, JoinBody)
    signed_in = await request.app[AUTH].join_with_code(
        body.code, body.email, body.display_name, body.password, client_address(request)
    )
    return with_cookie(request.app[SETTINGS], signed_in, 201)


async def create_invite_code(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    body = body_of(request, InviteCodeBody)
    code = await request.app[AUTH].create_invite_code(
        principal,
        principal.org_id,
        group_id=body.group_id,
        max_uses=body.max_uses,
        valid_for=timedelta(days=body.valid_days) if body.valid_days else None,
    )
    return web.json_response({"code": code}, status=201)


async def current_session(request: web.Request) -> web.Response:
    return web.json_response(session_json(require_session(request)))


def _without_cookie(request: web.Request) -> web.Response:
    response = web.Response(status=204)
    settings = request.app[SETTINGS]
    response.del_cookie(
        session_cookie_name(settings.secure_cookies),
        path="/",
        secure=settings.secure_cookies,
        samesite="Lax",
    )
    return response


async def sign_out(request: web.Request) -> web.Response:
    info = require_session(request)
    await request.app[AUTH].sign_out(info.principal.session_id)
    return _without_cookie(request)


async def sign_out_everywhere(request: web.Request) -> web.Response:
    info = require_session(request)
    await request.app[AUTH].sign_out_everywhere(info.principal)
    return _without_cookie(request)


async def my_sessions(request: web.Request) -> web.Response:
    info = require_session(request)
    return web.json_response({"sessions": await request.app[AUTH].sessions_of(info.principal)})


async def end_my_session(request: web.Request) -> web.Response:
    info = require_session(request)
    session_id = path_id(request, "session_id")
    await request.app[AUTH].end_session(info.principal, session_id)
    if session_id == info.principal.session_id:
        return _without_cookie(request)
    return web.Response(status=204)


async def change_password(request: web.Request) -> web.Response:
    info = require_session(request)
    body = body_of(request, ChangePasswordBody)
    await request.app[AUTH].change_password(
        info.principal, body.current_password, body.new_password
    )
    return web.Response(status=204)


async def account_security(request: web.Request) -> web.Response:
    info = require_session(request)
    return web.json_response(await request.app[AUTH].account_security(info.principal))
