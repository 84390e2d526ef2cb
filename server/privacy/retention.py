"""Retention: once a day per organization (by the injected clock), delete chat older than the
policy's days, erase accounts inactive for the policy's days (guests' one-visit accounts a
month after the visit), delete raw analytics events older than the policy's days, and write
what was done to the audit log.

Raw analytics may only go once dashboards no longer need them: ``RawEventsGate`` is the hook
the analytics rollup implements (it returns the end of what it has rolled up). Until then,
``AgeOnly`` lets events go by age alone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.tables import AnalyticsEvent
from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append
from server.db.models import Organization, User
from server.infra.clock import Clock
from server.people.identity import UserStatus
from server.privacy.policy import Policy, get_policy, policy_row
from server.privacy.tables import PrivacyPolicy

log = logging.getLogger("officehours.retention")

RUN_EVERY = timedelta(days=1)
# A guest's account exists for one visit; its display name goes a month after it.
GUEST_DAYS = 30


class RawEventsGate(Protocol):
    async def deletable_before(
        self, session: AsyncSession, org_id: int, cutoff: datetime
    ) -> datetime:
        """The time before which raw events may be deleted: ``cutoff`` or earlier."""
        ...


class AgeOnly:
    """No rollup yet: raw events go by age alone."""

    async def deletable_before(
        self, session: AsyncSession, org_id: int, cutoff: datetime
    ) -> datetime:
        return cutoff


PurgeChat = Callable[[int, int], Awaitable[int]]  # (org_id, days) -> messages deleted
EraseInactive = Callable[[int], Awaitable[bool]]  # user_id -> erased now


class Retention:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        purge_chat: PurgeChat,
        erase: EraseInactive,
        gate: RawEventsGate | None = None,
        defaults: Policy | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._purge_chat = purge_chat
        self._erase = erase
        self.gate: RawEventsGate = gate or AgeOnly()
        self._defaults = defaults or Policy()

    async def run_due(self) -> int:
        """Run for every organization whose last run is a day old or more; returns how many
        organizations ran (the daily job calls this every hour)."""
        now = self._clock.now()
        async with self._db() as session:
            org_ids = list(await session.scalars(select(Organization.id).order_by(Organization.id)))
            last = {
                org_id: ran_at
                for org_id, ran_at in await session.execute(
                    select(PrivacyPolicy.org_id, PrivacyPolicy.retention_ran_at)
                )
            }
        due = [o for o in org_ids if (ran := last.get(o)) is None or ran <= now - RUN_EVERY]
        for org_id in due:
            await self.run(org_id)
        return len(due)

    async def run(self, org_id: int) -> dict[str, int]:
        now = self._clock.now()
        async with self._db() as session:
            policy = await get_policy(session, org_id, self._defaults)
            last_seen = func.coalesce(User.last_active_at, User.created_at)
            rows = await session.execute(
                select(User.id, User.is_guest)
                .where(
                    User.org_id == org_id,
                    User.status != UserStatus.ERASED,
                    or_(
                        last_seen < now - timedelta(days=policy.inactive_account_days),
                        User.is_guest.is_(True) & (last_seen < now - timedelta(days=GUEST_DAYS)),
                    ),
                )
                .order_by(User.id)
            )
            inactive = [(user_id, bool(is_guest)) for user_id, is_guest in rows]
        counts = {
            "messages_deleted": 0,
            "accounts_erased": 0,
            "guests_erased": 0,
            "analytics_events_deleted": 0,
        }
        if policy.chat_days is not None:
            counts["messages_deleted"] = await self._purge_chat(org_id, policy.chat_days)
        for user_id, is_guest in inactive:
            counts["guests_erased" if is_guest else "accounts_erased"] += int(
                await self._erase(user_id)
            )
        async with self._db() as session:
            if policy.analytics_raw_days is not None:
                cutoff = await self.gate.deletable_before(
                    session, org_id, now - timedelta(days=policy.analytics_raw_days)
                )
                result = await session.execute(
                    delete(AnalyticsEvent).where(
                        AnalyticsEvent.org_id == org_id, AnalyticsEvent.at < cutoff
                    )
                )
                counts["analytics_events_deleted"] = int(getattr(result, "rowcount", 0) or 0)
            row = await policy_row(session, org_id, self._defaults)
            row.retention_ran_at = now
            head = await append(
                session,
                org_id=org_id,
                actor_id=None,
                action=AuditAction.RETENTION_RUN,
                at=now,
                target_kind=TargetKind.POLICY,
                target_id=org_id,
                detail={**counts, **_days(policy.chat_days, policy.analytics_raw_days)},
            )
            await session.commit()
        # The audit log's head, once a day, outside the database: a log cut back later shows
        # against it (docs/operations.md, "The audit key").
        log.info(
            "retention.ran",
            extra={"org_id": org_id, **counts, "audit_entries": head.seq, "audit_head": head.hash},
        )
        return counts


def _days(chat_days: int | None, analytics_raw_days: int | None) -> dict[str, int | None]:
    return {"chat_days": chat_days, "analytics_raw_days": analytics_raw_days}
