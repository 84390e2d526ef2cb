"""notifications: each person's choice of what notifies them in the background, and the sound

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 10:00:00

One row per person who changed the defaults (server/people/notification_settings.py); a
person without a row has everything on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHOICES = (
    "knocks",
    "direct_messages",
    "mentions",
    "guests_waiting",
    "mentoring_sessions",
    "sound",
)


def upgrade() -> None:
    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        *(
            sa.Column(name, sa.Boolean(), server_default=sa.true(), nullable=False)
            for name in _CHOICES
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_settings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_settings")),
    )


def downgrade() -> None:
    op.drop_table("notification_settings")
