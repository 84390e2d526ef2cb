"""Profile pictures' data part: the person's export holds their picture itself (base64, as
stored: already without metadata); erasure deletes it. An organization's export holds none:
a face is not structure or metadata, and admins have no need to take everyone's away."""

from __future__ import annotations

import base64

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Avatar, User
from server.privacy.parts import ErasurePolicy, Exported, row


class AvatarPart:
    name = "avatar"

    async def export(self, session: AsyncSession, user: User) -> Exported:
        avatar = await session.scalar(select(Avatar).where(Avatar.user_id == user.id))
        if avatar is None:
            return {"picture": []}
        return {
            "picture": [
                {
                    **row(avatar, "kind", "width", "height", "size", "sha256", "updated_at"),
                    "content_type": f"image/{avatar.kind}",
                    "data_base64": base64.b64encode(avatar.data).decode("ascii"),
                }
            ]
        }

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        return {}

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        result = await session.execute(delete(Avatar).where(Avatar.user_id == user.id))
        return int(getattr(result, "rowcount", 0) or 0)
