"""Consent to group membership: an admin who puts someone in a group they were not in makes
an invitation; the person holds no role there (is not counted, listed or visible to the
group's leads) until they accept it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Group, Membership, User
from server.infra.errors import conflict, not_found
from server.people import accounts
from server.people.identity import Role
from server.privacy.tables import PendingMembership


def pending_json(p: PendingMembership, group_name: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "role": p.role.value,
        "unit_id": p.unit_id,
        "group_id": p.group_id,
        "group_name": group_name,
        "created_at": p.created_at.isoformat(),
    }


async def propose(
    session: AsyncSession,
    *,
    user: User,
    group: Group,
    role: Role,
    invited_by: int,
    now: datetime,
) -> PendingMembership | Membership:
    """A pending membership, or — for someone already in the group — the role at once."""
    roles = set(
        await session.scalars(
            select(Membership.role).where(
                Membership.user_id == user.id, Membership.group_id == group.id
            )
        )
    )
    if role in roles:
        raise conflict("they already have that role in that group")
    if roles:
        return await accounts.grant(session, user, role, group_id=group.id)
    waiting = await session.scalar(
        select(PendingMembership.id).where(
            PendingMembership.user_id == user.id,
            PendingMembership.group_id == group.id,
            PendingMembership.role == role,
        )
    )
    if waiting is not None:
        raise conflict("they have not answered the same invitation yet")
    pending = PendingMembership(
        user_id=user.id,
        org_id=user.org_id,
        role=role,
        unit_id=group.unit_id,
        group_id=group.id,
        invited_by=invited_by,
        created_at=now,
    )
    session.add(pending)
    await session.flush()
    return pending


async def waiting_for(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(PendingMembership, Group.name)
        .join(Group, Group.id == PendingMembership.group_id)
        .where(PendingMembership.user_id == user_id)
        .order_by(PendingMembership.id)
    )
    return [pending_json(p, name) for p, name in rows]


async def answer(
    session: AsyncSession, user: User, pending_id: int, *, accept: bool
) -> PendingMembership:
    pending = await session.get(PendingMembership, pending_id)
    if pending is None or pending.user_id != user.id:
        raise not_found("no such invitation")
    if accept:
        await accounts.grant(session, user, pending.role, group_id=pending.group_id)
    await session.delete(pending)
    await session.flush()
    return pending
