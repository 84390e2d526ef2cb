"""Knocks and "get": asking to come into a room, or asking someone to come over.

A knock waits at the room (``held``) and rings the room's available occupants who may let
someone in (not guests), now and whenever one becomes available (walks in, leaves
do-not-disturb); a "get" prompts the person asked. Someone prompted who walks out can no longer
answer: their prompt is withdrawn (``request:withdrawn``), and once nobody inside may answer the
knocker is told (``request:unattended``) while the knock waits for someone to come in. Each
request ends once: answered, cancelled by whoever made it (or by their leaving the office), or
expired by the sweep. Its end, ``request:resolved``, goes to every tab of whoever was prompted
(the answerer included), who would move and who asked — nobody else, so no prompt stays open
and nobody hears of another's knock. Guests' knocks are shown to the organization as
``room:waiting``. Moving the person in on "accept" is the service's move, passed in as
``move_in``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from rooms.occupancy import who_hears_a_knock, who_may_answer_a_knock
from rooms.presence import Person, Status
from rooms.requests import Request, RequestKind, Resolution
from rooms.store import Doc, StateStore
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import AppError, conflict, forbidden, invalid, not_found
from server.office.layout_store import RoomInfo
from server.office.lookup import Lookup
from server.office.state import (
    INVITED_SECONDS,
    PAIR_ROOM,
    REQUEST_QUEUE,
    held_key,
    iso,
    knocker_key,
    occupants_of,
    person_key,
    request_key,
    request_of,
    room_doc,
    room_key,
)
from server.people.identity import Principal

log = logging.getLogger("officehours.office")

# ``move_in(org_id, user_id, room)``: walk an invited person into the room (raises AppError).
MoveIn = Callable[[int, int, RoomInfo], Awaitable[object]]


class Knocks:
    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        broadcaster: Broadcaster,
        lookup: Lookup,
        *,
        timeout_seconds: float,
        move_in: MoveIn,
    ) -> None:
        self._store = store
        self._clock = clock
        self._broadcaster = broadcaster
        self._lookup = lookup
        self._timeout = timeout_seconds
        self._move_in = move_in

    def _now(self) -> float:
        return self._clock.now().timestamp()

    # -- opening ----------------------------------------------------------------------------

    async def knock(self, principal: Principal, room: RoomInfo) -> Request:
        """Knock on ``room`` (knocking again is the same knock)."""
        held = await self._store.members(held_key(principal.org_id, room.id))
        for doc in await self._store.get_many([request_key(r) for r in sorted(held)]):
            if doc and doc["user_id"] == principal.user_id:
                return request_of(doc)
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
            now + self._timeout,
            guest=principal.is_guest,
        )
        await self._open(request)
        await self._store.add_member(held_key(principal.org_id, room.id), request.id)
        await self._store.add_member(knocker_key(principal.org_id, principal.user_id), request.id)
        await self.ring(principal.org_id, room.id)
        if request.guest:
            await self._tell_waiting(principal.org_id, room.id)
        if not await self._answerers(principal.org_id, room.id):
            await self._broadcaster.to_user(request.user_id, "request:unattended", _notice(request))
        return request

    async def get_person(self, principal: Principal, user_id: int) -> Request:
        """Ask someone to come to the room you are in; they get a prompt."""
        if principal.is_guest:
            raise forbidden("guests cannot get people")
        host = await self._lookup.person(principal.org_id, principal.user_id)
        if host is None or host.room_id is None:
            raise invalid("walk into a room first, then get people into it")
        target = await self._lookup.person(principal.org_id, user_id)
        if target is None or not target.online or user_id == principal.user_id:
            raise not_found("that person is not in the office")
        if target.guest:
            raise forbidden("guests stay in the room they were invited to")
        if target.room_id == host.room_id:
            raise conflict(f"{target.display_name} is already here")
        if target.status is Status.DO_NOT_DISTURB:
            raise conflict(f"{target.display_name} does not want to be disturbed")
        reserved = (await self._lookup.room(principal.org_id, host.room_id)).rules.reserved_for
        if reserved is not None and user_id not in reserved:
            raise forbidden(PAIR_ROOM)
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
            now + self._timeout,
        )
        await self._open(request)
        room = await self._lookup.room(principal.org_id, host.room_id)
        await self._broadcaster.to_user(
            user_id, "request", _prompt(request, room, from_name=principal.display_name)
        )
        return request

    async def _open(self, request: Request) -> None:
        await self._store.transact(
            [request_key(request.id)], lambda _: ([request.to_doc() | {"rung": []}], None)
        )
        await self._store.schedule(REQUEST_QUEUE, request.id, request.expires_at)

    async def ring(self, org_id: int, room_id: int) -> None:
        """Prompt the available occupants for every knock waiting at this room; occupants on
        do-not-disturb are skipped, so a room full of them holds its knocks silently."""
        held = sorted(await self._store.members(held_key(org_id, room_id)))
        if not held:
            return
        people = await self._inside(org_id, room_id)
        quiet = {p.user_id for p in people if p.status is Status.DO_NOT_DISTURB}
        guests = {p.user_id for p in people if p.guest}
        hearers = who_hears_a_knock([p.user_id for p in people], quiet, guests)
        if not hearers:
            return
        room = await self._lookup.room(org_id, room_id)
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
            request = request_of(doc)
            prompt = _prompt(request, room, from_name=request.display_name)
            await self._broadcaster.to_users(fresh, "request", prompt)

    async def _inside(self, org_id: int, room_id: int) -> list[Person]:
        (doc_of_room,) = await self._store.get_many([room_key(org_id, room_id)])
        occupants = occupants_of(doc_of_room)
        docs = await self._store.get_many([person_key(org_id, u) for u in occupants])
        return [Person.from_doc(d) for d in docs if d]

    async def _answerers(self, org_id: int, room_id: int) -> list[int]:
        """Who inside may answer a knock now (do-not-disturb included: they may, unprompted)."""
        people = await self._inside(org_id, room_id)
        return who_may_answer_a_knock(
            [p.user_id for p in people], [p.user_id for p in people if p.guest]
        )

    async def left(self, org_id: int, user_id: int, room_id: int, *, guest: bool) -> None:
        """``user_id`` walked out of ``room_id`` (or went offline): they can no longer answer
        its knocks, so their prompts go; if nobody inside may answer any more, each knocker
        is told, and the knock waits for someone who may to walk in (or expires)."""
        held = sorted(await self._store.members(held_key(org_id, room_id)))
        if not held:
            return

        def unring(docs: list[Doc | None]) -> tuple[list[Doc | None], Doc | None]:
            """The request without ``user_id`` among those prompted; it, if they were."""
            if docs[0] is None or user_id not in docs[0]["rung"]:
                return docs, None
            rung = [u for u in docs[0]["rung"] if u != user_id]
            return [docs[0] | {"rung": rung}], docs[0]

        for request_id in held:
            doc = await self._store.transact([request_key(request_id)], unring)
            if doc is not None:
                await self._broadcaster.to_user(
                    user_id, "request:withdrawn", _notice(request_of(doc))
                )
        if guest or await self._answerers(org_id, room_id):
            return  # a guest never could answer; or someone inside still may
        for doc in await self._store.get_many([request_key(r) for r in held]):
            if doc is not None and doc["user_id"] != user_id:
                request = request_of(doc)
                await self._broadcaster.to_user(
                    request.user_id, "request:unattended", _notice(request)
                )

    async def gone(self, org_id: int, user_id: int) -> None:
        """``user_id`` left the office: their knocks end (nobody is there to let in)."""
        for request_id in sorted(await self._store.members(knocker_key(org_id, user_id))):
            (doc,) = await self._store.get_many([request_key(request_id)])
            rung = await self._take(request_id)
            if doc is not None and rung is not None:
                await self._close(request_of(doc), Resolution.CANCELLED, rung)
            else:
                await self._store.remove_member(knocker_key(org_id, user_id), request_id)

    async def waiting(self, org_id: int) -> list[dict[str, Any]]:
        """The guests knocking at each room of the organization (rooms with any)."""
        rooms = await self._lookup.rooms(org_id)
        found = []
        for room_id in sorted(rooms):
            guests = await self._waiting_at(org_id, room_id)
            if guests:
                found.append({"room_id": room_id, "guests": guests})
        return found

    async def _waiting_at(self, org_id: int, room_id: int) -> list[int]:
        held = sorted(await self._store.members(held_key(org_id, room_id)))
        docs = await self._store.get_many([request_key(r) for r in held])
        return sorted({d["user_id"] for d in docs if d and d.get("guest")})

    async def _tell_waiting(self, org_id: int, room_id: int) -> None:
        """Members (never guests) learn which guests wait at a room, after each change."""
        guests = await self._waiting_at(org_id, room_id)
        await self._broadcaster.to_org(
            org_id, "room:waiting", {"room_id": room_id, "guests": guests}
        )

    # -- ending -----------------------------------------------------------------------------

    async def answer(self, principal: Principal, request_id: str, accept: bool) -> str:
        (doc,) = await self._store.get_many([request_key(request_id)])
        if doc is None:
            raise not_found("that request is no longer open")
        request = request_of(doc)
        if request.org_id != principal.org_id:
            raise not_found("that request is no longer open")
        now = self._now()

        def take(docs: list[Doc | None]) -> tuple[list[Doc | None], list[int]]:
            req_doc, doc_of_room = docs
            if req_doc is None:
                raise not_found("that request is no longer open")
            if principal.is_guest or not request.answerable_by(
                principal.user_id, frozenset(occupants_of(doc_of_room))
            ):
                raise forbidden("only someone in the room can answer a knock")
            if not accept:
                return [None, doc_of_room], list(req_doc["rung"])
            invited = dict((doc_of_room or {}).get("invited", {}))
            invited[str(request.user_id)] = now + INVITED_SECONDS
            return ([None, room_doc(occupants_of(doc_of_room), invited)], list(req_doc["rung"]))

        rung = await self._store.transact(
            [request_key(request_id), room_key(request.org_id, request.room_id)], take
        )
        resolution = Resolution.ACCEPTED if accept else Resolution.DECLINED
        if accept:
            try:
                room = await self._lookup.room(request.org_id, request.room_id)
                await self._move_in(request.org_id, request.user_id, room)
            except AppError as error:
                resolution = Resolution.EXPIRED
                log.info("office.request_move_failed", extra={"code": error.code.value})
        await self._close(request, resolution, rung, answered_by=principal.user_id)
        return resolution.value

    async def cancel(self, principal: Principal, request_id: str) -> None:
        (doc,) = await self._store.get_many([request_key(request_id)])
        if doc is None or doc["org_id"] != principal.org_id:
            raise not_found("that request is no longer open")
        request = request_of(doc)
        owner = request.host_id if request.kind is RequestKind.GET else request.user_id
        if owner != principal.user_id:
            raise forbidden("only who made a request can cancel it")
        rung = await self._take(request_id)
        if rung is not None:
            await self._close(request, Resolution.CANCELLED, rung)

    async def expire_due(self, now: float) -> None:
        """Expire the requests whose time is up (the sweep)."""
        for request_id in await self._store.due(REQUEST_QUEUE, now):
            (doc,) = await self._store.get_many([request_key(request_id)])
            rung = await self._take(request_id)
            if doc is not None and rung is not None:
                await self._close(request_of(doc), Resolution.EXPIRED, rung)
            else:
                await self._store.unschedule(REQUEST_QUEUE, request_id)

    async def _take(self, request_id: str) -> list[int] | None:
        def take(docs: list[Doc | None]) -> tuple[list[Doc | None], list[int] | None]:
            return [None], (list(docs[0]["rung"]) if docs[0] else None)

        return await self._store.transact([request_key(request_id)], take)

    async def _close(
        self,
        request: Request,
        resolution: Resolution,
        rung: list[int],
        answered_by: int | None = None,
    ) -> None:
        await self._store.unschedule(REQUEST_QUEUE, request.id)
        await self._store.remove_member(held_key(request.org_id, request.room_id), request.id)
        if request.kind is RequestKind.KNOCK:
            await self._store.remove_member(
                knocker_key(request.org_id, request.user_id), request.id
            )
        event = {
            "request_id": request.id,
            "kind": request.kind.value,
            "room_id": request.room_id,
            "outcome": resolution.value,
        }
        # Everyone it concerned, on every tab: whoever was prompted (the answerer too: their
        # other tabs still show the prompt), who would move, and who asked.
        audience = set(rung) | {request.user_id}
        if request.host_id is not None:
            audience.add(request.host_id)
        if answered_by is not None:
            audience.add(answered_by)
        await self._broadcaster.to_users(audience, "request:resolved", event)
        if request.guest:
            await self._tell_waiting(request.org_id, request.room_id)


def _notice(request: Request) -> dict[str, Any]:
    return {"request_id": request.id, "kind": request.kind.value, "room_id": request.room_id}


def _prompt(request: Request, room: RoomInfo, *, from_name: str) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "kind": request.kind.value,
        "room_id": room.id,
        "room_name": room.name,
        "from_name": from_name,
        "expires_at": iso(request.expires_at),
    }
