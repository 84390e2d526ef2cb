"""Reading the live office and the rooms it happens in, for every part of the office service.

A person's presence and a room's occupants come from the ``StateStore``; a room's rules and
geometry from the database. Positions are checked many times a second, so the room geometry they
need is cached for a few seconds (``rooms``); the snapshot refreshes that cache and a layout
edit drops it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.presence import Person
from rooms.store import StateStore
from server.infra.clock import Clock
from server.infra.errors import not_found
from server.office.layout_store import RoomInfo, org_layout, room_info
from server.office.state import occupants_of, person_key, room_key

LAYOUT_CACHE_SECONDS = 5.0


class Lookup:
    def __init__(
        self, store: StateStore, db: async_sessionmaker[AsyncSession], clock: Clock
    ) -> None:
        self._store = store
        self._db = db
        self._clock = clock
        self._layout_cache: dict[int, tuple[float, dict[int, RoomInfo]]] = {}

    async def person(self, org_id: int, user_id: int) -> Person | None:
        """Current presence of one person (None if never seen)."""
        (doc,) = await self._store.get_many([person_key(org_id, user_id)])
        return Person.from_doc(doc) if doc else None

    async def occupants(self, org_id: int, room_id: int) -> set[int]:
        (doc,) = await self._store.get_many([room_key(org_id, room_id)])
        return set(occupants_of(doc))

    async def room_people(self, org_id: int, room_id: int) -> list[Person]:
        """The presence of everyone in a room."""
        occupants = await self.occupants(org_id, room_id)
        docs = await self._store.get_many([person_key(org_id, u) for u in sorted(occupants)])
        return [Person.from_doc(d) for d in docs if d]

    async def room(self, org_id: int, room_id: int) -> RoomInfo:
        """A room of the organization (``not_found`` if there is none)."""
        async with self._db() as session:
            info = await room_info(session, org_id, room_id)
        if info is None:
            raise not_found("no such room")
        return info

    async def rooms(self, org_id: int) -> dict[int, RoomInfo]:
        """Room geometry for high-frequency checks (positions), cached for a few seconds."""
        cached = self._layout_cache.get(org_id)
        if cached and self._clock.monotonic() - cached[0] < LAYOUT_CACHE_SECONDS:
            return cached[1]
        async with self._db() as session:
            _, rooms = await org_layout(session, org_id)
        return self.remember_layout(org_id, rooms)

    def remember_layout(self, org_id: int, rooms: list[RoomInfo]) -> dict[int, RoomInfo]:
        """Rooms just read from the database: the cache starts again from them."""
        by_id = {r.id: r for r in rooms}
        self._layout_cache[org_id] = (self._clock.monotonic(), by_id)
        return by_id

    def forget_layout(self, org_id: int) -> None:
        self._layout_cache.pop(org_id, None)
