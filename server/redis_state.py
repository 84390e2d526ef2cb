"""The office state store on Redis, shared by several server processes.

Documents are JSON strings; ``transact`` uses optimistic locking (WATCH the keys, compute,
MULTI/EXEC, retry when another process changed a watched key in between).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import WatchError

from rooms.store import Change, Doc

R = TypeVar("R")
MAX_ATTEMPTS = 50


class StateConflictError(RuntimeError):
    """A document kept changing under us; the caller reports ``unavailable``."""


class RedisStateStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:office:"

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def get_many(self, keys: Sequence[str]) -> list[Doc | None]:
        if not keys:
            return []
        raws = await self._redis.mget([self._k(k) for k in keys])
        return [None if raw is None else dict(json.loads(raw)) for raw in raws]

    async def transact(self, keys: Sequence[str], change: Change[R]) -> R:
        full = [self._k(k) for k in keys]
        for _ in range(MAX_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(*full)
                    raws = await pipe.mget(full)
                    docs = [None if raw is None else dict(json.loads(raw)) for raw in raws]
                    new_docs, result = change(docs)
                    if len(new_docs) != len(keys):
                        raise ValueError("a change returns one document per key")
                    pipe.multi()  # type: ignore[no-untyped-call]
                    for key, old, new in zip(full, docs, new_docs, strict=True):
                        if new is None:
                            if old is not None:
                                pipe.delete(key)
                        elif new != old:
                            pipe.set(key, json.dumps(new))
                    await pipe.execute()
                    return result
                except WatchError:
                    continue
        raise StateConflictError("office state is too busy; try again")

    async def add_member(self, key: str, member: str) -> None:
        await self._redis.sadd(self._k(key), member)

    async def remove_member(self, key: str, member: str) -> None:
        await self._redis.srem(self._k(key), member)

    async def members(self, key: str) -> set[str]:
        return {
            m.decode() if isinstance(m, bytes) else m
            for m in await self._redis.smembers(self._k(key))
        }

    async def schedule(self, key: str, member: str, at: float) -> None:
        await self._redis.zadd(self._k(key), {member: at})

    async def unschedule(self, key: str, member: str) -> None:
        await self._redis.zrem(self._k(key), member)

    async def due(self, key: str, now: float) -> list[str]:
        raw = await self._redis.zrangebyscore(self._k(key), "-inf", now)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in raw]

    async def close(self) -> None:
        return None
