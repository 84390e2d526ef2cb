"""Erasure ("close account"): every part removes or unlinks the person, then the profile row
is scrubbed: no name, email, password or analytics pseudonym remains, and the person shows as
"Anonymous user". Runs inside the caller's transaction; running it twice changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import User
from server.people.identity import UserStatus
from server.privacy.parts import DataPart, ErasurePolicy
from server.privacy.tables import ErasedContent

ANONYMOUS = "Anonymous user"


@dataclass(frozen=True)
class Erased:
    user_id: int
    org_id: int
    rows: int
    already: bool


async def erase_user(
    session: AsyncSession,
    user: User,
    parts: Sequence[DataPart],
    content: ErasedContent,
    now: datetime,
) -> Erased:
    if user.status is UserStatus.ERASED:
        return Erased(user.id, user.org_id, 0, already=True)
    policy = ErasurePolicy(content, now)
    rows = 0
    for part in parts:
        rows += await part.erase(session, user, policy)
    user.email = None
    user.display_name = ANONYMOUS
    user.password_hash = None
    user.analytics_id = None
    user.last_active_at = None
    user.status = UserStatus.ERASED
    await session.flush()
    return Erased(user.id, user.org_id, rows, already=False)
