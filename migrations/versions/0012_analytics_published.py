"""analytics: published figures of closed periods (disclosure control over whole publications)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 16:00:00

Dashboards read only these rows: each closed day and week of an organization is published
once, all scopes and dashboards together (server/analytics/publish.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_GRANULARITY = ("day", "week")


def upgrade() -> None:
    op.create_table(
        "analytics_published",
        sa.Column("id", _ID, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column(
            "dashboard",
            sa.Enum(
                "active",
                "messages",
                "meetings",
                "rooms",
                "mentoring",
                "ties_minutes",
                "ties_new_pairs",
                "people",
                name="analytics_dashboard",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "granularity",
            sa.Enum(*_GRANULARITY, name="analytics_granularity", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "org", "unit", "group", name="analytics_scope_level", native_enum=False, length=8
            ),
            nullable=False,
        ),
        sa.Column("scope_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column(
            "column",
            sa.Enum(
                "value",
                "total",
                "room",
                "direct",
                "group",
                "pair",
                "team_room",
                "private_office",
                "meeting_room",
                "mentoring_room",
                "lobby",
                "town_hall",
                "held",
                "minutes",
                "median_minutes",
                "mentoring_matched",
                "mentoring_session",
                name="analytics_column",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_published")),
        sa.UniqueConstraint(
            "org_id",
            "dashboard",
            "granularity",
            "period",
            "scope",
            "scope_id",
            "column",
            name=op.f("uq_analytics_published_org_id"),
        ),
    )
    op.create_table(
        "analytics_published_periods",
        sa.Column("org_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "granularity",
            sa.Enum(*_GRANULARITY, name="analytics_granularity", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "granularity", "period", name=op.f("pk_analytics_published_periods")
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_published_periods")
    op.drop_table("analytics_published")
