"""Admin password resets and the sign-in history a person sees about themselves.

A reset hands the admin a one-time credential, not a password: it works for one sign-in,
expires, and the session it opens may only set a new password (``password_change_required``).
So an admin who keeps the credential cannot come back as the person, and one who uses it
first leaves the person locked out of their old password and told about it on /me.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Membership, PasswordReset, SignInRecord, User
from server.people.identity import Role
from server.people.tokens import keyed_hash, new_token, same

# The sign-in history is kept this long, then purged with expired sessions.
HISTORY_DAYS = 90
MAX_HISTORY = 50


class SignInMethod(StrEnum):
    PASSWORD = "password"  # noqa: S105 (a method name)
    RESET_CREDENTIAL = "reset_credential"
    INVITE_CODE = "invite_code"
    GUEST_LINK = "guest_link"


def _hash(secret_key: str, credential: str) -> str:
    return keyed_hash(secret_key, f"reset:{credential}")


async def issue(
    session: AsyncSession,
    secret_key: str,
    user: User,
    *,
    by: int,
    now: datetime,
    valid_for: timedelta,
) -> str:
    """A new one-time credential for ``user`` (returned once, stored as a keyed hash). The
    old password stops working, and so does any earlier credential not yet used."""
    credential = new_token(12)
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(expires_at=now)
    )
    session.add(
        PasswordReset(
            user_id=user.id,
            credential_hash=_hash(secret_key, credential),
            created_at=now,
            expires_at=now + valid_for,
            reset_by=by,
        )
    )
    user.password_hash = None
    return credential


async def redeem(
    session: AsyncSession, secret_key: str, user_id: int, credential: str, now: datetime
) -> bool:
    """Use ``credential`` up, if it is ``user_id``'s live one. Atomic: of two sign-ins racing
    with the same credential, one wins."""
    live = await session.scalar(
        select(PasswordReset)
        .where(
            PasswordReset.user_id == user_id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .order_by(PasswordReset.id.desc())
        .limit(1)
    )
    if live is None or not same(live.credential_hash, _hash(secret_key, credential)):
        return False
    used = await session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == live.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    return int(getattr(used, "rowcount", 0) or 0) == 1


async def reset_since_last_sign_in(session: AsyncSession, user_id: int) -> bool:
    """Whether an admin reset the password after the person's previous sign-in (call before
    recording this one): then this sign-in shows them the reset and the sign-ins."""
    reset_at = await session.scalar(
        select(PasswordReset.created_at)
        .where(PasswordReset.user_id == user_id)
        .order_by(PasswordReset.id.desc())
        .limit(1)
    )
    if reset_at is None:
        return False
    previous = await session.scalar(
        select(SignInRecord.at)
        .where(SignInRecord.user_id == user_id)
        .order_by(SignInRecord.id.desc())
        .limit(1)
    )
    return previous is None or previous < reset_at


async def record_sign_in(
    session: AsyncSession, user_id: int, method: SignInMethod, now: datetime
) -> None:
    session.add(SignInRecord(user_id=user_id, at=now, method=method.value))


async def purge_history(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        delete(SignInRecord).where(SignInRecord.at < now - timedelta(days=HISTORY_DAYS))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _admin_role(roles: list[Role]) -> str:
    for role in (Role.ORG_ADMIN, Role.UNIT_ADMIN, Role.GROUP_LEAD):
        if role in roles:
            return role.value
    return "admin"


async def account_security(session: AsyncSession, user_id: int) -> dict[str, Any]:
    """What /me shows: the latest admin reset (when, by whom, whether its credential was used)
    and the latest sign-ins, with time and method, never an address."""
    reset = await session.scalar(
        select(PasswordReset)
        .where(PasswordReset.user_id == user_id)
        .order_by(PasswordReset.id.desc())
        .limit(1)
    )
    latest_reset: dict[str, Any] | None = None
    if reset is not None:
        admin = await session.get(User, reset.reset_by) if reset.reset_by else None
        roles = (
            list(
                await session.scalars(select(Membership.role).where(Membership.user_id == admin.id))
            )
            if admin is not None
            else []
        )
        latest_reset = {
            "at": reset.created_at.isoformat(),
            "by": (
                {"id": admin.id, "display_name": admin.display_name, "role": _admin_role(roles)}
                if admin is not None
                else None
            ),
            "used_at": reset.used_at.isoformat() if reset.used_at else None,
            "expires_at": reset.expires_at.isoformat(),
        }
    rows = await session.scalars(
        select(SignInRecord)
        .where(SignInRecord.user_id == user_id)
        .order_by(SignInRecord.id.desc())
        .limit(MAX_HISTORY)
    )
    return {
        "latest_reset": latest_reset,
        "sign_ins": [{"at": r.at.isoformat(), "method": r.method} for r in rows],
        "history_days": HISTORY_DAYS,
    }
