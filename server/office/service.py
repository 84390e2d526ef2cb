"""The office service: presence, walking between rooms, knocking and "get", in real time.

State lives in a ``StateStore`` (memory for one process, Redis for several); rules come from
``rooms``; every change is written first and broadcast after, as coalesced ``office:delta``
batches. Engagement (room time, time together, status changes) goes to analytics as numbers.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms import presence
from rooms.occupancy import Outcome, decide_entry, who_hears_a_knock
from rooms.presence import Person, Status
from rooms.requests import Request, RequestKind, Resolution
from rooms.store import Doc, StateStore
from server.analytics.metrics import Metric
from server.analytics.record import Event, record, record_events
from server.db.models import User
from server.infra.broadcast import Broadcaster, DeltaCoalescer
from server.infra.clock import Clock
from server.infra.errors import AppError, ErrorCode, conflict, forbidden, invalid, not_found
from server.office.layout_store import RoomInfo, org_layout, room_info
from server.people import accounts
from server.people.identity import Principal, UserStatus

log = logging.getLogger("officehours.office")

OFFLINE_QUEUE = "offline"
REQUEST_QUEUE = "requests"
PROCESSES = "processes"  # set: the server processes that have announced their connections
PROCESS_QUEUE = "process-expiry"  # schedule: when each process counts as dead unless it beats
INVITED_SECONDS = 60  # how long an accepted knock or "get" lets the person in
LAYOUT_CACHE_SECONDS = 5.0


def person_key(org_id: int, user_id: int) -> str:
    return f"p:{org_id}:{user_id}"


def room_key(org_id: int, room_id: int) -> str:
    return f"r:{org_id}:{room_id}"


def request_key(request_id: str) -> str:
    return f"q:{request_id}"


def held_key(org_id: int, room_id: int) -> str:
    return f"held:{org_id}:{room_id}"


def process_people_key(process: str) -> str:
    """The people holding a connection on ``process`` (what to clean up if it dies)."""
    return f"conns:{process}"


@dataclass(frozen=True)
class OfficeConfig:
    grace_seconds: float
    knock_timeout_seconds: float
    idle_after_seconds: int
    coalesce_ms: int
    # A process that has not beaten for this long is dead: its connections are dropped.
    process_timeout_seconds: float = 8.0
    # Connections closed by a restart (this process stopping, or restored from the one before)
    # keep their people online and in their room this long, so the restart is a blip.
    restart_grace_seconds: float = 0.0


@dataclass(frozen=True)
class Moved:
    """A completed room change: who, from where (with whom it was shared), to where."""

    before: Person
    after: Person
    left_company: dict[int, float]  # other occupants of the room left, with their entry times


class _Retry(Exception):
    """The person moved between our read and our transaction; read again."""


def _occupants(doc: Doc | None) -> dict[int, float]:
    return {int(k): float(v) for k, v in (doc or {}).get("occupants", {}).items()}


def _room_doc(occupants: dict[int, float], invited: dict[str, float]) -> Doc | None:
    if not occupants and not invited:
        return None
    return {"occupants": {str(k): v for k, v in occupants.items()}, "invited": invited}


class Office:
    def __init__(
        self,
        store: StateStore,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        broadcaster: Broadcaster,
        coalescer: DeltaCoalescer,
        config: OfficeConfig,
    ) -> None:
        self._store = store
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._deltas = coalescer
        self._config = config
        self._process = secrets.token_hex(4)
        self._layout_cache: dict[int, tuple[float, dict[int, RoomInfo]]] = {}
        self._move_listeners: list[Callable[[Moved], Awaitable[None]]] = []
        self._death_listeners: list[Callable[[str], Awaitable[None]]] = []
        # This process's open connections, to announce again when the store lost them.
        self._local: dict[str, Principal] = {}
        # Disconnects the store did not take (it was unreachable): retried at each beat.
        self._unsettled: dict[str, Principal] = {}
        self._announced = False
        self._stopping = False

    def add_move_listener(self, listener: Callable[[Moved], Awaitable[None]]) -> None:
        """Called after every completed room change in this process, going offline included
        (meetings leave a room's media when its person walks out)."""
        self._move_listeners.append(listener)

    async def _tell_move_listeners(self, moved: Moved) -> None:
        for listener in self._move_listeners:
            try:
                await listener(moved)
            except Exception:
                log.exception("office.move_listener_failed")

    def _now(self) -> float:
        return self._clock.now().timestamp()

    @property
    def process(self) -> str:
        """This server process's id in the shared state (its beat, its connections)."""
        return self._process

    def add_death_listener(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """``listener(process)`` when another process is found dead (its beat overdue)."""
        self._death_listeners.append(listener)

    async def alive_processes(self) -> set[str]:
        return await self._store.members(PROCESSES)

    def connection_id(self, sid: str) -> str:
        return f"{self._process}:{sid}"

    # -- presence -------------------------------------------------------------------------

    async def connected(self, principal: Principal, sid: str) -> None:
        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], tuple[Person, Person]]:
            before = (
                Person.from_doc(docs[0])
                if docs[0]
                else Person(
                    principal.org_id,
                    principal.user_id,
                    principal.display_name,
                    guest=principal.is_guest,
                )
            )
            after = presence.connect(before, self.connection_id(sid), principal.display_name)
            return [after.to_doc()], (before, after)

        key = person_key(principal.org_id, principal.user_id)
        # First who to clean up should this process die, then the connection itself.
        await self._store.add_member(process_people_key(self._process), key)
        before, after = await self._store.transact([key], change)
        self._unsettled.pop(sid, None)
        self._local[sid] = principal
        await self._store.add_member(f"people:{principal.org_id}", str(principal.user_id))
        await self._store.unschedule(OFFLINE_QUEUE, key)
        if before.public() | {"rev": 0} != after.public() | {"rev": 0}:
            self._deltas.add(principal.org_id, after.public())

    async def disconnected(self, principal: Principal, sid: str) -> None:
        self._local.pop(sid, None)
        try:
            await self._disconnected(principal, sid)
        except Exception:
            self._unsettled[sid] = principal  # the next beat tries again
            raise
        self._unsettled.pop(sid, None)

    async def _disconnected(self, principal: Principal, sid: str) -> None:
        now = self._now()

        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], Person | None]:
            if docs[0] is None:
                return docs, None
            after = presence.disconnect(Person.from_doc(docs[0]), self.connection_id(sid), now)
            return [after.to_doc()], after

        key = person_key(principal.org_id, principal.user_id)
        after = await self._store.transact([key], change)
        if after is not None and not after.connections:
            grace = self._restart_grace() if self._stopping else self._config.grace_seconds
            await self._store.schedule(OFFLINE_QUEUE, key, now + grace)

    def _restart_grace(self) -> float:
        return max(self._config.grace_seconds, self._config.restart_grace_seconds)

    def stopping(self) -> None:
        """This process is shutting down (SIGTERM): the connections it closes from now on are
        a restart, not people leaving; they get the restart grace period to come back."""
        self._stopping = True

    async def resume_after_restart(self) -> int:
        """After the live office of a stopped process was restored into this one's store
        (``server.office.restart``): drop the connections the old process still held, so their
        people stay where they were for the restart grace period and go offline after it unless
        they reconnect. Returns how many people were waited for."""
        now = self._now()
        waiting = 0
        for process in sorted(await self._store.members(PROCESSES)):
            if process == self._process:
                continue
            for key in sorted(await self._store.members(process_people_key(process))):
                waiting += await self._drop_connections_of(key, process, now, self._restart_grace())
                await self._store.remove_member(process_people_key(process), key)
            await self._store.remove_member(PROCESSES, process)
            await self._store.unschedule(PROCESS_QUEUE, process)
        return waiting

    async def set_status(self, principal: Principal, status: Status, text: str | None) -> Person:
        before, after = await self._update_person(
            principal, lambda p: presence.choose(p, status, text)
        )
        self._deltas.add(principal.org_id, after.public())
        if before.status != after.status:
            await self._record(principal.org_id, principal.user_id, Metric.STATUS_CHANGED)
        if (
            before.chosen is Status.DO_NOT_DISTURB
            and after.chosen is not Status.DO_NOT_DISTURB
            and after.room_id is not None
        ):
            await self._ring(principal.org_id, after.room_id)
        return after

    async def set_idle(self, principal: Principal, idle: bool) -> Person:
        before, after = await self._update_person(principal, lambda p: presence.set_idle(p, idle))
        if before.rev != after.rev:
            self._deltas.add(principal.org_id, after.public())
        return after

    async def set_position(self, principal: Principal, x: int, y: int) -> Person:
        person = await self.person(principal.org_id, principal.user_id)
        if person is None or person.room_id is None:
            raise invalid("walk into a room first")
        room = (await self._rooms(principal.org_id)).get(person.room_id)
        if room is None or not room.contains(x, y):
            raise invalid("that position is outside your room")
        room_id = person.room_id

        def move(p: Person) -> Person:
            if p.room_id != room_id:
                raise conflict("you left that room")
            return p.bump(position=(x, y))

        _, after = await self._update_person(principal, move)
        self._deltas.add(principal.org_id, after.public())
        return after

    # -- rooms ------------------------------------------------------------------------------

    async def enter(self, principal: Principal, room_id: int) -> dict[str, Any]:
        """Walk into a room: entered, knocking (a request the occupants answer) or refused.

        A guest may only go to the room of their link: straight in, or by knocking when the
        link asks the host to admit each guest (even through an open door).
        """
        if principal.is_guest and room_id != principal.guest_room_id:
            raise forbidden("guests may only enter the room they were invited to")
        room = await self._room(principal.org_id, room_id)
        reserved = room.rules.reserved_for
        if reserved is not None and principal.user_id not in reserved:
            raise forbidden(_PAIR_ROOM)  # not even a knock: nobody inside may let others in
        if principal.is_guest and principal.guest_needs_admission:
            person = await self.person(principal.org_id, principal.user_id)
            outcome = Outcome.ENTER if person and person.room_id == room_id else Outcome.KNOCK
        else:
            # A guest's link is their invitation: no knocking, whatever the door.
            outcome, _ = await self._move(
                principal.org_id,
                principal.user_id,
                room,
                invited_ok=True,
                force_invited=principal.is_guest,
            )
        if outcome is Outcome.ENTER:
            return {"outcome": "entered", "room_id": room_id}
        request = await self._knock(principal, room)
        return {
            "outcome": "knocking",
            "room_id": room_id,
            "request_id": request.id,
            "expires_at": _iso(request.expires_at),
        }

    async def leave(self, principal: Principal) -> None:
        await self._move(principal.org_id, principal.user_id, None, invited_ok=False)

    async def _move(
        self,
        org_id: int,
        user_id: int,
        room: RoomInfo | None,
        *,
        invited_ok: bool,
        force_invited: bool = False,
    ) -> tuple[Outcome, Moved | None]:
        now = self._now()
        for _ in range(20):
            current = await self.person(org_id, user_id)
            if current is None or not current.online:
                raise AppError(ErrorCode.CONFLICT, "you are not in the office")
            target = room.id if room else None
            if current.room_id == target:
                return Outcome.ENTER, None
            keys = [person_key(org_id, user_id)]
            if current.room_id is not None:
                keys.append(room_key(org_id, current.room_id))
            if room is not None:
                keys.append(room_key(org_id, room.id))
            try:
                outcome, moved = await self._store.transact(
                    keys,
                    self._move_change(current.room_id, room, now, invited_ok, force_invited),
                )
            except _Retry:
                continue
            if moved is not None:
                await self._after_move(moved, room)
            return outcome, moved
        raise AppError(ErrorCode.UNAVAILABLE, "the office is busy; try again")

    def _move_change(
        self,
        expected_room: int | None,
        room: RoomInfo | None,
        now: float,
        invited_ok: bool,
        force_invited: bool,
    ) -> Callable[[list[Doc | None]], tuple[list[Doc | None], tuple[Outcome, Moved | None]]]:
        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], tuple[Outcome, Moved | None]]:
            if docs[0] is None:
                raise AppError(ErrorCode.CONFLICT, "you are not in the office")
            person = Person.from_doc(docs[0])
            if person.room_id != expected_room:
                raise _Retry
            rest = docs[1:]
            old_doc = rest.pop(0) if expected_room is not None else None
            new_doc = rest.pop(0) if room is not None else None
            new_docs: list[Doc | None] = []
            left_company: dict[int, float] = {}
            new_room_doc: Doc | None = None
            if room is not None:
                occupants = _occupants(new_doc)
                invited = {k: v for k, v in (new_doc or {}).get("invited", {}).items() if v > now}
                is_invited = force_invited or (invited_ok and str(person.user_id) in invited)
                outcome = decide_entry(
                    room.rules, person.user_id, occupants.keys(), invited=is_invited
                )
                if outcome is Outcome.REFUSED_FULL:
                    raise conflict(f"{room.name} is full")
                if outcome is Outcome.REFUSED_LOCKED:
                    raise forbidden(f"{room.name} is locked")
                if outcome is Outcome.REFUSED_PRIVATE:
                    raise forbidden(_PAIR_ROOM)
                if outcome is Outcome.KNOCK:
                    return docs, (outcome, None)
                occupants[person.user_id] = now
                invited.pop(str(person.user_id), None)
                new_room_doc = _room_doc(occupants, invited)
            after = person.bump(
                room_id=room.id if room else None, entered_at=now if room else None, position=None
            )
            new_docs.append(after.to_doc())
            if expected_room is not None:
                old = _occupants(old_doc)
                old.pop(person.user_id, None)
                left_company = dict(old)
                new_docs.append(_room_doc(old, (old_doc or {}).get("invited", {})))
            if room is not None:
                new_docs.append(new_room_doc)
            return new_docs, (Outcome.ENTER, Moved(person, after, left_company))

        return change

    async def _after_move(self, moved: Moved, room: RoomInfo | None) -> None:
        org_id, user_id = moved.after.org_id, moved.after.user_id
        self._deltas.add(org_id, moved.after.public())
        await self._tell_guests(org_id, {moved.before.room_id, moved.after.room_id})
        await self._record_leave(moved)
        await self._tell_move_listeners(moved)
        if room is not None:
            await self._record(org_id, user_id, Metric.ROOM_ENTERED, room_kind=room)
            if moved.after.chosen is not Status.DO_NOT_DISTURB:
                await self._ring(org_id, room.id)

    # -- knocks and "get" -------------------------------------------------------------------

    async def _knock(self, principal: Principal, room: RoomInfo) -> Request:
        held = await self._store.members(held_key(principal.org_id, room.id))
        for doc in await self._store.get_many([request_key(r) for r in sorted(held)]):
            if doc and doc["user_id"] == principal.user_id:
                return _request_of(doc)
        now = self._now()
        request = Request(
            secrets.token_urlsafe(12),
            RequestKind.KNOCK,
            principal.org_id,
            room.id,
            principal.user_id,
            principal.display_name,
            None,
            now,
            now + self._config.knock_timeout_seconds,
        )
        await self._open_request(request)
        await self._store.add_member(held_key(principal.org_id, room.id), request.id)
        await self._ring(principal.org_id, room.id)
        return request

    async def get_person(self, principal: Principal, user_id: int) -> Request:
        """Ask someone to come to the room you are in; they get a prompt."""
        if principal.is_guest:
            raise forbidden("guests cannot get people")
        host = await self.person(principal.org_id, principal.user_id)
        if host is None or host.room_id is None:
            raise invalid("walk into a room first, then get people into it")
        target = await self.person(principal.org_id, user_id)
        if target is None or not target.online or user_id == principal.user_id:
            raise not_found("that person is not in the office")
        if target.guest:
            raise forbidden("guests stay in the room they were invited to")
        if target.room_id == host.room_id:
            raise conflict(f"{target.display_name} is already here")
        if target.status is Status.DO_NOT_DISTURB:
            raise conflict(f"{target.display_name} does not want to be disturbed")
        reserved = (await self._room(principal.org_id, host.room_id)).rules.reserved_for
        if reserved is not None and user_id not in reserved:
            raise forbidden(_PAIR_ROOM)
        now = self._now()
        request = Request(
            secrets.token_urlsafe(12),
            RequestKind.GET,
            principal.org_id,
            host.room_id,
            user_id,
            target.display_name,
            principal.user_id,
            now,
            now + self._config.knock_timeout_seconds,
        )
        await self._open_request(request)
        room = await self._room(principal.org_id, host.room_id)
        await self._broadcaster.to_user(
            user_id, "request", self._prompt(request, room, from_name=principal.display_name)
        )
        return request

    async def _open_request(self, request: Request) -> None:
        await self._store.transact(
            [request_key(request.id)], lambda _: ([request.to_doc() | {"rung": []}], None)
        )
        await self._store.schedule(REQUEST_QUEUE, request.id, request.expires_at)

    def _prompt(self, request: Request, room: RoomInfo, *, from_name: str) -> dict[str, Any]:
        return {
            "request_id": request.id,
            "kind": request.kind.value,
            "room_id": room.id,
            "room_name": room.name,
            "from_name": from_name,
            "expires_at": _iso(request.expires_at),
        }

    async def _ring(self, org_id: int, room_id: int) -> None:
        """Prompt the available occupants for every knock waiting at this room; occupants on
        do-not-disturb are skipped, so a room full of them holds its knocks silently."""
        held = sorted(await self._store.members(held_key(org_id, room_id)))
        if not held:
            return
        (room_doc,) = await self._store.get_many([room_key(org_id, room_id)])
        occupants = _occupants(room_doc)
        people = await self._store.get_many([person_key(org_id, u) for u in occupants])
        quiet = {
            Person.from_doc(d).user_id
            for d in people
            if d and Person.from_doc(d).status is Status.DO_NOT_DISTURB
        }
        hearers = who_hears_a_knock(occupants, quiet)
        if not hearers:
            return
        room = await self._room(org_id, room_id)
        for request_id in held:

            def mark(docs: list[Doc | None]) -> tuple[list[Doc | None], list[int]]:
                if docs[0] is None:
                    return docs, []
                fresh = [u for u in hearers if u not in docs[0]["rung"]]
                return [docs[0] | {"rung": docs[0]["rung"] + fresh}], fresh

            fresh = await self._store.transact([request_key(request_id)], mark)
            if not fresh:
                continue
            (doc,) = await self._store.get_many([request_key(request_id)])
            if doc is None:
                continue
            request = _request_of(doc)
            prompt = self._prompt(request, room, from_name=request.display_name)
            await self._broadcaster.to_users(fresh, "request", prompt)

    async def answer(self, principal: Principal, request_id: str, accept: bool) -> str:
        (doc,) = await self._store.get_many([request_key(request_id)])
        if doc is None:
            raise not_found("that request is no longer open")
        request = _request_of(doc)
        if request.org_id != principal.org_id:
            raise not_found("that request is no longer open")
        now = self._now()

        def take(docs: list[Doc | None]) -> tuple[list[Doc | None], list[int]]:
            req_doc, room_doc = docs
            if req_doc is None:
                raise not_found("that request is no longer open")
            if principal.is_guest or not request.answerable_by(
                principal.user_id, frozenset(_occupants(room_doc))
            ):
                raise forbidden("only someone in the room can answer a knock")
            if not accept:
                return [None, room_doc], list(req_doc["rung"])
            invited = dict((room_doc or {}).get("invited", {}))
            invited[str(request.user_id)] = now + INVITED_SECONDS
            return ([None, _room_doc(_occupants(room_doc), invited)], list(req_doc["rung"]))

        rung = await self._store.transact(
            [request_key(request_id), room_key(request.org_id, request.room_id)], take
        )
        resolution = Resolution.ACCEPTED if accept else Resolution.DECLINED
        if accept:
            try:
                room = await self._room(request.org_id, request.room_id)
                await self._move(request.org_id, request.user_id, room, invited_ok=True)
            except AppError as error:
                resolution = Resolution.EXPIRED
                log.info("office.request_move_failed", extra={"code": error.code.value})
        await self._close_request(request, resolution, rung, answered_by=principal.user_id)
        return resolution.value

    async def cancel(self, principal: Principal, request_id: str) -> None:
        (doc,) = await self._store.get_many([request_key(request_id)])
        if doc is None or doc["org_id"] != principal.org_id:
            raise not_found("that request is no longer open")
        request = _request_of(doc)
        owner = request.host_id if request.kind is RequestKind.GET else request.user_id
        if owner != principal.user_id:
            raise forbidden("only who made a request can cancel it")
        rung = await self._take_request(request_id)
        if rung is not None:
            await self._close_request(request, Resolution.CANCELLED, rung)

    async def _take_request(self, request_id: str) -> list[int] | None:
        def take(docs: list[Doc | None]) -> tuple[list[Doc | None], list[int] | None]:
            return [None], (list(docs[0]["rung"]) if docs[0] else None)

        return await self._store.transact([request_key(request_id)], take)

    async def _close_request(
        self,
        request: Request,
        resolution: Resolution,
        rung: list[int],
        answered_by: int | None = None,
    ) -> None:
        await self._store.unschedule(REQUEST_QUEUE, request.id)
        await self._store.remove_member(held_key(request.org_id, request.room_id), request.id)
        event = {
            "request_id": request.id,
            "kind": request.kind.value,
            "room_id": request.room_id,
            "outcome": resolution.value,
        }
        audience = set(rung) | {request.user_id}
        if request.host_id is not None:
            audience.add(request.host_id)
        await self._broadcaster.to_users(
            audience - ({answered_by} if answered_by else set()), "request:resolved", event
        )

    # -- time-driven changes ----------------------------------------------------------------

    async def sweep(self) -> None:
        """Finish grace periods and expire requests that are due. Safe on every process at
        once: each change is a transaction that only one of them wins."""
        now = self._now()
        await self._beat(now)
        await self._reap_dead_processes(now)
        for key in await self._store.due(OFFLINE_QUEUE, now):
            _, org_id, user_id = key.split(":")
            await self._take_offline(int(org_id), int(user_id), now, after_grace=True)
            await self._store.unschedule(OFFLINE_QUEUE, key)
        for request_id in await self._store.due(REQUEST_QUEUE, now):
            (doc,) = await self._store.get_many([request_key(request_id)])
            rung = await self._take_request(request_id)
            if doc is not None and rung is not None:
                request = _request_of(doc)
                await self._close_request(request, Resolution.EXPIRED, rung)
            else:
                await self._store.unschedule(REQUEST_QUEUE, request_id)

    async def _beat(self, now: float) -> None:
        """Tell the other processes this one is alive. When the store no longer knows this
        process (Redis restarted without its data, or this process was presumed dead after a
        long pause), announce its open connections again so its people are shown online."""
        alive = await self._store.members(PROCESSES)
        if self._announced and self._process not in alive:
            log.warning("office.connections_reannounced", extra={"count": len(self._local)})
            for sid, principal in list(self._local.items()):
                await self.connected(principal, sid)
        for sid, principal in list(self._unsettled.items()):
            await self.disconnected(principal, sid)
        await self._store.add_member(PROCESSES, self._process)
        await self._store.schedule(
            PROCESS_QUEUE, self._process, now + self._config.process_timeout_seconds
        )
        self._announced = True

    async def _reap_dead_processes(self, now: float) -> None:
        """A process killed without shutting down never said goodbye: once its beat is
        overdue, drop its connections, so its people go offline after the grace period
        unless they reconnected elsewhere."""
        for process in await self._store.due(PROCESS_QUEUE, now):
            if process == self._process:
                continue
            for key in sorted(await self._store.members(process_people_key(process))):
                await self._drop_connections_of(key, process, now, self._config.grace_seconds)
                await self._store.remove_member(process_people_key(process), key)
            await self._store.remove_member(PROCESSES, process)
            await self._store.unschedule(PROCESS_QUEUE, process)
            log.warning("office.process_expired", extra={"server_process": process})
            for listener in self._death_listeners:
                try:
                    await listener(process)
                except Exception:
                    log.exception("office.death_listener_failed")

    async def _drop_connections_of(self, key: str, process: str, now: float, grace: float) -> int:
        """Returns 1 if that left the person without connections (their grace began)."""
        prefix = f"{process}:"

        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], Person | None]:
            if docs[0] is None:
                return docs, None
            person = after = Person.from_doc(docs[0])
            for connection in sorted(person.connections):
                if connection.startswith(prefix):
                    after = presence.disconnect(after, connection, now)
            if after == person:
                return docs, None
            return [after.to_doc()], after

        after = await self._store.transact([key], change)
        if after is not None and not after.connections:
            await self._store.schedule(OFFLINE_QUEUE, key, now + grace)
            return 1
        return 0

    async def _take_offline(
        self, org_id: int, user_id: int, now: float, *, after_grace: bool
    ) -> None:
        """Out of the office and out of their room: once the grace period is over (the
        sweep), or at once (a guest whose visit ended)."""
        grace = self._config.grace_seconds
        for _ in range(20):
            person = await self.person(org_id, user_id)
            if person is None or (after_grace and not presence.grace_over(person, now, grace)):
                return
            keys = [person_key(org_id, user_id)]
            if person.room_id is not None:
                keys.append(room_key(org_id, person.room_id))

            def change(
                docs: list[Doc | None], room_id: int | None = person.room_id
            ) -> tuple[list[Doc | None], Moved | None]:
                current = Person.from_doc(docs[0]) if docs[0] else None
                if current is None or (
                    after_grace and not presence.grace_over(current, now, grace)
                ):
                    return docs, None  # came back meanwhile
                if current.room_id != room_id:
                    raise _Retry
                after = presence.go_offline(replace(current, connections=frozenset()))
                new_docs: list[Doc | None] = [after.to_doc()]
                company: dict[int, float] = {}
                if room_id is not None:
                    occupants = _occupants(docs[1])
                    occupants.pop(current.user_id, None)
                    company = dict(occupants)
                    new_docs.append(_room_doc(occupants, (docs[1] or {}).get("invited", {})))
                return new_docs, Moved(current, after, company)

            try:
                moved = await self._store.transact(keys, change)
            except _Retry:
                continue
            if moved is not None:
                self._deltas.add(org_id, moved.after.public())
                await self._tell_guests(org_id, {moved.before.room_id})
                await self._record_leave(moved)
                await self._tell_move_listeners(moved)
            return

    # -- guests -----------------------------------------------------------------------------

    async def _room_people(self, org_id: int, room_id: int) -> list[Person]:
        occupants = await self.occupants(org_id, room_id)
        docs = await self._store.get_many([person_key(org_id, u) for u in sorted(occupants)])
        return [Person.from_doc(d) for d in docs if d]

    async def _tell_guests(self, org_id: int, room_ids: set[int | None]) -> None:
        """Guests get no office deltas (they see one room only): send the guests of each
        changed room who is in it now."""
        for room_id in room_ids:
            if room_id is None:
                continue
            people = await self._room_people(org_id, room_id)
            guests = [p.user_id for p in people if p.guest]
            if guests:
                await self._broadcaster.to_users(
                    guests,
                    "guest:room",
                    {"room_id": room_id, "people": [p.public() for p in people]},
                )

    async def guest_view(self, principal: Principal) -> dict[str, Any]:
        """What a guest may know: their room, who is in it, whether they are inside."""
        if principal.guest_room_id is None:
            raise forbidden("only guests have a guest view")
        room = await self._room(principal.org_id, principal.guest_room_id)
        me = await self.person(principal.org_id, principal.user_id)
        admitted = me is not None and me.room_id == room.id
        people = await self._room_people(principal.org_id, room.id) if admitted else []
        return {
            "room": {"id": room.id, "name": room.name, "kind": room.kind.value},
            "admitted": admitted,
            "needs_admission": principal.guest_needs_admission,
            "people": [p.public() for p in people],
        }

    async def connection_sids(self, org_id: int, user_id: int) -> list[str]:
        """Socket.IO session ids of a person's open connections, on every process."""
        person = await self.person(org_id, user_id)
        return [c.split(":", 1)[1] for c in sorted(person.connections)] if person else []

    async def force_offline(self, org_id: int, user_id: int) -> None:
        """Out of the office now, without a grace period (a guest whose visit ended)."""
        await self._store.unschedule(OFFLINE_QUEUE, person_key(org_id, user_id))
        await self._take_offline(org_id, user_id, self._now(), after_grace=False)

    async def forget(self, org_id: int, user_id: int, display_name: str) -> None:
        """An erased person: from now on their presence shows ``display_name`` and no status
        text, and they are out of the office at once."""

        def scrub(docs: list[Doc | None]) -> tuple[list[Doc | None], None]:
            if docs[0] is None:
                return docs, None
            person = replace(Person.from_doc(docs[0]), display_name=display_name, text="")
            return [person.to_doc()], None

        await self._store.transact([person_key(org_id, user_id)], scrub)
        await self.force_offline(org_id, user_id)

    # -- reading ----------------------------------------------------------------------------

    async def snapshot(self, principal: Principal) -> dict[str, Any]:
        """Everything a colleague sees at a glance: floors, rooms, everyone and their status."""
        if principal.is_guest:
            raise forbidden("guests see only the room they were invited to")
        async with self._db() as session:
            floors, rooms = await org_layout(session, principal.org_id)
            members = (
                await session.execute(
                    select(User.id, User.display_name)
                    .where(
                        User.org_id == principal.org_id,
                        User.status == UserStatus.ACTIVE,
                        User.is_guest.is_(False),
                    )
                    .order_by(User.display_name)
                )
            ).all()
        docs = await self._store.get_many([person_key(principal.org_id, uid) for uid, _ in members])
        people = [
            (Person.from_doc(doc) if doc else Person(principal.org_id, uid, name)).public()
            for (uid, name), doc in zip(members, docs, strict=True)
        ]
        # Guests are nobody's colleagues: listed only while they are here.
        known = {uid for uid, _ in members}
        others = sorted(int(u) for u in await self._store.members(f"people:{principal.org_id}"))
        guest_docs = await self._store.get_many(
            [person_key(principal.org_id, u) for u in others if u not in known]
        )
        people += [
            Person.from_doc(d).public()
            for d in guest_docs
            if d and d.get("guest") and d.get("online")
        ]
        self._layout_cache[principal.org_id] = (self._clock.monotonic(), {r.id: r for r in rooms})
        return {
            "me": principal.user_id,
            "floors": floors,
            "rooms": [r.public(principal.user_id) for r in rooms],
            "people": people,
            "settings": {
                "idle_after_seconds": self._config.idle_after_seconds,
                "coalesce_ms": self._config.coalesce_ms,
            },
        }

    async def person(self, org_id: int, user_id: int) -> Person | None:
        """Current presence of one person (None if never seen)."""
        (doc,) = await self._store.get_many([person_key(org_id, user_id)])
        return Person.from_doc(doc) if doc else None

    async def _update_person(
        self, principal: Principal, fn: Callable[[Person], Person]
    ) -> tuple[Person, Person]:
        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], tuple[Person, Person]]:
            if docs[0] is None:
                raise AppError(ErrorCode.CONFLICT, "you are not in the office")
            before = Person.from_doc(docs[0])
            after = fn(before)
            return [after.to_doc()], (before, after)

        return await self._store.transact([person_key(principal.org_id, principal.user_id)], change)

    async def room(self, org_id: int, room_id: int) -> RoomInfo:
        """A room of the organization (``not_found`` if there is none)."""
        return await self._room(org_id, room_id)

    async def _room(self, org_id: int, room_id: int) -> RoomInfo:
        async with self._db() as session:
            info = await room_info(session, org_id, room_id)
        if info is None:
            raise not_found("no such room")
        return info

    async def _rooms(self, org_id: int) -> dict[int, RoomInfo]:
        """Room geometry for high-frequency checks (positions), cached for a few seconds."""
        cached = self._layout_cache.get(org_id)
        if cached and self._clock.monotonic() - cached[0] < LAYOUT_CACHE_SECONDS:
            return cached[1]
        async with self._db() as session:
            _, rooms = await org_layout(session, org_id)
        by_id = {r.id: r for r in rooms}
        self._layout_cache[org_id] = (self._clock.monotonic(), by_id)
        return by_id

    async def layout_changed(self, org_id: int) -> None:
        """After a committed layout edit: drop the cache and show everyone the new plan (as
        everyone may see it: without the owners of pair rooms)."""
        self._layout_cache.pop(org_id, None)
        async with self._db() as session:
            floors, rooms = await org_layout(session, org_id)
        await self._broadcaster.to_org(
            org_id, "office:layout", {"floors": floors, "rooms": [r.public() for r in rooms]}
        )

    async def occupants(self, org_id: int, room_id: int) -> set[int]:
        (doc,) = await self._store.get_many([room_key(org_id, room_id)])
        return set(_occupants(doc))

    # -- analytics --------------------------------------------------------------------------

    async def _record(
        self, org_id: int, user_id: int, metric: Metric, room_kind: RoomInfo | None = None
    ) -> None:
        async with self._db() as session:
            subject = await accounts.analytics_subject(session, org_id, user_id)
            await record(
                session,
                metric,
                subject,
                at=self._clock.now(),
                room_kind=room_kind.kind if room_kind else None,
            )
            await session.commit()

    async def _record_leave(self, moved: Moved) -> None:
        """Time in the room left, and time spent there with each other occupant."""
        before = moved.before
        if before.room_id is None or before.entered_at is None:
            return
        now = self._now()
        try:
            room = await self._room(before.org_id, before.room_id)
        except AppError:
            return
        async with self._db() as session:
            subject = await accounts.analytics_subject(session, before.org_id, before.user_id)
            at = self._clock.now()
            events = [
                Event(
                    Metric.ROOM_SECONDS,
                    subject,
                    at,
                    room_kind=room.kind,
                    seconds=max(0.0, now - before.entered_at),
                )
            ]
            for other, since in moved.left_company.items():
                peer = await accounts.analytics_subject(session, before.org_id, other)
                events.append(
                    Event(
                        Metric.ROOM_TOGETHER_SECONDS,
                        subject,
                        at,
                        room_kind=room.kind,
                        peer_group_id=peer.group_id,
                        peer=peer.person,
                        seconds=max(0.0, now - max(since, before.entered_at)),
                    )
                )
            await record_events(session, events)  # one statement however full the room was
            await session.commit()


_PAIR_ROOM = "this is a mentoring pair's room: only the pair goes in"


def _request_of(doc: Doc) -> Request:
    """A stored request without its bookkeeping (who was rung)."""
    return Request.from_doc({k: v for k, v in doc.items() if k != "rung"})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
