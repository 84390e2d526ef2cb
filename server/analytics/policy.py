"""An organization's analytics policy: changed by its org admins, each change audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.tables import AnalyticsPolicy
from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.infra.errors import forbidden
from server.people.identity import Principal
from server.people.permissions import may_manage


async def per_person_activity(session: AsyncSession, org_id: int) -> bool:
    row = await session.get(AnalyticsPolicy, org_id)
    return bool(row and row.per_person_activity)


async def set_per_person_activity(
    db: async_sessionmaker[AsyncSession], principal: Principal, enabled: bool, now: datetime
) -> bool:
    """Turn per-person activity on or off for the principal's organization (org admins)."""
    if principal.is_guest or not may_manage(
        principal, org_id=principal.org_id, unit_id=None, group_id=None
    ):
        raise forbidden("only organization admins change the analytics policy")
    async with db() as session:
        row = await session.get(AnalyticsPolicy, principal.org_id)
        if row is None:
            row = AnalyticsPolicy(org_id=principal.org_id, per_person_activity=False)
            session.add(row)
        if row.per_person_activity != enabled:
            row.per_person_activity = enabled
            await append(
                session,
                org_id=principal.org_id,
                actor_id=principal.user_id,
                action=AuditAction.POLICY_CHANGED,
                at=now,
                target_kind=TargetKind.POLICY,
                detail={"per_person_activity": enabled},
            )
        await session.commit()
    return enabled
