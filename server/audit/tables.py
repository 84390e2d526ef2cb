"""Audit tables. ``audit_heads`` holds each organization's chain head: appending updates it
first, which takes the write lock (SQLite) or row lock (PostgreSQL) before the previous hash
is read, so concurrent appends queue instead of forking the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.audit.actions import AuditAction, TargetKind
from server.db.base import Base
from server.db.types import UTCDateTime, text_enum

GENESIS = "0" * 64


class AuditHead(Base):
    __tablename__ = "audit_heads"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("org_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # None: the system (a scheduled job), not a person.
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[AuditAction] = mapped_column(
        text_enum(AuditAction, name="audit_action", length=48, checked=False)
    )
    target_kind: Mapped[TargetKind | None] = mapped_column(
        text_enum(TargetKind, name="audit_target_kind", checked=False)
    )
    target_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
