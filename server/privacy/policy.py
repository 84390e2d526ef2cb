"""Each organization's lifecycle policy: how long chat, inactive accounts and raw analytics
are kept, and what erasure does with what a person wrote in shared conversations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.infra.errors import invalid
from server.privacy.tables import (
    DEFAULT_ANALYTICS_RAW_DAYS,
    DEFAULT_INACTIVE_ACCOUNT_DAYS,
    ErasedContent,
    PrivacyPolicy,
)

DAYS_MIN, DAYS_MAX = 1, 36_500
INACTIVE_MIN = 30  # a shorter period would erase people on holiday


@dataclass(frozen=True)
class Policy:
    chat_days: int | None = None
    inactive_account_days: int = DEFAULT_INACTIVE_ACCOUNT_DAYS
    analytics_raw_days: int | None = DEFAULT_ANALYTICS_RAW_DAYS
    erased_content: ErasedContent = ErasedContent.ANONYMISE

    def __post_init__(self) -> None:
        for name in ("chat_days", "analytics_raw_days"):
            value = getattr(self, name)
            if value is not None and not DAYS_MIN <= value <= DAYS_MAX:
                raise invalid(f"{name} is from {DAYS_MIN} to {DAYS_MAX} days, or null to keep")
        if not INACTIVE_MIN <= self.inactive_account_days <= DAYS_MAX:
            raise invalid(f"inactive_account_days is from {INACTIVE_MIN} to {DAYS_MAX} days")
        if not isinstance(self.erased_content, ErasedContent):
            raise invalid("erased_content is 'anonymise' or 'delete'")

    def public(self) -> dict[str, Any]:
        return {
            "chat_days": self.chat_days,
            "inactive_account_days": self.inactive_account_days,
            "analytics_raw_days": self.analytics_raw_days,
            "erased_content": self.erased_content.value,
        }


async def policy_row(
    session: AsyncSession, org_id: int, defaults: Policy | None = None
) -> PrivacyPolicy:
    """The organization's row, created with the defaults on first use."""
    row = await session.get(PrivacyPolicy, org_id)
    if row is None:
        defaults = defaults or Policy()
        row = PrivacyPolicy(
            org_id=org_id,
            chat_days=defaults.chat_days,
            inactive_account_days=defaults.inactive_account_days,
            analytics_raw_days=defaults.analytics_raw_days,
            erased_content=defaults.erased_content,
        )
        session.add(row)
        await session.flush()
    return row


async def get_policy(session: AsyncSession, org_id: int, defaults: Policy | None = None) -> Policy:
    row = await session.get(PrivacyPolicy, org_id)
    if row is None or not row.customised:
        return defaults or Policy()
    return Policy(
        row.chat_days, row.inactive_account_days, row.analytics_raw_days, row.erased_content
    )


async def set_policy(
    session: AsyncSession,
    org_id: int,
    changes: dict[str, Any],
    now: datetime,
    defaults: Policy | None = None,
) -> tuple[Policy, list[str]]:
    """Apply ``changes`` (field -> value); returns the new policy and the fields that changed."""
    current = (await get_policy(session, org_id, defaults)).public()
    merged = {**current, **changes}
    merged["erased_content"] = ErasedContent(merged["erased_content"])
    new = Policy(**merged)
    changed = sorted(k for k, v in new.public().items() if current[k] != v)
    row = await policy_row(session, org_id, defaults)
    row.chat_days = new.chat_days
    row.inactive_account_days = new.inactive_account_days
    row.analytics_raw_days = new.analytics_raw_days
    row.erased_content = new.erased_content
    row.customised = True
    row.updated_at = now
    return new, changed


def deployment_defaults(
    chat_retention_days: int, inactive_account_days: int, analytics_raw_retention_days: int
) -> Policy:
    """The policy of organizations that have not set their own, from the settings
    (a chat retention of 0 means "keep")."""
    return Policy(
        chat_days=chat_retention_days or None,
        inactive_account_days=inactive_account_days,
        analytics_raw_days=analytics_raw_retention_days,
    )
