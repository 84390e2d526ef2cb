"""Profile pictures: a person sets or removes their own; colleagues fetch them.

A picture is checked and cleaned of metadata (``server.people.images``) before it is stored,
one per person, and served at an address made of its SHA-256. Who may fetch one: signed-in
people of the same organization, and a guest only the pictures of people in the room the guest
is in (the people ``guest:room`` shows them); anyone else finds nothing there, as if it did
not exist. A change is committed first, then the office shows it (``Office.avatar_changed``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import Avatar, User
from server.infra.clock import Clock
from server.infra.errors import forbidden, not_found
from server.people import images
from server.people.identity import Principal

log = logging.getLogger("officehours.avatars")


class LiveOffice(Protocol):
    """What of the office pictures need (``server.office.service.Office``, which people/
    may not import: it stands on the floor plan, and that on mentoring's pair rooms)."""

    async def avatar_changed(self, org_id: int, user_id: int, avatar_url: str | None) -> None:
        """Show a committed change to everyone who sees the person."""
        ...

    async def occupants(self, org_id: int, room_id: int) -> set[int]:
        """Who is in a room now."""
        ...


@dataclass(frozen=True)
class Served:
    data: bytes
    content_type: str
    sha256: str


def describe(avatar: Avatar) -> dict[str, Any]:
    """A picture as its owner sees it (the bytes are at ``url``)."""
    return {
        "url": images.address(avatar.sha256, avatar.kind),
        "content_type": images.Kind(avatar.kind).content_type,
        "width": avatar.width,
        "height": avatar.height,
        "bytes": avatar.size,
        "updated_at": avatar.updated_at.isoformat(),
    }


def _own(principal: Principal) -> None:
    if principal.is_guest:
        raise forbidden("guests have no account here, so no profile picture")


class Avatars:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, office: LiveOffice
    ) -> None:
        self._db = db
        self._clock = clock
        self._office = office

    async def mine(self, principal: Principal) -> dict[str, Any] | None:
        _own(principal)
        async with self._db() as session:
            avatar = await session.get(Avatar, principal.user_id)
            return describe(avatar) if avatar else None

    async def put(self, principal: Principal, data: bytes, content_type: str) -> dict[str, Any]:
        """Check, clean and store a new picture in place of any older one."""
        _own(principal)
        picture = images.clean(data, content_type)
        digest = hashlib.sha256(picture.data).hexdigest()
        async with self._db() as session:
            avatar = await session.get(Avatar, principal.user_id)
            if avatar is None:
                avatar = Avatar(user_id=principal.user_id)
                session.add(avatar)
            avatar.sha256 = digest
            avatar.kind = picture.kind.value
            avatar.width = picture.width
            avatar.height = picture.height
            avatar.size = len(picture.data)
            avatar.data = picture.data
            avatar.updated_at = self._clock.now()
            await session.commit()
            described = describe(avatar)
        log.info(
            "avatars.set",
            extra={"user_id": principal.user_id, "kind": picture.kind.value, "bytes": len(data)},
        )
        await self._office.avatar_changed(principal.org_id, principal.user_id, described["url"])
        return described

    async def remove(self, principal: Principal) -> None:
        """Remove my picture (nothing to remove is fine): others see my initials again."""
        _own(principal)
        async with self._db() as session:
            await session.execute(delete(Avatar).where(Avatar.user_id == principal.user_id))
            await session.commit()
        log.info("avatars.removed", extra={"user_id": principal.user_id})
        await self._office.avatar_changed(principal.org_id, principal.user_id, None)

    async def fetch(self, principal: Principal, sha256: str, extension: str) -> Served:
        """The picture at this address, if ``principal`` may see it; ``not_found`` otherwise
        (an outsider learns nothing, not even that it exists)."""
        kind = images.BY_EXTENSION.get(extension)
        if kind is None or len(sha256) != 64:
            raise not_found("no such picture")
        async with self._db() as session:
            holders = set(
                await session.scalars(
                    select(Avatar.user_id)
                    .join(User, User.id == Avatar.user_id)
                    .where(
                        Avatar.sha256 == sha256,
                        Avatar.kind == kind.value,
                        User.org_id == principal.org_id,
                    )
                )
            )
            if principal.is_guest and principal.guest_room_id is not None:
                here = await self._office.occupants(principal.org_id, principal.guest_room_id)
                holders = holders & here if principal.user_id in here else set()
            if not holders:
                raise not_found("no such picture")
            data = await session.scalar(
                select(Avatar.data).where(Avatar.user_id == min(holders), Avatar.sha256 == sha256)
            )
        if data is None:  # changed or removed meanwhile
            raise not_found("no such picture")
        return Served(data, kind.content_type, sha256)
