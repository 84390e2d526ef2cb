"""Signing in and out, joining with an organization invite code, and recognising a session.

The browser holds a random session token in a cookie; the database holds its keyed hash, the
user, an expiry and a CSRF token bound to that session. Failed attempts are counted per email
and per client address (both as keyed hashes) and refused with ``rate_limited`` past a limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import accounts
from server.analytics.metrics import Metric
from server.analytics.record import Subject, record
from server.clock import Clock
from server.db.models import AuthSession, Group, OrgInviteCode, RoomInvite, User
from server.errors import AppError, ErrorCode, forbidden, invalid, not_found, unauthorized
from server.identity import Principal, Role, UserStatus
from server.metrics import Registry
from server.passwords import check_policy, hash_password, needs_rehash, verify_password
from server.permissions import may_manage
from server.ratelimit import FailureWindow
from server.settings import Settings
from server.tokens import keyed_hash, new_token

log = logging.getLogger("officehours.auth")

# Addresses are shared (offices, schools behind one NAT): allow more failures per address
# than per account before refusing.
ADDRESS_FAILURE_FACTOR = 4


@dataclass(frozen=True)
class SessionInfo:
    principal: Principal
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    token: str
    session: SessionInfo


class Authenticator:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        failures: FailureWindow,
        metrics: Registry,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._failures = failures
        self._metrics = metrics

    def _key(self, kind: str, value: str) -> str:
        return keyed_hash(self._settings.secret_key, f"{kind}:{value}")

    async def _refuse_if_throttled(self, keys: list[tuple[str, int]]) -> None:
        now = self._clock.now().timestamp()
        for key, limit in keys:
            count, oldest = await self._failures.failures(key, now)
            if count >= limit and oldest is not None:
                self._metrics.sign_ins.inc("throttled")
                retry = max(1.0, oldest + self._settings.login_window_seconds - now)
                raise AppError(
                    ErrorCode.RATE_LIMITED,
                    "too many failed attempts; wait and retry",
                    retry_after=retry,
                )

    async def _count_failure(self, keys: list[tuple[str, int]]) -> None:
        now = self._clock.now().timestamp()
        for key, _ in keys:
            await self._failures.add(key, now)

    def _throttle_keys(self, email: str | None, address: str) -> list[tuple[str, int]]:
        limit = self._settings.login_max_failures
        keys = [(self._key("addr", address), limit * ADDRESS_FAILURE_FACTOR)]
        if email is not None:
            keys.append((self._key("email", email), limit))
        return keys

    async def sign_in(self, email: str, password: str, address: str) -> SignedIn:
        email = email.strip().lower()
        keys = self._throttle_keys(email, address)
        await self._refuse_if_throttled(keys)
        async with self._db() as session:
            user = await session.scalar(select(User).where(User.email == email))
            ok = await verify_password(user.password_hash if user else None, password)
            if not ok or user is None or user.status is not UserStatus.ACTIVE:
                await self._count_failure(keys)
                self._metrics.sign_ins.inc("failed")
                log.info("auth.sign_in_failed")
                raise unauthorized("wrong email or password")
            if user.password_hash and needs_rehash(user.password_hash):
                user.password_hash = await hash_password(password)
            signed_in = await self.open_session(session, user)
            await session.commit()
        await self._failures.clear(keys[1][0])
        self._metrics.sign_ins.inc("ok")
        log.info("auth.signed_in", extra={"user_id": user.id, "org_id": user.org_id})
        return signed_in

    async def join_with_code(
        self, code: str, email: str, display_name: str, password: str, address: str
    ) -> SignedIn:
        """Create a member account in the code's organization (and group), then sign in."""
        keys = self._throttle_keys(None, address)
        await self._refuse_if_throttled(keys)
        email = accounts.normalise_email(email)
        check_policy(password, email=email)
        now = self._clock.now()
        async with self._db() as session:
            invite = await session.scalar(
                select(OrgInviteCode).where(
                    OrgInviteCode.code_hash == self._key("orgcode", code.strip())
                )
            )
            problem = _invite_problem(invite, now)
            if problem is not None:
                await self._count_failure(keys)
                raise problem
            assert invite is not None
            user = await accounts.create_user(
                session,
                invite.org_id,
                email=email,
                display_name=display_name,
                password_hash=await hash_password(password),
                now=now,
            )
            await accounts.grant(
                session, user, Role.MEMBER, unit_id=invite.unit_id, group_id=invite.group_id
            )
            # Counted atomically, so two people racing for the last use cannot both get in.
            counted = await session.execute(
                update(OrgInviteCode)
                .where(
                    OrgInviteCode.id == invite.id,
                    (OrgInviteCode.max_uses.is_(None))
                    | (OrgInviteCode.uses < OrgInviteCode.max_uses),
                )
                .values(uses=OrgInviteCode.uses + 1)
            )
            if getattr(counted, "rowcount", 0) != 1:
                await session.rollback()
                raise AppError(ErrorCode.FORBIDDEN, "that invite code has been used up")
            signed_in = await self.open_session(session, user)
            await session.commit()
        log.info("auth.joined", extra={"user_id": user.id, "org_id": user.org_id})
        return signed_in

    async def create_invite_code(
        self,
        principal: Principal | None,
        org_id: int,
        *,
        group_id: int | None = None,
        valid_for: timedelta | None = None,
        max_uses: int | None = None,
    ) -> str:
        """An invite code to the organization, or to one of its groups. ``principal`` None is
        the operator (CLI, demo seed). Returns the code; only its keyed hash is stored."""
        if valid_for is not None and not timedelta(minutes=5) <= valid_for <= timedelta(days=90):
            raise invalid("an invite code is valid from 5 minutes to 90 days")
        if max_uses is not None and not 1 <= max_uses <= 10_000:
            raise invalid("an invite code allows 1 to 10000 uses")
        code = new_token(12)
        now = self._clock.now()
        async with self._db() as session:
            unit_id = None
            if group_id is not None:
                group = await session.get(Group, group_id)
                if group is None or group.org_id != org_id:
                    raise not_found("no such group")
                unit_id = group.unit_id
            if principal is not None and not may_manage(
                principal, org_id=org_id, unit_id=unit_id, group_id=group_id
            ):
                raise forbidden(
                    "only admins of that group, its unit or the organization may invite to it"
                )
            session.add(
                OrgInviteCode(
                    org_id=org_id,
                    code_hash=self._key("orgcode", code),
                    unit_id=unit_id,
                    group_id=group_id,
                    created_by=principal.user_id if principal else None,
                    created_at=now,
                    expires_at=now + valid_for if valid_for else None,
                    max_uses=max_uses,
                )
            )
            await session.commit()
        log.info("auth.invite_code_created", extra={"org_id": org_id, "group_id": group_id})
        return code

    async def open_session(
        self, session: AsyncSession, user: User, guest_invite: RoomInvite | None = None
    ) -> SignedIn:
        """A new signed-in session for ``user`` inside the caller's transaction. A guest's
        session lives no longer than the link it came by."""
        now = self._clock.now()
        token = new_token()
        expires_at = now + timedelta(hours=self._settings.session_ttl_hours)
        if guest_invite is not None:
            expires_at = min(expires_at, guest_invite.expires_at)
        row = AuthSession(
            token_hash=self._key("session", token),
            user_id=user.id,
            csrf_token=new_token(),
            created_at=now,
            expires_at=expires_at,
            guest_invite_id=guest_invite.id if guest_invite else None,
        )
        session.add(row)
        user.last_active_at = now
        await session.flush()
        unit_id, group_id = await accounts.first_group_of(session, user.id)
        await record(
            session,
            Metric.SIGNED_IN,
            Subject(user.org_id, unit_id, group_id, user.analytics_id),
            at=now,
        )
        principal = Principal(
            user.id,
            user.org_id,
            user.display_name,
            await accounts.grants_of(session, user.id),
            row.id,
            guest_room_id=guest_invite.room_id if guest_invite else None,
            guest_needs_admission=guest_invite.requires_admission if guest_invite else False,
        )
        return SignedIn(token, SessionInfo(principal, row.csrf_token, row.expires_at))

    async def authenticate(self, token: str | None) -> SessionInfo | None:
        """The live session behind a cookie value, or None (unknown, expired, revoked)."""
        if not token or len(token) > 128:
            return None
        now = self._clock.now()
        async with self._db() as session:
            row = (
                await session.execute(
                    select(AuthSession, User)
                    .join(User, User.id == AuthSession.user_id)
                    .where(AuthSession.token_hash == self._key("session", token))
                )
            ).first()
            if row is None:
                return None
            auth, user = row
            if auth.revoked_at is not None or auth.expires_at <= now:
                return None
            if user.status is not UserStatus.ACTIVE:
                return None
            invite = None
            if auth.guest_invite_id is not None:
                invite = await session.get(RoomInvite, auth.guest_invite_id)
                if invite is None or invite.revoked_at is not None or invite.expires_at <= now:
                    return None  # the link died: so did every guest session it opened
            principal = Principal(
                user.id,
                user.org_id,
                user.display_name,
                await accounts.grants_of(session, user.id),
                auth.id,
                guest_room_id=invite.room_id if invite else None,
                guest_needs_admission=invite.requires_admission if invite else False,
            )
        return SessionInfo(principal, auth.csrf_token, auth.expires_at)

    async def sign_out(self, session_id: int) -> None:
        async with self._db() as session:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id)
                .values(revoked_at=self._clock.now())
            )
            await session.commit()
        log.info("auth.signed_out", extra={"session_id": session_id})

    async def purge_expired(self) -> int:
        """Delete sessions that expired or were revoked a day ago or more."""
        cutoff = self._clock.now() - timedelta(days=1)
        async with self._db() as session:
            result = await session.execute(
                delete(AuthSession).where(
                    (AuthSession.expires_at < cutoff) | (AuthSession.revoked_at < cutoff)
                )
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


def _invite_problem(invite: OrgInviteCode | None, now: datetime) -> AppError | None:
    if invite is None:
        return invalid("that invite code is not valid")
    if invite.revoked_at is not None:
        return AppError(ErrorCode.FORBIDDEN, "that invite code was revoked")
    if invite.expires_at is not None and invite.expires_at <= now:
        return AppError(ErrorCode.FORBIDDEN, "that invite code has expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return AppError(ErrorCode.FORBIDDEN, "that invite code has been used up")
    return None
