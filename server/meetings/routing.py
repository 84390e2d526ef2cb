"""Which process holds a room's meeting, and getting a tab's media signalling there.

A meeting's peer connections live in one process (aiortc state cannot move). With one process
(``LocalMeetings``) every tab's signalling goes straight to ``Meetings``. With several
processes on Redis (``RoutedMeetings``), the first process whose tab joins a room's media
claims the meeting in a Redis directory (a key with a time-to-live that the holder keeps
refreshing); a tab connected to another process has its ``media:*`` calls forwarded to the
holder over Redis pub/sub and answered the same way. The holder reaches the tab directly:
Socket.IO's Redis manager delivers its events (offers, members, speaker) to a tab on any
process. If the holder dies, its directory key expires and the next join claims the room.

When the holder is stopped (SIGTERM: a rolling deploy), it hands its meetings over: it gives up
its directory keys at once, tells each process with tabs in them which tabs those are, and
those processes tell the tabs (``media:restart``) to join again, which places the meeting on a
process that stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from server.infra.broadcast import Broadcaster
from server.infra.errors import AppError, ErrorCode
from server.meetings.service import Meetings, room_key
from server.office.service import Office
from server.office.state import Moved
from server.people.identity import Principal

log = logging.getLogger("officehours.meetings")

CLAIM_SECONDS = 15  # a holder that stops refreshing loses its rooms after this
REFRESH_SECONDS = 5
CALL_TIMEOUT = 10.0


class MeetingAccess(Protocol):
    """What the Socket.IO adapter calls for a tab's media."""

    async def join(
        self, principal: Principal, sid: str, video_codecs: tuple[str, ...] | None
    ) -> dict[str, Any]: ...
    async def leave(self, sid: str) -> None: ...
    async def publish(self, sid: str, source: str, sdp: object) -> dict[str, Any]: ...
    async def unpublish(self, sid: str, source: str) -> None: ...
    async def answer(self, sid: str, peer_id: object, sdp: object) -> None: ...
    async def set_state(self, sid: str, *, muted: bool, camera_off: bool) -> None: ...
    async def disconnected(self, sid: str) -> None: ...


class LocalMeetings:
    """One process: every meeting is here."""

    def __init__(self, meetings: Meetings) -> None:
        self._meetings = meetings

    async def join(
        self, principal: Principal, sid: str, video_codecs: tuple[str, ...] | None
    ) -> dict[str, Any]:
        return await self._meetings.join(
            principal.org_id, principal.user_id, sid, video_codecs=video_codecs
        )

    async def leave(self, sid: str) -> None:
        await self._meetings.leave(sid)

    async def publish(self, sid: str, source: str, sdp: object) -> dict[str, Any]:
        return await self._meetings.publish(sid, source, sdp)

    async def unpublish(self, sid: str, source: str) -> None:
        await self._meetings.unpublish(sid, source)

    async def answer(self, sid: str, peer_id: object, sdp: object) -> None:
        await self._meetings.answer(sid, peer_id, sdp)

    async def set_state(self, sid: str, *, muted: bool, camera_off: bool) -> None:
        await self._meetings.set_state(sid, muted=muted, camera_off=camera_off)

    async def disconnected(self, sid: str) -> None:
        await self._meetings.disconnected(sid)

    async def hand_over(self) -> None:
        """This process is stopping: its own tabs are told by the restart itself."""


@dataclass(frozen=True)
class _Remote:
    holder: str
    org_id: int
    user_id: int
    room_id: int


class RoutedMeetings(LocalMeetings):
    """Several processes on Redis: meetings held here run here, the others are forwarded."""

    def __init__(
        self,
        meetings: Meetings,
        office: Office,
        broadcaster: Broadcaster,
        redis: Redis,
        prefix: str,
    ) -> None:
        super().__init__(meetings)
        # The office's id for this process: its beat tells the others whether it is alive.
        self.process = office.process
        self._office = office
        self._broadcaster = broadcaster
        self._redis = redis
        self._prefix = prefix
        self._remote: dict[str, _Remote] = {}
        self._calls: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._pubsub: Any = None
        self._claimed: set[str] = set()  # rooms this process claimed and has not released
        # Tabs of other processes in meetings held here: sid -> the process that forwards them.
        self._callers: dict[str, str] = {}
        self._handing_over = False
        office.add_move_listener(self._moved)
        office.add_death_listener(self._holder_died)

    def _inbox(self, process: str) -> str:
        return f"{self._prefix}:media:{process}"

    def _claim_key(self, room: str) -> str:
        return f"{self._prefix}:meeting:{room}"

    async def start(self) -> None:
        """Start listening (subscribing in the loop, so a Redis that is down at start-up
        only delays forwarded meetings instead of stopping the server)."""
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._tasks = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._refresh_claims()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for room in self._meetings.relay.rooms():
            await self._release(room)
        if self._pubsub is not None:
            await self._pubsub.aclose()

    async def hand_over(self) -> None:
        """SIGTERM: stop holding meetings. The directory keys go at once (so the next join
        places each meeting on a process that stays), and every process with tabs in them is
        told which, so it can tell its tabs to join again (``media:restart``)."""
        self._handing_over = True
        for task in self._tasks[1:]:  # no more claim refreshes
            task.cancel()
        for room in {*self._meetings.relay.rooms(), *self._claimed}:
            await self._release(room)
        self._claimed.clear()
        by_process: dict[str, list[str]] = {}
        for sid, process in self._callers.items():
            by_process.setdefault(process, []).append(sid)
        self._callers.clear()
        for process, sids in by_process.items():
            message = {"kind": "released", "holder": self.process, "sids": sids}
            await self._redis.publish(self._inbox(process), json.dumps(message))
        log.info("meetings.handed_over", extra={"count": sum(map(len, by_process.values()))})

    async def _released(self, holder: str, sids: list[str]) -> None:
        """The holder of these tabs' meeting stopped: they join again (and so move it)."""
        for sid in sids:
            remote = self._remote.get(sid)
            if remote is None or remote.holder != holder:
                continue
            del self._remote[sid]
            await self._broadcaster.to_connection(sid, "media:restart", {"room_id": remote.room_id})

    async def _holder_died(self, process: str) -> None:
        """A process was killed (its beat is overdue): the meetings it held are gone with it.
        Its directory keys go now (not when they expire), and this process's tabs in those
        meetings join again (``media:restart``), which places each meeting here or on
        another process that is alive."""
        gone = [(sid, r) for sid, r in self._remote.items() if r.holder == process]
        for room in {room_key(r.org_id, r.room_id) for _, r in gone}:
            if await self._current_holder(room) == process:
                await self._redis.delete(self._claim_key(room))
        for sid, remote in gone:
            self._remote.pop(sid, None)
            await self._broadcaster.to_connection(sid, "media:restart", {"room_id": remote.room_id})
        if gone:
            log.warning("meetings.holder_died", extra={"count": len(gone)})

    # -- the directory ----------------------------------------------------------------------
    async def _holder(self, room: str) -> str:
        """The process holding ``room``'s meeting, claiming it for this one if nobody does
        (or if its holder has been found dead)."""
        key = self._claim_key(room)
        for _ in range(3):
            if await self._redis.set(key, self.process, nx=True, ex=CLAIM_SECONDS):
                return self.process
            holder = await self._current_holder(room)
            if (
                holder is not None
                and holder != self.process
                and holder not in await self._office.alive_processes()
            ):
                await self._redis.delete(key)
                continue
            if holder is not None:
                return holder
        raise AppError(ErrorCode.UNAVAILABLE, "the meeting could not be placed; try again")

    async def _current_holder(self, room: str) -> str | None:
        holder = await self._redis.get(self._claim_key(room))
        return holder.decode() if isinstance(holder, bytes) else holder

    async def _release(self, room: str) -> None:
        if await self._current_holder(room) == self.process:
            await self._redis.delete(self._claim_key(room))

    async def _refresh_claims(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                for room in self._meetings.relay.rooms():
                    await self._redis.set(self._claim_key(room), self.process, ex=CLAIM_SECONDS)
            except Exception:
                log.exception("meetings.claims_not_refreshed")

    # -- the tab-facing calls ---------------------------------------------------------------
    async def join(
        self, principal: Principal, sid: str, video_codecs: tuple[str, ...] | None
    ) -> dict[str, Any]:
        org_id, user_id = principal.org_id, principal.user_id
        room_id = await self._meetings.room_of(org_id, user_id)
        holder = await self._holder(room_key(org_id, room_id))
        previous = self._remote.get(sid)
        if previous is not None and (previous.holder, previous.room_id) != (holder, room_id):
            await self.leave(sid)
        if holder == self.process:
            self._claimed.add(room_key(org_id, room_id))
            return await self._meetings.join(org_id, user_id, sid, video_codecs=video_codecs)
        if self._meetings.attending(sid):
            await self._meetings.leave(sid)
        result = await self._call(
            holder, "join", sid, org_id, user_id, list(video_codecs) if video_codecs else None
        )
        self._remote[sid] = _Remote(holder, org_id, user_id, room_id)
        return dict(result)

    async def leave(self, sid: str) -> None:
        remote = self._remote.pop(sid, None)
        if remote is not None:
            await self._call(remote.holder, "leave", sid)
        await self._meetings.leave(sid)
        await self._release_if_empty()

    async def publish(self, sid: str, source: str, sdp: object) -> dict[str, Any]:
        remote = self._remote.get(sid)
        if remote is None:
            return await self._meetings.publish(sid, source, sdp)
        return dict(await self._call(remote.holder, "publish", sid, source, sdp))

    async def unpublish(self, sid: str, source: str) -> None:
        remote = self._remote.get(sid)
        if remote is None:
            await self._meetings.unpublish(sid, source)
        else:
            await self._call(remote.holder, "unpublish", sid, source)

    async def answer(self, sid: str, peer_id: object, sdp: object) -> None:
        remote = self._remote.get(sid)
        if remote is None:
            await self._meetings.answer(sid, peer_id, sdp)
        else:
            await self._call(remote.holder, "answer", sid, peer_id, sdp)

    async def set_state(self, sid: str, *, muted: bool, camera_off: bool) -> None:
        remote = self._remote.get(sid)
        if remote is None:
            await self._meetings.set_state(sid, muted=muted, camera_off=camera_off)
        else:
            await self._call(remote.holder, "state", sid, muted, camera_off)

    async def disconnected(self, sid: str) -> None:
        with contextlib.suppress(AppError):
            await self.leave(sid)

    async def _moved(self, moved: Moved) -> None:
        """Tabs of this process whose meeting is elsewhere leave it when their person walks
        out (``Meetings`` does the same for meetings held here)."""
        before = moved.before
        for sid, remote in list(self._remote.items()):
            if (remote.org_id, remote.user_id, remote.room_id) == (
                before.org_id,
                before.user_id,
                before.room_id,
            ) and moved.after.room_id != remote.room_id:
                with contextlib.suppress(AppError):
                    await self.leave(sid)
                await self._broadcaster.to_connection(
                    sid, "media:left", {"room_id": remote.room_id}
                )

    async def _release_if_empty(self) -> None:
        held = set(self._meetings.relay.rooms())
        for room in list(self._claimed):
            if room not in held:
                await self._release(room)
                self._claimed.discard(room)

    # -- forwarding -------------------------------------------------------------------------
    async def _call(self, holder: str, op: str, *args: Any) -> Any:
        call_id = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        message = {"kind": "call", "id": call_id, "from": self.process, "op": op, "args": args}
        try:
            await self._redis.publish(self._inbox(holder), json.dumps(message))
            async with asyncio.timeout(CALL_TIMEOUT):
                reply = await future
        except TimeoutError:
            raise AppError(
                ErrorCode.UNAVAILABLE, "the meeting's server did not answer; try again"
            ) from None
        finally:
            self._calls.pop(call_id, None)
        if "error" in reply:
            error = reply["error"]
            raise AppError(ErrorCode(error["code"]), error["message"])
        return reply.get("result")

    async def _listen(self) -> None:
        while True:
            try:
                await self._pubsub.subscribe(self._inbox(self.process))
                async for message in self._pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    body = json.loads(message["data"])
                    if body.get("kind") == "reply":
                        future = self._calls.get(body.get("id"))
                        if future is not None and not future.done():
                            future.set_result(body)
                    elif body.get("kind") == "released":
                        task = asyncio.create_task(
                            self._released(str(body["holder"]), list(body["sids"]))
                        )
                        self._handlers.add(task)
                        task.add_done_callback(self._handlers.discard)
                    elif body.get("kind") == "call":
                        task = asyncio.create_task(self._serve(body))
                        self._handlers.add(task)
                        task.add_done_callback(self._handlers.discard)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("meetings.routing_listen_failed")
                await asyncio.sleep(1)

    async def _serve(self, call: dict[str, Any]) -> None:
        """Run a forwarded call against the meetings held here and reply."""
        reply: dict[str, Any] = {"kind": "reply", "id": call["id"]}
        args = call["args"]
        try:
            op = call["op"]
            if op == "join":
                if self._handing_over:
                    raise AppError(ErrorCode.UNAVAILABLE, "the meeting is moving; try again")
                sid, org_id, user_id, codecs = args
                codecs = tuple(codecs) if codecs else None
                self._claimed.add(room_key(org_id, await self._meetings.room_of(org_id, user_id)))
                reply["result"] = await self._meetings.join(
                    org_id, user_id, sid, video_codecs=codecs
                )
                self._callers[sid] = str(call["from"])
            elif op == "leave":
                self._callers.pop(args[0], None)
                await self._meetings.leave(args[0])
                await self._release_if_empty()
            elif op == "publish":
                reply["result"] = await self._meetings.publish(*args)
            elif op == "unpublish":
                await self._meetings.unpublish(*args)
            elif op == "answer":
                await self._meetings.answer(*args)
            elif op == "state":
                sid, muted, camera_off = args
                await self._meetings.set_state(sid, muted=muted, camera_off=camera_off)
            else:
                raise AppError(ErrorCode.INVALID, "unknown media operation")
        except AppError as error:
            reply["error"] = {"code": error.code.value, "message": error.message}
        except Exception:
            log.exception("meetings.forwarded_call_failed", extra={"op": call.get("op")})
            reply["error"] = {"code": ErrorCode.INTERNAL.value, "message": "media failed"}
        await self._redis.publish(self._inbox(call["from"]), json.dumps(reply))
