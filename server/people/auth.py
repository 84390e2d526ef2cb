"""Signing in and out, joining with an organization invite code, and recognising a session.

The browser holds a random session token in a cookie; the database holds its keyed hash, the
user, an expiry and a CSRF token bound to that session. Sign-in attempts are counted (as keyed
hashes) before the password is checked: per email and client address together and per address
(refused with ``rate_limited`` past a limit), and per email from anywhere (slowed down past the
limit, never locked: someone else's wrong guesses must not keep the owner out).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Metric
from server.analytics.record import Subject, record
from server.audit import log as audit
from server.audit.actions import AuditAction, TargetKind
from server.db.models import AuthSession, Avatar, Group, OrgInviteCode, RoomInvite, User
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import AppError, ErrorCode, forbidden, invalid, not_found, unauthorized
from server.infra.metrics import Registry
from server.infra.ratelimit import FailureWindow, Limit
from server.infra.settings import Settings
from server.people import accounts, images, passwords, resets
from server.people.identity import Principal, Role, UserStatus
from server.people.passwords import check_policy, hash_password, needs_rehash
from server.people.permissions import may_manage
from server.people.resets import SignInMethod
from server.people.tokens import keyed_hash, new_token, same

log = logging.getLogger("officehours.auth")

# Addresses are shared (offices, schools behind one NAT): allow more failures per address
# than per account before refusing.
ADDRESS_FAILURE_FACTOR = 4


@dataclass(frozen=True)
class SessionInfo:
    principal: Principal
    csrf_token: str
    expires_at: datetime
    # Opened with an admin's reset credential: it may only set a new password.
    password_change_required: bool = False


@dataclass(frozen=True)
class SignedIn:
    token: str
    session: SessionInfo
    # An admin reset the password since the person last signed in (or this sign-in used the
    # reset credential): the latest reset and the sign-ins, to show them now.
    security_notice: dict[str, Any] | None = None


def password_change_required() -> AppError:
    return AppError(
        ErrorCode.PASSWORD_CHANGE_REQUIRED,
        "your password was reset: choose a new password before doing anything else",
    )


class Authenticator:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        failures: FailureWindow,
        metrics: Registry,
        broadcaster: Broadcaster,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._failures = failures
        self._metrics = metrics
        self._broadcaster = broadcaster

    def _key(self, kind: str, value: str) -> str:
        return keyed_hash(self._settings.secret_key, f"{kind}:{value}")

    async def _take(self, limits: list[tuple[str, Limit]]) -> list[tuple[str, str]]:
        """Count one attempt against every limit before anything is checked, or refuse (and
        un-count what was taken) if any is over."""
        now = self._clock.now().timestamp()
        taken: list[tuple[str, str]] = []
        for key, limit in limits:
            attempt, wait = await self._failures.acquire(key, now, limit)
            if attempt is None:
                await self._give_back(taken)
                self._metrics.sign_ins.inc("throttled")
                raise AppError(
                    ErrorCode.RATE_LIMITED,
                    "too many attempts; wait and retry",
                    retry_after=max(1.0, wait),
                )
            taken.append((key, attempt))
        return taken

    async def _give_back(self, taken: list[tuple[str, str]]) -> None:
        for key, attempt in taken:
            await self._failures.release(key, attempt)

    def _limits(
        self, email: str | None, address: str, *, known_device: bool = False
    ) -> list[tuple[str, Limit]]:
        """Most specific first: an attacker's own (email, address) pair gets the strict
        limit; the address a looser one (shared networks); the email from anywhere a
        back-off capped at ``login_backoff_cap_seconds``, so it can be slowed, not locked —
        and not even slowed for its owner on a browser that signed in to it before
        (``known_device``): a guesser who keeps the back-off going from many addresses
        would otherwise keep the owner waiting for as long as they keep guessing."""
        limit = self._settings.login_max_failures
        limits = []
        if email is not None:
            limits.append((self._key("pair", f"{email}|{address}"), Limit(limit)))
        limits.append((self._key("addr", address), Limit(limit * ADDRESS_FAILURE_FACTOR)))
        if email is not None and not known_device:
            cap = float(self._settings.login_backoff_cap_seconds)
            limits.append((self._key("email", email), Limit(limit, backoff_cap=cap)))
        return limits

    def device_token(self, email: str) -> str:
        """A browser's proof that it signed in to this email before (the device cookie):
        a random part and a keyed hash binding it to the email. It grants nothing but
        skipping the email's back-off; the password is still checked."""
        nonce = new_token()
        return f"{nonce}.{self._key('device', f'{email.strip().lower()}|{nonce}')}"

    def _known_device(self, email: str, token: str | None) -> bool:
        if not token or len(token) > 200 or token.count(".") != 1:
            return False
        nonce, mac = token.split(".")
        return same(mac, self._key("device", f"{email}|{nonce}"))

    async def sign_in(
        self, email: str, password: str, address: str, device: str | None = None
    ) -> SignedIn:
        """Email and password, or email and the one-time credential of an admin's reset (whose
        session may only set a new password). ``device``: the browser's device cookie."""
        email = email.strip().lower()
        known = self._known_device(email, device)
        taken = await self._take(self._limits(email, address, known_device=known))
        now = self._clock.now()
        async with self._db() as session:
            user = await session.scalar(select(User).where(User.email == email))
            ok = await passwords.verify_password(user.password_hash if user else None, password)
            method = SignInMethod.PASSWORD
            usable = user is not None and user.status is UserStatus.ACTIVE
            if not ok and 8 <= len(password) <= 64:
                # Looked up for every account, existing or not, so timing reveals nothing.
                target = user.id if usable and user is not None else 0
                if await resets.redeem(session, self._settings.secret_key, target, password, now):
                    ok, method = True, SignInMethod.RESET_CREDENTIAL
            if not ok or user is None or not usable:
                await session.rollback()
                self._metrics.sign_ins.inc("failed")
                log.info("auth.sign_in_failed")
                raise unauthorized("wrong email or password")
            if user.password_hash and needs_rehash(user.password_hash):
                user.password_hash = await hash_password(password)
            reset_since = await resets.reset_since_last_sign_in(session, user.id)
            if method is SignInMethod.RESET_CREDENTIAL:
                await audit.append(
                    session,
                    org_id=user.org_id,
                    actor_id=user.id,
                    action=AuditAction.RESET_CREDENTIAL_USED,
                    at=now,
                    target_kind=TargetKind.USER,
                    target_id=user.id,
                )
            signed_in = await self.open_session(session, user, method=method)
            notice = None
            if reset_since or method is SignInMethod.RESET_CREDENTIAL:
                notice = await resets.account_security(session, user.id)
            await session.commit()
        await self._give_back(taken)  # a successful attempt does not count against anyone
        self._metrics.sign_ins.inc("ok")
        log.info(
            "auth.signed_in",
            extra={"user_id": user.id, "org_id": user.org_id, "method": method.value},
        )
        return SignedIn(signed_in.token, signed_in.session, notice)

    async def join_with_code(
        self, code: str, email: str, display_name: str, password: str, address: str
    ) -> SignedIn:
        """Create a member account in the code's organization (and group), then sign in."""
        taken = await self._take(self._limits(None, address))
        try:
            email = accounts.normalise_email(email)
            check_policy(password, email=email)
        except AppError:
            await self._give_back(taken)
            raise
        now = self._clock.now()
        async with self._db() as session:
            invite = await session.scalar(
                select(OrgInviteCode).where(
                    OrgInviteCode.code_hash == self._key("orgcode", code.strip())
                )
            )
            problem = _invite_problem(invite, now)
            if problem is not None:
                raise problem  # the attempt stays counted: codes are not to be guessed
            await self._give_back(taken)
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
            signed_in = await self.open_session(session, user, method=SignInMethod.INVITE_CODE)
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
        self,
        session: AsyncSession,
        user: User,
        guest_invite: RoomInvite | None = None,
        *,
        method: SignInMethod = SignInMethod.PASSWORD,
    ) -> SignedIn:
        """A new signed-in session for ``user`` inside the caller's transaction. A guest's
        session lives no longer than the link it came by; one opened with a reset credential
        may only set a new password."""
        now = self._clock.now()
        if guest_invite is not None:
            method = SignInMethod.GUEST_LINK
        restricted = method is SignInMethod.RESET_CREDENTIAL
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
            method=method.value,
            password_change_required=restricted,
        )
        session.add(row)
        if guest_invite is None:
            await resets.record_sign_in(session, user.id, method, now)
        user.last_active_at = now
        await session.flush()
        unit_id, group_id = await accounts.first_group_of(session, user.id)
        await record(
            session,
            Metric.SIGNED_IN,
            Subject(user.org_id, unit_id, group_id, user.analytics_id),
            at=now,
        )
        avatar = await session.get(Avatar, user.id)
        principal = Principal(
            user.id,
            user.org_id,
            user.display_name,
            await accounts.grants_of(session, user.id),
            row.id,
            guest_room_id=guest_invite.room_id if guest_invite else None,
            guest_needs_admission=guest_invite.requires_admission if guest_invite else False,
            avatar_url=images.address(avatar.sha256, avatar.kind) if avatar else None,
        )
        return SignedIn(token, SessionInfo(principal, row.csrf_token, row.expires_at, restricted))

    async def authenticate(self, token: str | None) -> SessionInfo | None:
        """The live session behind a cookie value, or None (unknown, expired, revoked)."""
        if not token or len(token) > 128:
            return None
        now = self._clock.now()
        async with self._db() as session:
            row = (
                await session.execute(
                    select(AuthSession, User, Avatar.sha256, Avatar.kind)
                    .join(User, User.id == AuthSession.user_id)
                    .outerjoin(Avatar, Avatar.user_id == User.id)
                    .where(AuthSession.token_hash == self._key("session", token))
                )
            ).first()
            if row is None:
                return None
            auth, user, avatar_sha256, avatar_kind = row
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
                avatar_url=images.address(avatar_sha256, avatar_kind) if avatar_sha256 else None,
            )
        return SessionInfo(
            principal, auth.csrf_token, auth.expires_at, auth.password_change_required
        )

    async def _end(self, session_ids: list[int], reason: str) -> None:
        """After the commit: close the live connections of these sessions, on every process."""
        if session_ids:
            await self._broadcaster.end_sessions(session_ids, reason)

    async def sign_out(self, session_id: int) -> None:
        async with self._db() as session:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id)
                .values(revoked_at=self._clock.now())
            )
            await session.commit()
        await self._end([session_id], "signed_out")
        log.info("auth.signed_out", extra={"session_id": session_id})

    async def _live_sessions(self, session: AsyncSession, user_id: int) -> list[AuthSession]:
        return list(
            await session.scalars(
                select(AuthSession)
                .where(
                    AuthSession.user_id == user_id,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > self._clock.now(),
                )
                .order_by(AuthSession.id)
            )
        )

    async def _revoke(
        self, session: AsyncSession, user_id: int, *, keep: int | None = None
    ) -> list[int]:
        ended = [s.id for s in await self._live_sessions(session, user_id) if s.id != keep]
        if ended:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id.in_(ended))
                .values(revoked_at=self._clock.now())
            )
        return ended

    async def sign_out_everywhere(self, principal: Principal) -> int:
        """End every session of the person, this one included; returns how many."""
        async with self._db() as session:
            ended = await self._revoke(session, principal.user_id)
            await session.commit()
        await self._end(ended, "signed_out_everywhere")
        log.info("auth.signed_out_everywhere", extra={"user_id": principal.user_id})
        return len(ended)

    async def sessions_of(self, principal: Principal) -> list[dict[str, Any]]:
        """The person's live sessions (when opened, how, until when; which one is this)."""
        async with self._db() as session:
            rows = await self._live_sessions(session, principal.user_id)
        return [
            {
                "id": s.id,
                "created_at": s.created_at.isoformat(),
                "expires_at": s.expires_at.isoformat(),
                "method": s.method,
                "current": s.id == principal.session_id,
            }
            for s in rows
        ]

    async def end_session(self, principal: Principal, session_id: int) -> None:
        """End one of the person's own sessions (another browser they left signed in)."""
        async with self._db() as session:
            row = await session.get(AuthSession, session_id)
            if row is None or row.user_id != principal.user_id or row.revoked_at is not None:
                raise not_found("no such session")
            row.revoked_at = self._clock.now()
            await session.commit()
        await self._end([session_id], "signed_out")

    async def change_password(self, principal: Principal, current: str | None, new: str) -> None:
        """Set a new password: the current one is required, except in the session a reset
        credential opened (that credential was the proof). Every other session ends."""
        if principal.is_guest:
            raise forbidden("guests have no password")
        async with self._db() as session:
            auth_row = await session.get(AuthSession, principal.session_id)
            user = await session.get(User, principal.user_id)
            if auth_row is None or user is None:
                raise unauthorized()
            if not auth_row.password_change_required:
                if current is None:
                    raise invalid("your current password is required")
                limit = Limit(self._settings.login_max_failures)
                taken = await self._take([(self._key("change", str(user.id)), limit)])
                if not await passwords.verify_password(user.password_hash, current):
                    raise forbidden("that is not your current password")
                await self._give_back(taken)
            check_policy(new, email=user.email)
            user.password_hash = await hash_password(new)
            auth_row.password_change_required = False
            ended = await self._revoke(session, user.id, keep=auth_row.id)
            await session.commit()
        await self._end(ended, "password_changed")
        log.info("auth.password_changed", extra={"user_id": principal.user_id})

    async def account_security(self, principal: Principal) -> dict[str, Any]:
        async with self._db() as session:
            return await resets.account_security(session, principal.user_id)

    async def purge_expired(self) -> int:
        """Delete sessions that expired or were revoked a day ago or more."""
        cutoff = self._clock.now() - timedelta(days=1)
        async with self._db() as session:
            result = await session.execute(
                delete(AuthSession).where(
                    (AuthSession.expires_at < cutoff) | (AuthSession.revoked_at < cutoff)
                )
            )
            await resets.purge_history(session, self._clock.now())
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
