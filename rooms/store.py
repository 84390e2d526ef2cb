"""Shared office state behind one interface: JSON documents with atomic read-modify-write,
sets, and schedules (members due at a time).

``MemoryStateStore`` serves one process; the Redis implementation in ``server.infra.redis_state``
serves several. One test suite runs against both. Documents are stored serialized in both, so
a caller can never mutate shared state by holding on to a returned dict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

Doc = dict[str, Any]
R = TypeVar("R")
Change = Callable[[list[Doc | None]], tuple[list[Doc | None], R]]


class StateStore(Protocol):
    async def get_many(self, keys: Sequence[str]) -> list[Doc | None]: ...

    async def transact(self, keys: Sequence[str], change: Change[R]) -> R:
        """Read ``keys``, call ``change`` (pure, may run more than once on contention), write
        what it returns (None deletes), all or nothing; returns ``change``'s result."""
        ...

    async def add_member(self, key: str, member: str) -> None: ...

    async def remove_member(self, key: str, member: str) -> None: ...

    async def members(self, key: str) -> set[str]: ...

    async def schedule(self, key: str, member: str, at: float) -> None: ...

    async def unschedule(self, key: str, member: str) -> None: ...

    async def due(self, key: str, now: float) -> list[str]:
        """Members scheduled at or before ``now`` (they stay until unscheduled)."""
        ...

    async def close(self) -> None: ...


class MemoryStateStore:
    def __init__(self) -> None:
        self._docs: dict[str, str] = {}
        self._sets: dict[str, set[str]] = {}
        self._schedules: dict[str, dict[str, float]] = {}

    async def get_many(self, keys: Sequence[str]) -> list[Doc | None]:
        return [self._load(k) for k in keys]

    def _load(self, key: str) -> Doc | None:
        raw = self._docs.get(key)
        return None if raw is None else dict(json.loads(raw))

    async def transact(self, keys: Sequence[str], change: Change[R]) -> R:
        # No await between read and write: atomic on one event loop.
        new_docs, result = change([self._load(k) for k in keys])
        if len(new_docs) != len(keys):
            raise ValueError("a change returns one document per key")
        for key, doc in zip(keys, new_docs, strict=True):
            if doc is None:
                self._docs.pop(key, None)
            else:
                self._docs[key] = json.dumps(doc)
        return result

    async def add_member(self, key: str, member: str) -> None:
        self._sets.setdefault(key, set()).add(member)

    async def remove_member(self, key: str, member: str) -> None:
        self._sets.get(key, set()).discard(member)

    async def members(self, key: str) -> set[str]:
        return set(self._sets.get(key, ()))

    async def schedule(self, key: str, member: str, at: float) -> None:
        self._schedules.setdefault(key, {})[member] = at

    async def unschedule(self, key: str, member: str) -> None:
        self._schedules.get(key, {}).pop(member, None)

    async def due(self, key: str, now: float) -> list[str]:
        entries = self._schedules.get(key, {})
        return [m for m, at in sorted(entries.items(), key=lambda e: e[1]) if at <= now]

    async def close(self) -> None:
        return None

    def export(self) -> Doc:
        """Everything, as one JSON-ready document (kept across a restart by
        ``server.office.restart``)."""
        return {
            "docs": {k: json.loads(v) for k, v in self._docs.items()},
            "sets": {k: sorted(v) for k, v in self._sets.items() if v},
            "schedules": {k: dict(v) for k, v in self._schedules.items() if v},
        }

    def load(self, exported: Doc) -> None:
        """Replace everything with what ``export`` returned."""
        self._docs = {str(k): json.dumps(v) for k, v in exported.get("docs", {}).items()}
        self._sets = {str(k): {str(m) for m in v} for k, v in exported.get("sets", {}).items()}
        self._schedules = {
            str(k): {str(m): float(at) for m, at in v.items()}
            for k, v in exported.get("schedules", {}).items()
        }
