"""The default namespace: authenticated connections and their events.

Each handler validates its payload against a schema that rejects unknown fields, calls one
service, and acks ``{"ok": true, ...}`` or ``{"ok": false, "error": {"code", "message"}}``.
Logs carry event names and ids, never payloads.
"""

from __future__ import annotations

import asyncio
import logging
from http.cookies import CookieError, SimpleCookie
from typing import Any

import socketio
from pydantic import BaseModel, ConfigDict, ValidationError

from server.activity import Activity
from server.auth import Authenticator
from server.clock import Clock
from server.errors import AppError, ErrorCode, from_validation
from server.identity import Principal
from server.metrics import Registry
from server.realtime.sio import RefusedConnection

log = logging.getLogger("officehours.realtime")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WhoAmI(Payload):
    """``whoami`` takes an empty object."""


def ok(**data: Any) -> dict[str, Any]:
    return {"ok": True, **data}


def refused(error: AppError) -> dict[str, Any]:
    return {"ok": False, "error": error.as_payload()}


def parse(model: type[Payload], payload: Any) -> Payload:
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise AppError(ErrorCode.INVALID, "the payload must be an object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise from_validation(exc) from None


class OfficeNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self,
        auth: Authenticator,
        activity: Activity,
        metrics: Registry,
        clock: Clock,
        cookie_name: str,
    ) -> None:
        super().__init__("/")
        self._auth = auth
        self._activity = activity
        self._metrics = metrics
        self._clock = clock
        self._cookie_name = cookie_name
        self._connections: dict[str, tuple[Principal, float]] = {}
        self._recording: set[asyncio.Task[None]] = set()

    def principal(self, sid: str) -> Principal:
        entry = self._connections.get(sid)
        if entry is None:
            raise AppError(ErrorCode.UNAUTHORIZED, "this connection is not signed in")
        return entry[0]

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = _cookie(environ.get("HTTP_COOKIE", ""), self._cookie_name)
        info = await self._auth.authenticate(token)
        if info is None:
            self._metrics.errors.inc("realtime", ErrorCode.UNAUTHORIZED.value)
            raise RefusedConnection(
                "sign in first", {"code": ErrorCode.UNAUTHORIZED.value, "message": "sign in first"}
            )
        principal = info.principal
        self._connections[sid] = (principal, self._clock.monotonic())
        self._metrics.realtime_connections.inc()
        await self.enter_room(sid, f"user:{principal.user_id}")
        await self.enter_room(sid, f"org:{principal.org_id}")
        await self._activity.connected(principal)
        log.info("realtime.connected", extra={"sid": sid, "user_id": principal.user_id})

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        entry = self._connections.pop(sid, None)
        if entry is None:
            return
        principal, since = entry
        self._metrics.realtime_connections.dec()
        task = asyncio.create_task(
            self._activity.disconnected(principal, self._clock.monotonic() - since)
        )
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)
        await task
        log.info("realtime.disconnected", extra={"sid": sid, "user_id": principal.user_id})

    async def drain(self) -> None:
        """Wait for connected-time records still being written (called at shutdown, before
        the database closes)."""
        if self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Every event passes here: count it, turn refusals into error acks."""
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        handler = getattr(self, f"on_{event}", None) if event.isidentifier() else None
        self._metrics.realtime_events.inc(event if handler else "unknown")
        if handler is None:
            return refused(AppError(ErrorCode.NOT_FOUND, "unknown event"))
        if len(args) > 2:  # sid and at most one payload
            self._metrics.errors.inc("realtime", ErrorCode.INVALID.value)
            return refused(AppError(ErrorCode.INVALID, "send one payload object"))
        try:
            return await handler(*args)
        except AppError as error:
            self._metrics.errors.inc("realtime", error.code.value)
            return refused(error)
        except Exception:
            log.exception("realtime.unhandled", extra={"event": event})
            self._metrics.errors.inc("realtime", ErrorCode.INTERNAL.value)
            return refused(AppError(ErrorCode.INTERNAL, "something went wrong on our side"))

    async def on_whoami(self, sid: str, payload: Any = None) -> dict[str, Any]:
        parse(WhoAmI, payload)
        p = self.principal(sid)
        return ok(
            user={"id": p.user_id, "display_name": p.display_name, "org_id": p.org_id},
            roles=[g.role.value for g in p.grants],
        )


def _cookie(header: str, name: str) -> str | None:
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None
