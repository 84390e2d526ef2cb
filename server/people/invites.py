"""Guest links: a random token for one room, stored only as a keyed hash.

A link has an expiry, an optional use limit, whether the host admits each guest, and can be
revoked. Each way a link can be unusable has its own message, so a guest knows what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Organization, Room, RoomInvite
from server.infra.errors import AppError, ErrorCode
from server.people.tokens import keyed_hash, new_token

MAX_VALIDITY = timedelta(days=30)
TOKEN_BYTES = 24  # 192 bits


@dataclass(frozen=True)
class GuestLinkView:
    room_name: str
    organization_name: str
    requires_admission: bool
    expires_at: datetime


def token_hash(secret_key: str, token: str) -> str:
    return keyed_hash(secret_key, f"guestlink:{token}")


async def create_link(
    session: AsyncSession,
    secret_key: str,
    *,
    room_id: int,
    created_by: int | None,
    now: datetime,
    valid_for: timedelta,
    max_uses: int | None = None,
    requires_admission: bool = True,
) -> str:
    """Returns the token, shown once."""
    if not timedelta(minutes=1) <= valid_for <= MAX_VALIDITY:
        raise AppError(ErrorCode.INVALID, "a guest link is valid from 1 minute to 30 days")
    if max_uses is not None and not 1 <= max_uses <= 1000:
        raise AppError(ErrorCode.INVALID, "a guest link allows 1 to 1000 uses")
    room = await session.get(Room, room_id)
    if room is None or room.archived:
        raise AppError(ErrorCode.NOT_FOUND, "no such room")
    token = new_token(TOKEN_BYTES)
    session.add(
        RoomInvite(
            org_id=room.org_id,
            room_id=room.id,
            token_hash=token_hash(secret_key, token),
            created_by=created_by,
            created_at=now,
            expires_at=now + valid_for,
            max_uses=max_uses,
            requires_admission=requires_admission,
        )
    )
    await session.flush()
    return token


async def inspect_link(
    session: AsyncSession, secret_key: str, token: str, now: datetime
) -> GuestLinkView:
    """What a guest opening the link may know before entering: room, organization, terms."""
    if not token or len(token) > 128:
        raise AppError(ErrorCode.NOT_FOUND, "this guest link is not valid")
    row = (
        await session.execute(
            select(RoomInvite, Room.name, Organization.name)
            .join(Room, Room.id == RoomInvite.room_id)
            .join(Organization, Organization.id == RoomInvite.org_id)
            .where(RoomInvite.token_hash == token_hash(secret_key, token))
        )
    ).first()
    if row is None:
        raise AppError(ErrorCode.NOT_FOUND, "this guest link is not valid")
    invite, room_name, org_name = row
    if invite.revoked_at is not None:
        raise AppError(ErrorCode.FORBIDDEN, "this guest link was revoked")
    if invite.expires_at <= now:
        raise AppError(ErrorCode.FORBIDDEN, "this guest link has expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise AppError(ErrorCode.FORBIDDEN, "this guest link has been used up")
    return GuestLinkView(room_name, org_name, invite.requires_admission, invite.expires_at)
