"""mentoring: what mentors show to mentees; published rating snapshots

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:00:00

Existing enrolments show nothing to mentees (their people never agreed to it); new ones
start with skills and languages (the model's default, stated on the invitation).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mentoring_enrolments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shown_to_mentees", sa.JSON(), nullable=False, server_default="[]")
        )
    op.create_table(
        "mentoring_rating_snapshots",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("raters", sa.Integer(), nullable=False),
        sa.Column("average", sa.Float(), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["mentoring_programs.id"],
            name=op.f("fk_mentoring_rating_snapshots_program_id_mentoring_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_mentoring_rating_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("mentoring_rating_snapshots")
    with op.batch_alter_table("mentoring_enrolments", schema=None) as batch_op:
        batch_op.drop_column("shown_to_mentees")
