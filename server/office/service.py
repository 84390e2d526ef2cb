"""The office service: presence, walking between rooms, knocking and "get", in real time.

``Office`` is the one entry point the transports and the other services use. It owns presence
and moves; the rest is done by collaborators it wires together: ``Connections`` (connections
and process liveness), ``Knocks`` (knocks and "get"), ``GuestView`` (what guests see),
``Engagement`` (analytics) and ``Lookup`` (reading the live office and its rooms). State lives
in a ``StateStore`` (memory for one process, Redis for several); rules come from ``rooms``;
every change is written first and broadcast after, as coalesced ``office:delta`` batches.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms import presence
from rooms.occupancy import Outcome
from rooms.presence import Person, Status
from rooms.requests import Request
from rooms.store import Doc, StateStore
from server.analytics.metrics import Metric
from server.db.models import Avatar, User
from server.infra.broadcast import Broadcaster, DeltaCoalescer
from server.infra.clock import Clock
from server.infra.errors import AppError, ErrorCode, conflict, forbidden, invalid
from server.office.connections import Connections
from server.office.engagement import Engagement
from server.office.guest_view import GuestView
from server.office.knocks import Knocks
from server.office.layout_store import RoomInfo, org_layout
from server.office.lookup import Lookup
from server.office.moves import move_change, offline_change
from server.office.state import (
    OFFLINE_QUEUE,
    PAIR_ROOM,
    Moved,
    Retry,
    iso,
    people_key,
    person_key,
    room_key,
)
from server.people import images
from server.people.identity import Principal, UserStatus

log = logging.getLogger("officehours.office")


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
        self._lookup = Lookup(store, db, clock)
        self._connections = Connections(
            store,
            clock,
            coalescer,
            grace_seconds=config.grace_seconds,
            restart_grace_seconds=config.restart_grace_seconds,
            process_timeout_seconds=config.process_timeout_seconds,
        )
        self._knocks = Knocks(
            store,
            clock,
            broadcaster,
            self._lookup,
            timeout_seconds=config.knock_timeout_seconds,
            move_in=self._move_invited,
        )
        self._guests = GuestView(self._lookup, broadcaster)
        self._engagement = Engagement(db, clock, self._lookup)
        self._move_listeners: list[Callable[[Moved], Awaitable[None]]] = []

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

    # -- connections and processes (``Connections``) -----------------------------------------

    @property
    def process(self) -> str:
        """This server process's id in the shared state (its beat, its connections)."""
        return self._connections.process

    def add_death_listener(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """``listener(process)`` when another process is found dead (its beat overdue)."""
        self._connections.add_death_listener(listener)

    async def alive_processes(self) -> set[str]:
        return await self._connections.alive_processes()

    def connection_id(self, sid: str) -> str:
        return self._connections.connection_id(sid)

    async def connected(self, principal: Principal, sid: str) -> None:
        await self._connections.connected(principal, sid)

    async def disconnected(self, principal: Principal, sid: str) -> None:
        await self._connections.disconnected(principal, sid)

    def stopping(self) -> None:
        """This process is shutting down (SIGTERM): the connections it closes from now on are
        a restart, not people leaving; they get the restart grace period to come back."""
        self._connections.stopping()

    async def resume_after_restart(self) -> int:
        """After the live office of a stopped process was restored into this one's store
        (``server.office.restart``): its people stay where they were for the restart grace
        period. Returns how many people were waited for."""
        return await self._connections.resume_after_restart()

    async def connection_sids(self, org_id: int, user_id: int) -> list[str]:
        """Socket.IO session ids of a person's open connections, on every process."""
        person = await self.person(org_id, user_id)
        return [c.split(":", 1)[1] for c in sorted(person.connections)] if person else []

    # -- presence -------------------------------------------------------------------------

    async def set_status(self, principal: Principal, status: Status, text: str | None) -> Person:
        before, after = await self._update_person(
            principal, lambda p: presence.choose(p, status, text)
        )
        self._deltas.add(principal.org_id, after.public())
        if before.status != after.status:
            await self._engagement.record(
                principal.org_id, principal.user_id, Metric.STATUS_CHANGED
            )
        if (
            before.chosen is Status.DO_NOT_DISTURB
            and after.chosen is not Status.DO_NOT_DISTURB
            and after.room_id is not None
        ):
            await self._knocks.ring(principal.org_id, after.room_id)
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
        room = (await self._lookup.rooms(principal.org_id)).get(person.room_id)
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

    # -- rooms ------------------------------------------------------------------------------

    async def enter(self, principal: Principal, room_id: int) -> dict[str, Any]:
        """Walk into a room: entered, knocking (a request the occupants answer) or refused.

        A guest may only go to the room of their link: straight in, or by knocking when the
        link asks the host to admit each guest (even through an open door).
        """
        if principal.is_guest and room_id != principal.guest_room_id:
            raise forbidden("guests may only enter the room they were invited to")
        room = await self._lookup.room(principal.org_id, room_id)
        reserved = room.rules.reserved_for
        if reserved is not None and principal.user_id not in reserved:
            raise forbidden(PAIR_ROOM)  # not even a knock: nobody inside may let others in
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
        request = await self._knocks.knock(principal, room)
        return {
            "outcome": "knocking",
            "room_id": room_id,
            "request_id": request.id,
            "expires_at": iso(request.expires_at),
        }

    async def leave(self, principal: Principal) -> None:
        await self._move(principal.org_id, principal.user_id, None, invited_ok=False)

    async def _move_invited(self, org_id: int, user_id: int, room: RoomInfo) -> None:
        """An accepted knock or "get": in through the invitation it left at the room."""
        await self._move(org_id, user_id, room, invited_ok=True)

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
                    keys, move_change(current.room_id, room, now, invited_ok, force_invited)
                )
            except Retry:
                continue
            if moved is not None:
                await self._after_move(moved, room)
            return outcome, moved
        raise AppError(ErrorCode.UNAVAILABLE, "the office is busy; try again")

    async def _after_move(self, moved: Moved, room: RoomInfo | None) -> None:
        org_id, user_id = moved.after.org_id, moved.after.user_id
        self._deltas.add(org_id, moved.after.public())
        await self._guests.tell(org_id, {moved.before.room_id, moved.after.room_id})
        await self._engagement.record_leave(moved)
        await self._tell_move_listeners(moved)
        if moved.before.room_id is not None:
            await self._knocks.left(org_id, user_id, moved.before.room_id, guest=moved.before.guest)
        if room is not None:
            await self._engagement.record(org_id, user_id, Metric.ROOM_ENTERED, room_kind=room)
            if moved.after.chosen is not Status.DO_NOT_DISTURB:
                await self._knocks.ring(org_id, room.id)

    # -- knocks and "get" (``Knocks``) ------------------------------------------------------

    async def get_person(self, principal: Principal, user_id: int) -> Request:
        """Ask someone to come to the room you are in; they get a prompt."""
        return await self._knocks.get_person(principal, user_id)

    async def answer(self, principal: Principal, request_id: str, accept: bool) -> str:
        return await self._knocks.answer(principal, request_id, accept)

    async def cancel(self, principal: Principal, request_id: str) -> None:
        await self._knocks.cancel(principal, request_id)

    # -- time-driven changes ----------------------------------------------------------------

    async def sweep(self) -> None:
        """Finish grace periods and expire requests that are due. Safe on every process at
        once: each change is a transaction that only one of them wins."""
        now = self._now()
        await self._connections.beat(now)
        await self._connections.reap_dead_processes(now)
        for key in await self._store.due(OFFLINE_QUEUE, now):
            _, org_id, user_id = key.split(":")
            await self._take_offline(int(org_id), int(user_id), now, after_grace=True)
            await self._store.unschedule(OFFLINE_QUEUE, key)
        await self._knocks.expire_due(now)

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
            try:
                moved = await self._store.transact(
                    keys, offline_change(person.room_id, now, grace, after_grace)
                )
            except Retry:
                continue
            if moved is not None:
                self._deltas.add(org_id, moved.after.public())
                await self._guests.tell(org_id, {moved.before.room_id})
                await self._engagement.record_leave(moved)
                await self._tell_move_listeners(moved)
                if moved.before.room_id is not None:
                    await self._knocks.left(
                        org_id, user_id, moved.before.room_id, guest=moved.before.guest
                    )
                await self._knocks.gone(org_id, user_id)
            return

    async def force_offline(self, org_id: int, user_id: int) -> None:
        """Out of the office now, without a grace period (a guest whose visit ended)."""
        await self._store.unschedule(OFFLINE_QUEUE, person_key(org_id, user_id))
        await self._take_offline(org_id, user_id, self._now(), after_grace=False)

    async def avatar_changed(self, org_id: int, user_id: int, avatar_url: str | None) -> None:
        """After a committed change of someone's picture: their presence carries its new
        address, so colleagues see it with the next delta and guests in their room with the
        next ``guest:room``. Someone never seen online has no presence: snapshots read it."""

        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], Person | None]:
            if docs[0] is None:
                return docs, None
            before = Person.from_doc(docs[0])
            if before.avatar_url == avatar_url:
                return docs, None
            after = before.bump(avatar_url=avatar_url)
            return [after.to_doc()], after

        after = await self._store.transact([person_key(org_id, user_id)], change)
        if after is not None:
            self._deltas.add(org_id, after.public())
            await self._guests.tell(org_id, {after.room_id})

    async def forget(self, org_id: int, user_id: int, display_name: str) -> None:
        """An erased person: from now on their presence shows ``display_name``, no status
        text and no picture, and they are out of the office at once."""

        def scrub(docs: list[Doc | None]) -> tuple[list[Doc | None], None]:
            if docs[0] is None:
                return docs, None
            person = replace(
                Person.from_doc(docs[0]), display_name=display_name, text="", avatar_url=None
            )
            return [person.to_doc()], None

        await self._store.transact([person_key(org_id, user_id)], scrub)
        await self.force_offline(org_id, user_id)

    # -- reading ----------------------------------------------------------------------------

    async def guest_view(self, principal: Principal) -> dict[str, Any]:
        """What a guest may know: their room, who is in it, whether they are inside."""
        return await self._guests.view(principal)

    async def snapshot(self, principal: Principal) -> dict[str, Any]:
        """Everything a colleague sees at a glance: floors, rooms, everyone and their status."""
        if principal.is_guest:
            raise forbidden("guests see only the room they were invited to")
        async with self._db() as session:
            floors, rooms = await org_layout(session, principal.org_id)
            members = (
                await session.execute(
                    select(User.id, User.display_name, Avatar.sha256, Avatar.kind)
                    .outerjoin(Avatar, Avatar.user_id == User.id)
                    .where(
                        User.org_id == principal.org_id,
                        User.status == UserStatus.ACTIVE,
                        User.is_guest.is_(False),
                    )
                    .order_by(User.display_name)
                )
            ).all()
        docs = await self._store.get_many(
            [person_key(principal.org_id, uid) for uid, *_ in members]
        )
        # The picture from the account: the truth, should a presence document lag a change.
        people = [
            replace(
                Person.from_doc(doc) if doc else Person(principal.org_id, uid, name),
                avatar_url=images.address(sha256, kind) if sha256 else None,
            ).public()
            for (uid, name, sha256, kind), doc in zip(members, docs, strict=True)
        ]
        # Guests are nobody's colleagues: listed only while they are here.
        known = {uid for uid, *_ in members}
        others = sorted(int(u) for u in await self._store.members(people_key(principal.org_id)))
        guest_docs = await self._store.get_many(
            [person_key(principal.org_id, u) for u in others if u not in known]
        )
        # A guest in the hallway is listed only while knocking (waiting to be let in).
        waiting = await self._knocks.waiting(principal.org_id)
        knocking = {u for w in waiting for u in w["guests"]}
        people += [
            Person.from_doc(d).public()
            for d in guest_docs
            if d
            and d.get("guest")
            and d.get("online")
            and (d.get("room_id") is not None or d["user_id"] in knocking)
        ]
        self._lookup.remember_layout(principal.org_id, rooms)
        return {
            "me": principal.user_id,
            "floors": floors,
            "rooms": [r.public(principal.user_id) for r in rooms],
            "people": people,
            "waiting": waiting,
            "settings": {
                "idle_after_seconds": self._config.idle_after_seconds,
                "coalesce_ms": self._config.coalesce_ms,
            },
        }

    async def person(self, org_id: int, user_id: int) -> Person | None:
        """Current presence of one person (None if never seen)."""
        return await self._lookup.person(org_id, user_id)

    async def occupants(self, org_id: int, room_id: int) -> set[int]:
        return await self._lookup.occupants(org_id, room_id)

    async def room(self, org_id: int, room_id: int) -> RoomInfo:
        """A room of the organization (``not_found`` if there is none)."""
        return await self._lookup.room(org_id, room_id)

    async def layout_changed(self, org_id: int) -> None:
        """After a committed layout edit: drop the cache and show everyone the new plan (as
        everyone may see it: without the owners of pair rooms)."""
        self._lookup.forget_layout(org_id)
        async with self._db() as session:
            floors, rooms = await org_layout(session, org_id)
        await self._broadcaster.to_org(
            org_id, "office:layout", {"floors": floors, "rooms": [r.public() for r in rooms]}
        )
