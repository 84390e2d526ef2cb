"""guests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:41:44.465251
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guest_invite_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_auth_sessions_guest_invite_id"), ["guest_invite_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_auth_sessions_guest_invite_id_room_invites"),
            "room_invites",
            ["guest_invite_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_guest", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_guest")

    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_auth_sessions_guest_invite_id_room_invites"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_auth_sessions_guest_invite_id"))
        batch_op.drop_column("guest_invite_id")
