"""The default namespace: authenticated connections and the office's events.

Each event has a payload schema that rejects unknown fields and one handler that calls one
service method; the ack is ``{"ok": true, ...}`` or ``{"ok": false, "error": {...}}``.
Logs carry event names and ids, never payloads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any

import socketio
from pydantic import ValidationError

from rooms.presence import Status
from server.chat.service import Chat
from server.guests.service import Guests
from server.infra.clock import Clock
from server.infra.errors import AppError, ErrorCode, from_validation
from server.infra.metrics import Registry
from server.infra.outages import is_outage, unavailable
from server.infra.ratelimit import TokenBucket
from server.meetings.routing import MeetingAccess
from server.office.activity import Activity
from server.office.service import Office
from server.people.auth import Authenticator, password_change_required
from server.people.identity import Principal
from server.realtime import outbound
from server.realtime import payloads as p
from server.realtime.broadcaster import session_room
from server.realtime.sio import RefusedConnection

log = logging.getLogger("officehours.realtime")

Handler = Callable[[Principal, Any], Awaitable[dict[str, Any]]]
# Media belongs to one tab, so its handlers also get the connection id.
TabHandler = Callable[[Principal, str, Any], Awaitable[dict[str, Any]]]


def ok(**data: Any) -> dict[str, Any]:
    return {"ok": True, **data}


def refused(error: AppError) -> dict[str, Any]:
    return {"ok": False, "error": error.as_payload()}


TOO_LONG = frozenset({"string_too_long", "too_long", "bytes_too_long"})


def parse(model: type[p.Payload], payload: Any) -> Any:
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise AppError(ErrorCode.INVALID, "the payload must be an object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        error = from_validation(exc)
        if exc.errors(include_url=False)[0]["type"] in TOO_LONG:
            # A text or list past its limit is too large, whatever limit caught it (the
            # service's, or the model's outer bound on what is parsed at all).
            error = AppError(ErrorCode.TOO_LARGE, error.message)
        raise error from None


class OfficeNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self,
        auth: Authenticator,
        activity: Activity,
        office: Office,
        chat: Chat,
        guests: Guests,
        meetings: MeetingAccess,
        metrics: Registry,
        clock: Clock,
        cookie_name: str,
        event_burst: int = 100,
        event_per_second: float = 20.0,
    ) -> None:
        super().__init__("/")
        self._auth = auth
        self._activity = activity
        self._office = office
        self._chat = chat
        self._guests = guests
        self._meetings = meetings
        self._metrics = metrics
        self._clock = clock
        self._cookie_name = cookie_name
        self._connections: dict[str, tuple[Principal, float]] = {}
        # When each connection's sign-in session expires: ``end_expired`` closes it then.
        self._expires: dict[str, datetime] = {}
        self._recording: set[asyncio.Task[None]] = set()
        # Every event of a connection, known or not, draws from one bucket: a client that
        # floods is refused cheaply, before parsing, while real clients stay far below it.
        self._events_per_connection = TokenBucket(event_burst, event_per_second)
        self.events: dict[str, tuple[type[p.Payload], Handler]] = {
            "whoami": (p.Empty, self.handle_whoami),
            "office:snapshot": (p.Empty, self.handle_snapshot),
            "presence:set": (p.SetPresence, self.handle_set_presence),
            "presence:idle": (p.SetIdle, self.handle_set_idle),
            "room:enter": (p.EnterRoom, self.handle_enter_room),
            "room:leave": (p.Empty, self.handle_leave_room),
            "room:position": (p.SetPosition, self.handle_set_position),
            "request:answer": (p.AnswerRequest, self.handle_answer_request),
            "request:cancel": (p.CancelRequest, self.handle_cancel_request),
            "person:get": (p.GetPerson, self.handle_get_person),
            "guest:status": (p.Empty, self.handle_guest_status),
            "guest:remove": (p.GetPerson, self.handle_guest_remove),
            "chat:room": (p.ChatRoom, self.handle_chat_room),
            "chat:open_direct": (p.ChatOpenDirect, self.handle_chat_open_direct),
            "chat:list": (p.Empty, self.handle_chat_list),
            "chat:send": (p.ChatSend, self.handle_chat_send),
            "chat:history": (p.ChatHistory, self.handle_chat_history),
            "chat:sync": (p.ChatSync, self.handle_chat_sync),
            "chat:read": (p.ChatRead, self.handle_chat_read),
            "chat:edit": (p.ChatEdit, self.handle_chat_edit),
            "chat:delete": (p.ChatDelete, self.handle_chat_delete),
            "chat:typing": (p.ChatTyping, self.handle_chat_typing),
        }
        self.tab_events: dict[str, tuple[type[p.Payload], TabHandler]] = {
            "media:join": (p.MediaJoin, self.handle_media_join),
            "media:leave": (p.Empty, self.handle_media_leave),
            "media:publish": (p.MediaPublish, self.handle_media_publish),
            "media:unpublish": (p.MediaUnpublish, self.handle_media_unpublish),
            "media:answer": (p.MediaAnswer, self.handle_media_answer),
            "media:state": (p.MediaState, self.handle_media_state),
        }

    # -- connection lifecycle ---------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = _cookie(environ.get("HTTP_COOKIE", ""), self._cookie_name)
        info = await self._auth.authenticate(token)
        if info is None:
            self._metrics.errors.inc("realtime", ErrorCode.UNAUTHORIZED.value)
            raise RefusedConnection(
                "sign in first", {"code": ErrorCode.UNAUTHORIZED.value, "message": "sign in first"}
            )
        if info.password_change_required:
            self._metrics.errors.inc("realtime", ErrorCode.PASSWORD_CHANGE_REQUIRED.value)
            error = password_change_required()
            raise RefusedConnection(error.message, error.as_payload())
        principal = info.principal
        self._connections[sid] = (principal, self._clock.monotonic())
        self._expires[sid] = info.expires_at
        self._metrics.realtime_connections.inc()
        # Sign-out, password changes and resets close the session's connections through it.
        await self.enter_room(sid, session_room(principal.session_id))
        await self.enter_room(sid, f"user:{principal.user_id}")
        if not principal.is_guest:  # guests see one room, never the office
            await self.enter_room(sid, f"org:{principal.org_id}")
        await self._office.connected(principal, sid)
        # A suspension, reset, erasure or sign-out that ran while this connection was being
        # set up found no connection of it to close: now that it is registered (in the
        # session's room and in presence), check the session once more, so that of the two
        # one always sees the other.
        if await self._auth.authenticate(token) is None:
            self._connections.pop(sid, None)
            self._expires.pop(sid, None)
            self._metrics.realtime_connections.dec()
            await self._office.disconnected(principal, sid)
            self._metrics.errors.inc("realtime", ErrorCode.UNAUTHORIZED.value)
            raise RefusedConnection(
                "this session has ended",
                {"code": ErrorCode.UNAUTHORIZED.value, "message": "this session has ended"},
            )
        await self._activity.connected(principal)
        log.info("realtime.connected", extra={"sid": sid, "user_id": principal.user_id})

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._events_per_connection.forget(sid)
        self._expires.pop(sid, None)
        entry = self._connections.pop(sid, None)
        if entry is None:
            return
        principal, since = entry
        self._metrics.realtime_connections.dec()
        task = asyncio.create_task(self._closed(principal, sid, self._clock.monotonic() - since))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)
        await task
        log.info("realtime.disconnected", extra={"sid": sid, "user_id": principal.user_id})

    async def _closed(self, principal: Principal, sid: str, seconds: float) -> None:
        await self._meetings.disconnected(sid)
        await self._office.disconnected(principal, sid)
        await self._activity.disconnected(principal, seconds)

    async def end_expired(self) -> int:
        """Close this process's connections whose sign-in session has expired (run every
        second by the app, against its clock); returns how many."""
        now = self._clock.now()
        expired = [sid for sid, at in self._expires.items() if at <= now]
        for sid in expired:
            self._expires.pop(sid, None)
            ended = {"reason": "expired"}
            outbound.check("session:ended", ended)
            await self.emit("session:ended", ended, to=sid)
            await self.disconnect(sid)
        if expired:
            log.info("realtime.sessions_expired", extra={"count": len(expired)})
        return len(expired)

    async def drain(self) -> None:
        """Wait for disconnect bookkeeping (called at shutdown, after every connection was
        told to close and before the database closes): first for the disconnect handlers
        themselves, which engine.io runs a little later, then for what they started."""
        for _ in range(60):
            if not self._connections:
                break
            await asyncio.sleep(0.05)
        if self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    # -- dispatch ---------------------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Every event passes here: count it, validate it, turn refusals into error acks."""
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        entry = self.events.get(event)
        tab_entry = self.tab_events.get(event)
        self._metrics.realtime_events.inc(event if entry or tab_entry else "unknown")
        wait = self._events_per_connection.take(args[0], self._clock.monotonic())
        if wait is not None:
            self._metrics.errors.inc("realtime", ErrorCode.RATE_LIMITED.value)
            return refused(
                AppError(ErrorCode.RATE_LIMITED, "too many events; slow down", retry_after=wait)
            )
        if entry is None and tab_entry is None:
            return refused(AppError(ErrorCode.NOT_FOUND, "unknown event"))
        if len(args) > 2:  # sid and at most one payload
            self._metrics.errors.inc("realtime", ErrorCode.INVALID.value)
            return refused(AppError(ErrorCode.INVALID, "send one payload object"))
        sid, payload = args[0], (args[1] if len(args) == 2 else None)
        try:
            connection = self._connections.get(sid)
            if connection is None:
                raise AppError(ErrorCode.UNAUTHORIZED, "this connection is not signed in")
            if tab_entry is not None:
                tab_schema, tab_handler = tab_entry
                return await tab_handler(connection[0], sid, parse(tab_schema, payload))
            assert entry is not None
            schema, handler = entry
            return await handler(connection[0], parse(schema, payload))
        except AppError as error:
            self._metrics.errors.inc("realtime", error.code.value)
            return refused(error)
        except Exception as exc:
            if is_outage(exc):
                log.warning("realtime.storage_unreachable", extra={"event": event})
                self._metrics.errors.inc("realtime", ErrorCode.UNAVAILABLE.value)
                return refused(unavailable())
            log.exception("realtime.unhandled", extra={"event": event})
            self._metrics.errors.inc("realtime", ErrorCode.INTERNAL.value)
            return refused(AppError(ErrorCode.INTERNAL, "something went wrong on our side"))

    # -- events -----------------------------------------------------------------------------

    async def handle_whoami(self, principal: Principal, _: p.Empty) -> dict[str, Any]:
        return ok(
            user={
                "id": principal.user_id,
                "display_name": principal.display_name,
                "org_id": principal.org_id,
            },
            roles=[g.role.value for g in principal.grants],
        )

    async def handle_snapshot(self, principal: Principal, _: p.Empty) -> dict[str, Any]:
        return ok(**await self._office.snapshot(principal))

    async def handle_set_presence(
        self, principal: Principal, body: p.SetPresence
    ) -> dict[str, Any]:
        person = await self._office.set_status(principal, Status(body.status), body.text)
        return ok(person=person.public())

    async def handle_set_idle(self, principal: Principal, body: p.SetIdle) -> dict[str, Any]:
        person = await self._office.set_idle(principal, body.idle)
        return ok(person=person.public())

    async def handle_enter_room(self, principal: Principal, body: p.EnterRoom) -> dict[str, Any]:
        return ok(**await self._office.enter(principal, body.room_id))

    async def handle_leave_room(self, principal: Principal, _: p.Empty) -> dict[str, Any]:
        await self._office.leave(principal)
        return ok()

    async def handle_set_position(
        self, principal: Principal, body: p.SetPosition
    ) -> dict[str, Any]:
        person = await self._office.set_position(principal, body.x, body.y)
        return ok(rev=person.rev)

    async def handle_answer_request(
        self, principal: Principal, body: p.AnswerRequest
    ) -> dict[str, Any]:
        return ok(outcome=await self._office.answer(principal, body.request_id, body.accept))

    async def handle_cancel_request(
        self, principal: Principal, body: p.CancelRequest
    ) -> dict[str, Any]:
        await self._office.cancel(principal, body.request_id)
        return ok()

    async def handle_get_person(self, principal: Principal, body: p.GetPerson) -> dict[str, Any]:
        request = await self._office.get_person(principal, body.user_id)
        return ok(request_id=request.id)

    async def handle_chat_room(self, principal: Principal, body: p.ChatRoom) -> dict[str, Any]:
        return ok(**await self._chat.room_chat(principal, body.room_id))

    async def handle_chat_open_direct(
        self, principal: Principal, body: p.ChatOpenDirect
    ) -> dict[str, Any]:
        return ok(conversation=await self._chat.open_direct(principal, list(body.user_ids)))

    async def handle_chat_list(self, principal: Principal, _: p.Empty) -> dict[str, Any]:
        return ok(conversations=await self._chat.conversations(principal))

    async def handle_chat_send(self, principal: Principal, body: p.ChatSend) -> dict[str, Any]:
        message = await self._chat.send(
            principal, body.conversation_id, body.client_id, body.body, list(body.mentions)
        )
        return ok(message=message)

    async def handle_chat_history(
        self, principal: Principal, body: p.ChatHistory
    ) -> dict[str, Any]:
        return ok(
            **await self._chat.history(principal, body.conversation_id, body.before_seq, body.limit)
        )

    async def handle_chat_sync(self, principal: Principal, body: p.ChatSync) -> dict[str, Any]:
        cursors = [(c.conversation_id, c.after_seq) for c in body.cursors]
        return ok(conversations=await self._chat.sync(principal, cursors))

    async def handle_chat_read(self, principal: Principal, body: p.ChatRead) -> dict[str, Any]:
        return ok(**await self._chat.mark_read(principal, body.conversation_id, body.seq))

    async def handle_chat_edit(self, principal: Principal, body: p.ChatEdit) -> dict[str, Any]:
        return ok(message=await self._chat.edit(principal, body.message_id, body.body))

    async def handle_chat_delete(self, principal: Principal, body: p.ChatDelete) -> dict[str, Any]:
        return ok(message=await self._chat.delete(principal, body.message_id))

    async def handle_chat_typing(self, principal: Principal, body: p.ChatTyping) -> dict[str, Any]:
        await self._chat.typing(principal, body.conversation_id)
        return ok()

    async def handle_guest_status(self, principal: Principal, _: p.Empty) -> dict[str, Any]:
        return ok(**await self._office.guest_view(principal))

    async def handle_guest_remove(self, principal: Principal, body: p.GetPerson) -> dict[str, Any]:
        await self._guests.remove_guest(principal, body.user_id)
        return ok()

    # -- media (per tab) --------------------------------------------------------------------

    async def handle_media_join(
        self, principal: Principal, sid: str, body: p.MediaJoin
    ) -> dict[str, Any]:
        codecs = tuple(body.video_codecs) if body.video_codecs else None
        return ok(**await self._meetings.join(principal, sid, codecs))

    async def handle_media_leave(
        self, principal: Principal, sid: str, _: p.Empty
    ) -> dict[str, Any]:
        await self._meetings.leave(sid)
        return ok()

    async def handle_media_publish(
        self, principal: Principal, sid: str, body: p.MediaPublish
    ) -> dict[str, Any]:
        return ok(**await self._meetings.publish(sid, body.source, body.sdp))

    async def handle_media_unpublish(
        self, principal: Principal, sid: str, body: p.MediaUnpublish
    ) -> dict[str, Any]:
        await self._meetings.unpublish(sid, body.source)
        return ok()

    async def handle_media_answer(
        self, principal: Principal, sid: str, body: p.MediaAnswer
    ) -> dict[str, Any]:
        await self._meetings.answer(sid, body.peer_id, body.sdp)
        return ok()

    async def handle_media_state(
        self, principal: Principal, sid: str, body: p.MediaState
    ) -> dict[str, Any]:
        await self._meetings.set_state(sid, muted=body.muted, camera_off=body.camera_off)
        return ok()


def _cookie(header: str, name: str) -> str | None:
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None
