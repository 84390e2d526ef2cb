"""Append to, read and verify an organization's audit chain.

Each entry's ``hash`` is an HMAC-SHA256, under a key that is not in the database
(``Settings.audit_chain_keys``, carried by the session), of the previous entry's MAC and the
entry's own fields in a canonical form: changing, deleting or reordering any entry breaks
every later link (``verify``), and whoever can write the database but lacks the key cannot
forge a new chain. Cutting off the newest entries leaves a shorter chain that holds; only a
head seen earlier (``status``, shown on /me and in the admin's audit view) tells.
``append`` writes inside the caller's transaction: an action that rolls back leaves no entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.actions import AuditAction, TargetKind
from server.audit.tables import GENESIS, AuditEntry, AuditHead
from server.db.engine import AUDIT_KEYS
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


def _keys(session: AsyncSession) -> tuple[bytes, ...]:
    keys: tuple[bytes, ...] = session.info.get(AUDIT_KEYS, ())
    if not keys:
        raise RuntimeError(
            "this session has no audit keys: build it with session_factory(engine, "
            "audit_keys=settings.audit_chain_keys)"
        )
    return keys


def entry_hash(key: bytes, prev_hash: str, entry: AuditEntry | Row[Any]) -> str:
    """The entry's MAC: the previous MAC and the entry's fields, canonical JSON."""
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
    return hmac.new(key, (prev_hash + canonical).encode(), hashlib.sha256).hexdigest()


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
    key = _keys(session)[0]
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
    entry.hash = entry_hash(key, head.hash, entry)
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


def _signed_by_one_of(keys: tuple[bytes, ...], previous: str, entry: Row[Any]) -> bool:
    return any(hmac.compare_digest(entry_hash(k, previous, entry), entry.hash) for k in keys)


@dataclass(frozen=True)
class Checkpoint:
    """A head someone saw earlier: the chain then held ``seq`` entries, the last with MAC
    ``head``. A chain cut back below it, or rewritten from it on, no longer matches."""

    seq: int
    head: str


async def verify(
    session: AsyncSession, org_id: int, checkpoint: Checkpoint | None = None
) -> int | None:
    """The seq of the first entry whose chain link does not hold, or None if all hold
    (including: no entry missing between 1 and the head, the head matching the last, and
    the entry at ``checkpoint.seq`` still carrying the MAC seen then)."""
    keys = _keys(session)
    previous = GENESIS
    expected_seq = 1
    E = AuditEntry
    rows = await session.stream(  # plain rows, not ORM objects: a third of the time
        select(
            E.org_id,
            E.seq,
            E.at,
            E.actor_id,
            E.action,
            E.target_kind,
            E.target_id,
            E.detail,
            E.prev_hash,
            E.hash,
        )
        .where(E.org_id == org_id)
        .order_by(E.seq)
    )
    async for entry in rows:
        if (
            entry.seq != expected_seq
            or entry.prev_hash != previous
            or not _signed_by_one_of(keys, previous, entry)
        ):
            return expected_seq
        if checkpoint is not None and entry.seq == checkpoint.seq and entry.hash != checkpoint.head:
            return expected_seq
        previous = entry.hash
        expected_seq += 1
    head = await session.get(AuditHead, org_id)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != previous):
        return expected_seq
    if checkpoint is not None and checkpoint.seq >= expected_seq:
        return expected_seq  # entries seen earlier are gone from the end
    return None


async def status(
    session: AsyncSession, org_id: int, checkpoint: Checkpoint | None = None
) -> dict[str, Any]:
    """Whether the chain holds, and its head: how many entries, and the newest one's MAC.
    People who note the head can tell later whether the log was cut back or rewritten."""
    broken = await verify(session, org_id, checkpoint)
    head = await session.get(AuditHead, org_id)
    return {
        "intact": broken is None,
        "first_broken_seq": broken,
        "head": {
            "entries": 0 if head is None else head.seq,
            "mac": GENESIS if head is None else head.hash,
        },
    }
