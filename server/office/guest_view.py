"""The office as a guest sees it: one room, and who is in it.

Guests get no office deltas and no snapshot (they are nobody's colleagues and may not see the
floor plan); after every change to their room they are sent who is in it now (``guest:room``),
and ``view`` answers what they may know on connecting.
"""

from __future__ import annotations

from typing import Any

from server.infra.broadcast import Broadcaster
from server.infra.errors import forbidden
from server.office.lookup import Lookup
from server.people.identity import Principal


class GuestView:
    def __init__(self, lookup: Lookup, broadcaster: Broadcaster) -> None:
        self._lookup = lookup
        self._broadcaster = broadcaster

    async def tell(self, org_id: int, room_ids: set[int | None]) -> None:
        """Send the guests of each changed room who is in it now."""
        for room_id in room_ids:
            if room_id is None:
                continue
            people = await self._lookup.room_people(org_id, room_id)
            guests = [p.user_id for p in people if p.guest]
            if guests:
                await self._broadcaster.to_users(
                    guests,
                    "guest:room",
                    {"room_id": room_id, "people": [p.public() for p in people]},
                )

    async def view(self, principal: Principal) -> dict[str, Any]:
        """What a guest may know: their room, who is in it, whether they are inside."""
        if principal.guest_room_id is None:
            raise forbidden("only guests have a guest view")
        room = await self._lookup.room(principal.org_id, principal.guest_room_id)
        me = await self._lookup.person(principal.org_id, principal.user_id)
        admitted = me is not None and me.room_id == room.id
        people = await self._lookup.room_people(principal.org_id, room.id) if admitted else []
        return {
            "room": {"id": room.id, "name": room.name, "kind": room.kind.value},
            "admitted": admitted,
            "needs_admission": principal.guest_needs_admission,
            "people": [p.public() for p in people],
        }
