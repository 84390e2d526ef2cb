"""The privacy service: what the HTTP views call. Each method authorizes, runs one
transaction (with its audit entry), commits, and only then disconnects or notifies people."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.audit import log as audit
from server.audit.actions import AuditAction, TargetKind
from server.audit.tables import GENESIS, AuditHead
from server.db.models import AuthSession, Group, User
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import conflict, forbidden, not_found
from server.office.service import Office
from server.people import resets
from server.people.identity import Principal, Role, UserStatus
from server.people.permissions import may_manage
from server.privacy import consent
from server.privacy.erasure import ANONYMOUS, Erased, erase_user
from server.privacy.export import DEFAULT_MAX_BYTES, build_zip, collect_org, collect_person
from server.privacy.parts import DataPart
from server.privacy.policy import Policy, get_policy, set_policy
from server.privacy.tables import PendingMembership

log = logging.getLogger("officehours.privacy")

MAX_AUDIT_PAGE = 200


def require_org_admin(principal: Principal) -> None:
    if principal.is_guest or not principal.has_role(Role.ORG_ADMIN):
        raise forbidden("only organization admins may do that")


def require_account(principal: Principal) -> None:
    if principal.is_guest:
        raise forbidden("guests have no account here")


def entry_json(entry: Any) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "action": entry.action.value,
        "target_kind": entry.target_kind.value if entry.target_kind else None,
        "target_id": entry.target_id,
        "detail": entry.detail,
        "hash": entry.hash,
    }


class Privacy:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        office: Office,
        broadcaster: Broadcaster,
        parts: Sequence[DataPart],
        *,
        defaults: Policy | None = None,
        max_export_bytes: int = DEFAULT_MAX_BYTES,
        secret_key: str,
        reset_valid_for: timedelta = timedelta(hours=24),
    ) -> None:
        self._secret_key = secret_key
        self._reset_valid_for = reset_valid_for
        self._db = db
        self._clock = clock
        self._office = office
        self._broadcaster = broadcaster
        self.parts = tuple(parts)
        self.max_export_bytes = max_export_bytes
        self.defaults = defaults or Policy()

    async def _target(self, session: AsyncSession, principal: Principal, user_id: int) -> User:
        """A person in the admin's organization (anyone else does not exist for them)."""
        user = await session.get(User, user_id)
        if user is None or user.org_id != principal.org_id:
            raise not_found("no such person")
        return user

    async def _end_connections(self, org_id: int, user_id: int, reason: str) -> None:
        await self._broadcaster.to_user(user_id, "account:ended", {"reason": reason})
        await self._broadcaster.disconnect(await self._office.connection_sids(org_id, user_id))
        if reason == "erased":
            await self._office.forget(org_id, user_id, ANONYMOUS)
        else:
            await self._office.force_offline(org_id, user_id)

    # -- export -----------------------------------------------------------------------------

    async def export_me(self, principal: Principal) -> bytes:
        require_account(principal)
        now = self._clock.now()
        async with self._db() as session:
            user = await self._target(session, principal, principal.user_id)
            data = await collect_person(session, user, self.parts)
            await audit.append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.EXPORT_PERSON,
                at=now,
                target_kind=TargetKind.USER,
                target_id=principal.user_id,
            )
            archive = await build_zip(
                kind="person",
                subject_id=user.id,
                generated_at=now,
                data=data,
                max_bytes=self.max_export_bytes,
            )
            await session.commit()
        return archive

    async def export_org(self, principal: Principal) -> bytes:
        require_org_admin(principal)
        now = self._clock.now()
        async with self._db() as session:
            data = await collect_org(session, principal.org_id, self.parts)
            await audit.append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.EXPORT_ORGANIZATION,
                at=now,
                target_kind=TargetKind.ORGANIZATION,
                target_id=principal.org_id,
            )
            archive = await build_zip(
                kind="organization",
                subject_id=principal.org_id,
                generated_at=now,
                data=data,
                max_bytes=self.max_export_bytes,
            )
            await session.commit()
        return archive

    # -- erasure ----------------------------------------------------------------------------

    async def erase_user(self, user_id: int, actor_id: int | None, by: str) -> Erased:
        """Erase one person (self, admin or retention), audit-log it, then disconnect them."""
        now = self._clock.now()
        async with self._db() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise not_found("no such person")
            policy = await get_policy(session, user.org_id, self.defaults)
            erased = await erase_user(session, user, self.parts, policy.erased_content, now)
            if not erased.already:
                await audit.append(
                    session,
                    org_id=user.org_id,
                    actor_id=actor_id,
                    action=AuditAction.ACCOUNT_ERASED,
                    at=now,
                    target_kind=TargetKind.USER,
                    target_id=user_id,
                    detail={
                        "by": by,
                        "content": policy.erased_content.value,
                        "rows": erased.rows,
                    },
                )
            await session.commit()
        if not erased.already:
            await self._end_connections(erased.org_id, user_id, "erased")
            log.info("privacy.erased", extra={"user_id": user_id, "by": by})
        return erased

    async def close_account(self, principal: Principal) -> None:
        require_account(principal)
        await self.erase_user(principal.user_id, principal.user_id, "self")

    async def erase(self, principal: Principal, user_id: int) -> None:
        require_org_admin(principal)
        if user_id == principal.user_id:  # closing one's own account is its own, confirmed act
            raise conflict("you cannot do that to your own account")
        async with self._db() as session:
            await self._target(session, principal, user_id)
        await self.erase_user(user_id, principal.user_id, "admin")

    async def erase_inactive(self, user_id: int) -> bool:
        """Retention's erasure: no actor (the system did it)."""
        return not (await self.erase_user(user_id, None, "retention")).already

    # -- account administration -------------------------------------------------------------

    async def _admin_change(
        self,
        principal: Principal,
        user_id: int,
        action: AuditAction,
        change: Callable[[AsyncSession, User], Awaitable[None]],
    ) -> None:
        require_org_admin(principal)
        if user_id == principal.user_id:
            raise conflict("you cannot do that to your own account")
        now = self._clock.now()
        async with self._db() as session:
            user = await self._target(session, principal, user_id)
            if user.status is UserStatus.ERASED:
                raise conflict("that account was erased")
            await change(session, user)
            await audit.append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=action,
                at=now,
                target_kind=TargetKind.USER,
                target_id=user_id,
            )
            await session.commit()

    async def _revoke_sessions(self, session: AsyncSession, user_id: int) -> None:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=self._clock.now())
        )

    async def suspend(self, principal: Principal, user_id: int) -> None:
        async def change(session: AsyncSession, user: User) -> None:
            if user.status is UserStatus.SUSPENDED:
                raise conflict("that account is already suspended")
            user.status = UserStatus.SUSPENDED
            await self._revoke_sessions(session, user.id)

        await self._admin_change(principal, user_id, AuditAction.ACCOUNT_SUSPENDED, change)
        await self._end_connections(principal.org_id, user_id, "suspended")

    async def restore(self, principal: Principal, user_id: int) -> None:
        async def change(session: AsyncSession, user: User) -> None:
            if user.status is not UserStatus.SUSPENDED:
                raise conflict("that account is not suspended")
            user.status = UserStatus.ACTIVE

        await self._admin_change(principal, user_id, AuditAction.ACCOUNT_RESTORED, change)

    async def reset_password(self, principal: Principal, user_id: int) -> str:
        """A one-time credential, shown to the admin once: it signs in once, before it expires,
        into a session that can only set a new password. The old password stops working and
        every session of the person ends; they see the reset (when, by whom) on /me."""
        credential = ""

        async def change(session: AsyncSession, user: User) -> None:
            nonlocal credential
            if user.is_guest:
                raise conflict("guests have no password")
            credential = await resets.issue(
                session,
                self._secret_key,
                user,
                by=principal.user_id,
                now=self._clock.now(),
                valid_for=self._reset_valid_for,
            )
            await self._revoke_sessions(session, user.id)

        await self._admin_change(principal, user_id, AuditAction.PASSWORD_RESET, change)
        await self._end_connections(principal.org_id, user_id, "password_reset")
        return credential

    # -- policy -----------------------------------------------------------------------------

    async def policy(self, principal: Principal) -> dict[str, Any]:
        require_account(principal)  # everyone may know how long their data is kept
        async with self._db() as session:
            return (await get_policy(session, principal.org_id, self.defaults)).public()

    async def change_policy(self, principal: Principal, changes: dict[str, Any]) -> dict[str, Any]:
        require_org_admin(principal)
        now = self._clock.now()
        async with self._db() as session:
            new, changed = await set_policy(session, principal.org_id, changes, now, self.defaults)
            if changed:
                await audit.append(
                    session,
                    org_id=principal.org_id,
                    actor_id=principal.user_id,
                    action=AuditAction.POLICY_CHANGED,
                    at=now,
                    target_kind=TargetKind.POLICY,
                    target_id=principal.org_id,
                    detail={k: v for k, v in new.public().items() if k in changed},
                )
            await session.commit()
        return new.public()

    # -- audit log --------------------------------------------------------------------------

    async def audit_page(
        self, principal: Principal, before_seq: int | None, limit: int
    ) -> dict[str, Any]:
        require_org_admin(principal)
        limit = max(1, min(limit, MAX_AUDIT_PAGE))
        async with self._db() as session:
            rows = await audit.entries(
                session, principal.org_id, before_seq=before_seq, limit=limit
            )
            head = await session.get(AuditHead, principal.org_id)
        more = len(rows) == limit and rows[-1].seq > 1
        return {
            "entries": [entry_json(e) for e in rows],
            "next_before_seq": rows[-1].seq if more else None,
            "head": {
                "entries": 0 if head is None else head.seq,
                "mac": GENESIS if head is None else head.hash,
            },
        }

    async def audit_verify(
        self, principal: Principal, seen: tuple[int, str] | None = None
    ) -> dict[str, Any]:
        """``seen``: a head noted earlier (entries, MAC), to tell a log cut back since."""
        require_org_admin(principal)
        checkpoint = None if seen is None else audit.Checkpoint(*seen)
        async with self._db() as session:
            return await audit.status(session, principal.org_id, checkpoint)

    # -- consent ----------------------------------------------------------------------------

    async def add_to_group(
        self, principal: Principal, group_id: int, user_id: int, role: Role
    ) -> dict[str, Any]:
        """An admin of the group (or above) puts someone in it: a pending invitation unless
        they are already in the group."""
        if principal.is_guest:
            raise forbidden("guests may not do that")
        now = self._clock.now()
        async with self._db() as session:
            group = await session.get(Group, group_id)
            if group is None or group.org_id != principal.org_id:
                raise not_found("no such group")
            if not may_manage(
                principal, org_id=group.org_id, unit_id=group.unit_id, group_id=group.id
            ):
                raise forbidden("only admins of that group, its unit or the organization may")
            user = await self._target(session, principal, user_id)
            if user.status is not UserStatus.ACTIVE or user.is_guest:
                raise conflict("that account cannot join groups")
            made = await consent.propose(
                session, user=user, group=group, role=role, invited_by=principal.user_id, now=now
            )
            pending = isinstance(made, PendingMembership)
            await audit.append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.MEMBERSHIP_PROPOSED if pending else AuditAction.ROLE_GRANTED,
                at=now,
                target_kind=TargetKind.USER,
                target_id=user.id,
                detail={"role": role.value, "group_id": group.id},
            )
            view = (
                consent.pending_json(made, group.name)
                if isinstance(made, PendingMembership)
                else None
            )
            await session.commit()
        if view is None:
            return {"status": "granted"}
        await self._broadcaster.to_user(user_id, "membership:pending", view)
        return {"status": "pending", "pending": view}

    async def pending(self, principal: Principal) -> list[dict[str, Any]]:
        require_account(principal)
        async with self._db() as session:
            return await consent.waiting_for(session, principal.user_id)

    async def answer(self, principal: Principal, pending_id: int, *, accept: bool) -> None:
        require_account(principal)
        async with self._db() as session:
            user = await self._target(session, principal, principal.user_id)
            await consent.answer(session, user, pending_id, accept=accept)
            await session.commit()
        log.info("privacy.membership_answered", extra={"pending_id": pending_id, "accept": accept})
