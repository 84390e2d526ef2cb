"""audit: the chain becomes keyed (HMAC-SHA256 under a key kept outside the database)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 16:00:00

Until now each entry's hash was a plain SHA-256 of the previous hash and the entry: anyone who
could write the database could delete entries and compute a new, valid-looking chain. This
revision recomputes every existing entry's link as an HMAC under the audit key the server
passes in (``Settings.audit_chain_keys``) and moves each head to the new last MAC. Nothing in
the schema changes: a MAC is 64 hex digits like the hash it replaces. The canonical form is
spelled out here rather than imported, so this revision keeps meaning what it meant.
"""

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

_entries = sa.table(
    "audit_entries",
    sa.column("id", sa.Integer()),
    sa.column("org_id", sa.Integer()),
    sa.column("seq", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor_id", sa.Integer()),
    sa.column("action", sa.String()),
    sa.column("target_kind", sa.String()),
    sa.column("target_id", sa.Integer()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_heads = sa.table("audit_heads", sa.column("org_id", sa.Integer()), sa.column("hash", sa.String()))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _canonical(row: Any) -> str:
    body = {
        "org_id": row.org_id,
        "seq": row.seq,
        "at": _utc(row.at).isoformat(),
        "actor_id": row.actor_id,
        "action": row.action,
        "target_kind": row.target_kind,
        "target_id": row.target_id,
        "detail": row.detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(_entries).order_by(_entries.c.org_id, _entries.c.seq))
    rows = list(rows)
    if not rows:
        return
    keys: Sequence[bytes] = context.config.attributes.get("audit_keys") or ()
    if not keys:
        raise RuntimeError(
            "revision 0011 re-chains the audit log under its key: run it through the server "
            "(`officehours migrate`), which passes the key from the settings"
        )
    postgres = connection.dialect.name == "postgresql"
    if postgres:  # the append-only trigger (0007) refuses UPDATE; the owner lifts it here only
        op.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only")
    heads: dict[int, str] = {}
    old_heads: dict[int, str] = {}
    broken: set[int] = set()
    for row in rows:
        if row.org_id in broken:
            continue
        canonical = _canonical(row)
        old_prev = old_heads.get(row.org_id, GENESIS)
        if (
            row.prev_hash != old_prev
            or hashlib.sha256((old_prev + canonical).encode()).hexdigest() != row.hash
        ):
            # A link that already did not hold is left as it was: re-keying it would launder
            # the change, and the keyed chain breaks at the same entry.
            broken.add(row.org_id)
            continue
        old_heads[row.org_id] = row.hash
        prev = heads.get(row.org_id, GENESIS)
        mac = hmac.new(keys[0], (prev + canonical).encode(), hashlib.sha256).hexdigest()
        connection.execute(
            sa.update(_entries).where(_entries.c.id == row.id).values(prev_hash=prev, hash=mac)
        )
        heads[row.org_id] = mac
    for org_id, mac in heads.items():
        if org_id in broken:
            continue
        connection.execute(sa.update(_heads).where(_heads.c.org_id == org_id).values(hash=mac))
    if postgres:
        op.execute("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only")


def downgrade() -> None:
    raise NotImplementedError("the keyed chain cannot be turned back into an unkeyed one")
