"""Privacy tables: each organization's lifecycle policy, and group memberships that wait for
the person's consent."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base
from server.db.types import UTCDateTime, text_enum
from server.people.identity import Role

DEFAULT_INACTIVE_ACCOUNT_DAYS = 730  # two years
DEFAULT_ANALYTICS_RAW_DAYS = 90  # as OFFICEHOURS_ANALYTICS_RAW_RETENTION_DAYS


class ErasedContent(StrEnum):
    """What happens to what an erased person wrote in shared conversations."""

    ANONYMISE = "anonymise"  # kept, shown as written by "Anonymous user"
    DELETE = "delete"  # replaced by a tombstone


class PrivacyPolicy(Base):
    """One row per organization; an organization without a row has the deployment's defaults
    (``OFFICEHOURS_*_RETENTION_DAYS`` / ``OFFICEHOURS_INACTIVE_ACCOUNT_DAYS``)."""

    __tablename__ = "privacy_policies"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # False until an admin sets the policy: until then the deployment's defaults apply (and
    # follow the settings), the row only remembering when retention last ran.
    customised: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # None: chat is kept until people delete it.
    chat_days: Mapped[int | None] = mapped_column(Integer)
    inactive_account_days: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_INACTIVE_ACCOUNT_DAYS
    )
    analytics_raw_days: Mapped[int | None] = mapped_column(
        Integer, default=DEFAULT_ANALYTICS_RAW_DAYS
    )
    erased_content: Mapped[ErasedContent] = mapped_column(
        text_enum(ErasedContent, name="erased_content", length=16, checked=False),
        default=ErasedContent.ANONYMISE,
    )
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the retention job last ran for this organization (it runs once a day).
    retention_ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PendingMembership(Base):
    """Someone put this person in a group; nothing of theirs is shared with the group (they
    hold no role there) until they accept."""

    __tablename__ = "pending_memberships"
    __table_args__ = (UniqueConstraint("user_id", "group_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(text_enum(Role, name="pending_role", checked=False))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
