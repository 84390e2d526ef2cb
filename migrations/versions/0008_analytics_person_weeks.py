"""analytics: person-weeks for weekly dashboards; rollups indexed by metric

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 19:40:00

Person-weeks are filled from the existing person-days (the same bits, OR-ed, and sums), so
weekly dashboards keep their history across the upgrade.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COLUMNS = ("org_id", "unit_id", "group_id", "contributions", "events", "messages")


def upgrade() -> None:
    weeks = op.create_table(
        "analytics_person_weeks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("person", sa.Uuid(), nullable=False),
        sa.Column("contributions", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_person_weeks")),
    )
    with op.batch_alter_table("analytics_person_weeks", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_person_weeks_person", ["person", "week"], unique=False)
        batch_op.create_index("ix_analytics_person_weeks_scope", ["org_id", "week"], unique=False)
    with op.batch_alter_table("analytics_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_rollups_scope")
        batch_op.create_index(
            "ix_analytics_rollups_metric", ["org_id", "period", "metric", "bucket"], unique=False
        )
    assert weeks is not None
    _fill_weeks(weeks)


def _fill_weeks(weeks: sa.Table) -> None:
    days = sa.table(
        "analytics_person_days",
        sa.column("day", sa.Date()),
        sa.column("meetings", sa.Integer()),
        sa.column("last_at", sa.DateTime(timezone=True)),
        sa.column("person", sa.Uuid()),
        *(sa.column(name) for name in _COLUMNS),
    )
    merged: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    for row in op.get_bind().execute(sa.select(days)).mappings():
        week = row["day"] - timedelta(days=row["day"].weekday())
        into = merged[(week, row["org_id"], row["person"], row["group_id"])]
        if not into:
            into.update(row, week=week)
            del into["day"]
            continue
        into["unit_id"] = into["unit_id"] if into["unit_id"] is not None else row["unit_id"]
        into["contributions"] |= row["contributions"]
        for name in ("events", "messages", "meetings"):
            into[name] += row[name]
        if row["last_at"] is not None and (
            into["last_at"] is None or row["last_at"] > into["last_at"]
        ):
            into["last_at"] = row["last_at"]
    rows = list(merged.values())
    for start in range(0, len(rows), 1000):
        op.bulk_insert(weeks, rows[start : start + 1000])


def downgrade() -> None:
    with op.batch_alter_table("analytics_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_rollups_metric")
        batch_op.create_index(
            "ix_analytics_rollups_scope", ["org_id", "period", "bucket"], unique=False
        )
    with op.batch_alter_table("analytics_person_weeks", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_person_weeks_scope")
        batch_op.drop_index("ix_analytics_person_weeks_person")
    op.drop_table("analytics_person_weeks")
