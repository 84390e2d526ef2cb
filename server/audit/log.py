"""Append to, read and verify an organization's audit chain.

Each entry's hash covers the previous entry's hash and the entry's own fields in a canonical
form, so changing, deleting or reordering any entry breaks every later link (``verify``).
``append`` writes inside the caller's transaction: an action that rolls back leaves no entry.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.actions import AuditAction, TargetKind
from server.audit.tables import GENESIS, AuditEntry, AuditHead
from server.db.rows import insert_if_missing

# Detail values: numbers, booleans, ids, and short identifiers (enum values, scopes like
# "unit:3") — a shape that cannot carry a sentence, a name or an email address.
_IDENTIFIER = re.compile(r"[a-z0-9_.:\-]{0,64}")
Detail = Mapping[str, int | float | bool | str | Sequence[int] | None]


def _checked_detail(detail: Detail | None) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in (detail or {}).items():
        if not _IDENTIFIER.fullmatch(key):
            raise ValueError(f"audit detail key {key!r} is not an identifier")
        if isinstance(value, str):
            if not _IDENTIFIER.fullmatch(value):
                raise ValueError("audit detail strings are identifiers, not text")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError("audit detail numbers are finite")
        elif isinstance(value, (list, tuple)):
            if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
                raise ValueError("audit detail lists hold ids")
            value = list(value)
        elif value is not None and not isinstance(value, (int, bool)):
            raise ValueError(f"audit detail {key!r} has an unsupported type")
        clean[key] = value
    return clean


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    body = {
        "org_id": entry.org_id,
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "action": str(entry.action),
        "target_kind": None if entry.target_kind is None else str(entry.target_kind),
        "target_id": entry.target_id,
        "detail": entry.detail,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


async def append(
    session: AsyncSession,
    *,
    org_id: int,
    actor_id: int | None,
    action: AuditAction,
    at: datetime,
    target_kind: TargetKind | None = None,
    target_id: int | None = None,
    detail: Detail | None = None,
) -> AuditEntry:
    if not isinstance(action, AuditAction):
        raise TypeError("action must be an AuditAction")
    if target_kind is not None and not isinstance(target_kind, TargetKind):
        raise TypeError("target_kind must be a TargetKind")
    clean = _checked_detail(detail)
    head = await _lock_head(session, org_id)
    entry = AuditEntry(
        org_id=org_id,
        seq=head.seq,
        at=at,
        actor_id=actor_id,
        action=action,
        target_kind=target_kind,
        target_id=target_id,
        detail=clean,
        prev_hash=head.hash,
    )
    entry.hash = entry_hash(head.hash, entry)
    session.add(entry)
    await session.execute(
        update(AuditHead).where(AuditHead.org_id == org_id).values(hash=entry.hash)
    )
    return entry


@dataclass(frozen=True)
class _Head:
    seq: int
    hash: str


async def _lock_head(session: AsyncSession, org_id: int) -> _Head:
    """Advance the head's seq first: the write takes the lock, then read the previous hash."""
    # The organization's first entry: create the head (a concurrent creator wins quietly).
    await insert_if_missing(session, AuditHead, ["org_id"], org_id=org_id, seq=0, hash=GENESIS)
    bumped = (
        await session.execute(
            update(AuditHead)
            .where(AuditHead.org_id == org_id)
            .values(seq=AuditHead.seq + 1)
            .returning(AuditHead.seq, AuditHead.hash)
        )
    ).one()
    return _Head(bumped.seq, bumped.hash)


async def entries(
    session: AsyncSession, org_id: int, *, before_seq: int | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Newest first, paged by ``before_seq``."""
    query = select(AuditEntry).where(AuditEntry.org_id == org_id)
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    query = query.order_by(AuditEntry.seq.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def verify(session: AsyncSession, org_id: int) -> int | None:
    """The seq of the first entry whose chain link does not hold, or None if all hold
    (including: no entry missing between 1 and the head, and the head matching the last)."""
    previous = GENESIS
    expected_seq = 1
    rows = await session.stream_scalars(
        select(AuditEntry).where(AuditEntry.org_id == org_id).order_by(AuditEntry.seq)
    )
    async for entry in rows:
        if (
            entry.seq != expected_seq
            or entry.prev_hash != previous
            or entry_hash(previous, entry) != entry.hash
        ):
            return expected_seq
        previous = entry.hash
        expected_seq += 1
    head = await session.get(AuditHead, org_id)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != previous):
        return expected_seq
    return None
