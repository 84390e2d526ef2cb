"""The office state store on Redis, shared by several server processes.

Documents are JSON strings; ``transact`` uses optimistic locking (WATCH the keys, compute,
MULTI/EXEC, retry when another process changed a watched key in between). When Redis cannot be
reached, every call fails at once with ``unavailable`` (never hangs past the socket timeouts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from rooms.store import Change, Doc
from server.infra.errors import AppError, ErrorCode

R = TypeVar("R")
MAX_ATTEMPTS = 50


class StateConflictError(AppError):
    """A document kept changing under us."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, "office state is too busy; try again")


class StateUnreachableError(AppError):
    """Redis is down or restarting: the request changed nothing and may be repeated."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, "the office is unreachable for a moment; try again")


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError) as exc:
        raise StateUnreachableError from exc


class RedisStateStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:office:"

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def get_many(self, keys: Sequence[str]) -> list[Doc | None]:
        if not keys:
            return []
        with _reachable():
            raws = await self._redis.mget([self._k(k) for k in keys])
        return [None if raw is None else dict(json.loads(raw)) for raw in raws]

    async def transact(self, keys: Sequence[str], change: Change[R]) -> R:
        full = [self._k(k) for k in keys]
        for _ in range(MAX_ATTEMPTS):
            with _reachable():
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
        raise StateConflictError

    async def add_member(self, key: str, member: str) -> None:
        with _reachable():
            await self._redis.sadd(self._k(key), member)

    async def remove_member(self, key: str, member: str) -> None:
        with _reachable():
            await self._redis.srem(self._k(key), member)

    async def members(self, key: str) -> set[str]:
        with _reachable():
            raw = await self._redis.smembers(self._k(key))
        return {m.decode() if isinstance(m, bytes) else m for m in raw}

    async def schedule(self, key: str, member: str, at: float) -> None:
        with _reachable():
            await self._redis.zadd(self._k(key), {member: at})

    async def unschedule(self, key: str, member: str) -> None:
        with _reachable():
            await self._redis.zrem(self._k(key), member)

    async def due(self, key: str, now: float) -> list[str]:
        with _reachable():
            raw = await self._redis.zrangebyscore(self._k(key), "-inf", now)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in raw]

    async def close(self) -> None:
        return None
