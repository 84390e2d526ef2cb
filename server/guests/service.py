"""Guests by invite link: one room, no account, admitted by the host, gone with the link.

Links are made by someone in the room (or its owner, or an admin). Opening a link creates a
guest — a display name and nothing else — with a session that lives no longer than the link.
When a link is revoked or expires, or a host removes a guest, the guest's session ends and
their connections are closed at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Metric
from server.analytics.record import Subject, record
from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.db.models import AuthSession, RoomInvite, User
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import AppError, ErrorCode, forbidden, not_found
from server.infra.ratelimit import FailureWindow, Limit
from server.infra.settings import Settings
from server.office.layout_store import room_info
from server.office.service import Office
from server.people import accounts, invites
from server.people.auth import Authenticator, SignedIn
from server.people.identity import Principal, Role, UserStatus
from server.people.tokens import keyed_hash

log = logging.getLogger("officehours.guests")

# Failed link look-ups allowed per address and window before refusing (guessing is useless
# with 192-bit tokens; this keeps it noisy and slow).
FAILED_LOOKUPS = 20


@dataclass(frozen=True)
class LinkTerms:
    valid_for: timedelta
    max_uses: int | None
    requires_admission: bool


class Guests:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        auth: Authenticator,
        office: Office,
        broadcaster: Broadcaster,
        failures: FailureWindow,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._auth = auth
        self._office = office
        self._broadcaster = broadcaster
        self._failures = failures

    # -- links ------------------------------------------------------------------------------

    async def _may_host(self, principal: Principal, room_id: int, *, new: bool = False) -> None:
        if principal.is_guest:
            raise forbidden("guests cannot invite")
        async with self._db() as session:
            room = await room_info(session, principal.org_id, room_id)
        if room is None:
            raise not_found("no such room")
        if new and room.is_pair_room:
            # Nobody but the pair enters a pair's room: a link would only be a way around it.
            raise forbidden("a mentoring pair's room takes no guests")
        if principal.has_role(Role.ORG_ADMIN) or principal.user_id in room.owners:
            return
        person = await self._office.person(principal.org_id, principal.user_id)
        if person is None or person.room_id != room_id:
            raise forbidden("only people in the room, its owners and admins invite guests")

    async def create_link(
        self, principal: Principal, room_id: int, terms: LinkTerms
    ) -> dict[str, Any]:
        await self._may_host(principal, room_id, new=True)
        now = self._clock.now()
        async with self._db() as session:
            token = await invites.create_link(
                session,
                self._settings.secret_key,
                room_id=room_id,
                created_by=principal.user_id,
                now=now,
                valid_for=terms.valid_for,
                max_uses=terms.max_uses,
                requires_admission=terms.requires_admission,
            )
            link = await session.scalar(
                select(RoomInvite).where(
                    RoomInvite.token_hash == invites.token_hash(self._settings.secret_key, token)
                )
            )
            assert link is not None
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.GUEST_LINK_CREATED,
                at=now,
                target_kind=TargetKind.GUEST_LINK,
                target_id=link.id,
                detail={
                    "room_id": room_id,
                    "valid_minutes": int(terms.valid_for.total_seconds() // 60),
                    "max_uses": terms.max_uses,
                    "requires_admission": terms.requires_admission,
                },
            )
            await session.commit()
            log.info("guests.link_created", extra={"room_id": room_id, "link_id": link.id})
            return {
                **self._describe(link),
                "token": token,
                "url": f"{self._settings.base_url}/join/{token}",
            }

    async def list_links(self, principal: Principal, room_id: int) -> list[dict[str, Any]]:
        await self._may_host(principal, room_id)
        async with self._db() as session:
            links = (
                await session.scalars(
                    select(RoomInvite)
                    .where(RoomInvite.room_id == room_id)
                    .order_by(RoomInvite.id.desc())
                )
            ).all()
            return [self._describe(link) for link in links]

    def _describe(self, link: RoomInvite) -> dict[str, Any]:
        now = self._clock.now()
        state = (
            "revoked"
            if link.revoked_at is not None
            else "expired"
            if link.expires_at <= now
            else "used_up"
            if link.max_uses is not None and link.uses >= link.max_uses
            else "active"
        )
        return {
            "id": link.id,
            "room_id": link.room_id,
            "created_at": link.created_at.isoformat(),
            "expires_at": link.expires_at.isoformat(),
            "max_uses": link.max_uses,
            "uses": link.uses,
            "requires_admission": link.requires_admission,
            "state": state,
        }

    async def revoke(self, principal: Principal, link_id: int) -> None:
        async with self._db() as session:
            link = await session.get(RoomInvite, link_id)
            if link is None or link.org_id != principal.org_id:
                raise not_found("no such guest link")
        await self._may_host(principal, link.room_id)
        now = self._clock.now()
        async with self._db() as session:
            await session.execute(
                update(RoomInvite).where(RoomInvite.id == link_id).values(revoked_at=now)
            )
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.GUEST_LINK_REVOKED,
                at=now,
                target_kind=TargetKind.GUEST_LINK,
                target_id=link_id,
                detail={"room_id": link.room_id},
            )
            await session.commit()
        log.info("guests.link_revoked", extra={"link_id": link_id})
        await self.end_dead_sessions()

    # -- guests -----------------------------------------------------------------------------

    async def inspect(self, token: str, address: str) -> invites.GuestLinkView:
        """The link's terms. Each lookup is counted against the address before the token is
        looked up (atomically, like sign-in attempts), so lookups sent in parallel cannot all
        slip past the limit; a valid link gives its attempt back."""
        key = keyed_hash(self._settings.secret_key, f"guestaddr:{address}")
        attempt, wait = await self._failures.acquire(
            key, self._clock.now().timestamp(), Limit(FAILED_LOOKUPS)
        )
        if attempt is None:
            raise AppError(
                ErrorCode.RATE_LIMITED,
                "too many invalid links; wait and retry",
                retry_after=max(1.0, wait),
            )
        async with self._db() as session:
            view = await invites.inspect_link(
                session, self._settings.secret_key, token, self._clock.now()
            )
        await self._failures.release(key, attempt)
        return view

    async def join(self, token: str, display_name: str, address: str) -> SignedIn:
        """A guest with this name enters by this link: a session confined to its room."""
        await self.inspect(token, address)
        name = accounts.clean_display_name(display_name)
        now = self._clock.now()
        async with self._db() as session:
            link = await session.scalar(
                select(RoomInvite).where(
                    RoomInvite.token_hash == invites.token_hash(self._settings.secret_key, token)
                )
            )
            assert link is not None
            counted = await session.execute(
                update(RoomInvite)
                .where(
                    RoomInvite.id == link.id,
                    RoomInvite.revoked_at.is_(None),
                    or_(RoomInvite.max_uses.is_(None), RoomInvite.uses < RoomInvite.max_uses),
                )
                .values(uses=RoomInvite.uses + 1)
            )
            if getattr(counted, "rowcount", 0) != 1:
                await session.rollback()
                raise AppError(ErrorCode.FORBIDDEN, "this guest link has been used up")
            guest = User(
                org_id=link.org_id,
                email=None,
                display_name=f"{name} (guest)",
                password_hash=None,
                status=UserStatus.ACTIVE,
                analytics_id=None,
                created_at=now,
                is_guest=True,
            )
            session.add(guest)
            await session.flush()
            await accounts.grant(session, guest, Role.GUEST)
            await record(session, Metric.GUEST_JOINED, Subject(link.org_id), at=now)
            signed_in = await self._auth.open_session(session, guest, guest_invite=link)
            await session.commit()
        log.info("guests.joined", extra={"link_id": link.id, "user_id": guest.id})
        return signed_in

    async def remove_guest(self, principal: Principal, user_id: int) -> None:
        """A host shows a guest out: their session ends and they are disconnected."""
        async with self._db() as session:
            guest = await session.get(User, user_id)
            if guest is None or guest.org_id != principal.org_id or not guest.is_guest:
                raise not_found("no such guest")
        person = await self._office.person(principal.org_id, user_id)
        link_room = await self._guest_room(user_id)
        if link_room is None:
            raise not_found("no such guest")
        await self._may_host(principal, link_room)
        async with self._db() as session:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )
            await session.commit()
        await self._show_out(principal.org_id, user_id)
        log.info("guests.removed", extra={"user_id": user_id, "was_in": bool(person)})

    async def _guest_room(self, user_id: int) -> int | None:
        async with self._db() as session:
            return await session.scalar(
                select(RoomInvite.room_id)
                .join(AuthSession, AuthSession.guest_invite_id == RoomInvite.id)
                .where(AuthSession.user_id == user_id)
                .limit(1)
            )

    async def _show_out(self, org_id: int, user_id: int) -> None:
        await self._broadcaster.to_user(user_id, "guest:ended", {"reason": "your visit has ended"})
        await self._broadcaster.disconnect(await self._office.connection_sids(org_id, user_id))
        await self._office.force_offline(org_id, user_id)

    async def end_dead_sessions(self) -> int:
        """End every guest session whose link was revoked or has expired (a job, every
        second, and right after a revocation)."""
        now = self._clock.now()
        async with self._db() as session:
            rows = (
                await session.execute(
                    select(AuthSession.id, AuthSession.user_id, RoomInvite.org_id)
                    .join(RoomInvite, RoomInvite.id == AuthSession.guest_invite_id)
                    .where(
                        AuthSession.revoked_at.is_(None),
                        or_(RoomInvite.revoked_at.is_not(None), RoomInvite.expires_at <= now),
                    )
                )
            ).all()
            if not rows:
                return 0
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id.in_([r[0] for r in rows]))
                .values(revoked_at=now)
            )
            await session.commit()
        for _, user_id, org_id in rows:
            await self._show_out(org_id, user_id)
        return len(rows)
