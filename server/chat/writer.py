"""Storing chat messages with group commit.

Sends that arrive while a transaction is being committed wait for the next one, which then
commits all of them together: a lone message is written at once, and under load one commit
(one fsync) serves many messages. Acknowledgements are released only after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Channel, Metric
from server.analytics.record import Event, Subject, record_events
from server.content.messages import Message
from server.db.models import Conversation
from server.infra.clock import Clock

log = logging.getLogger("officehours.chat")

MAX_BATCH = 256


@dataclass(frozen=True)
class Draft:
    conversation_id: int
    sender_id: int
    client_id: str
    body: str
    channel: Channel
    subject: Subject  # analytics: who sent it, pseudonymously


@dataclass(frozen=True)
class Stored:
    id: int
    conversation_id: int
    seq: int
    sender_id: int
    client_id: str
    body: str | None
    created_at: datetime
    edited_at: datetime | None
    duplicate: bool  # True when this was a resend of an already stored message


def stored(message: Message, duplicate: bool) -> Stored:
    assert message.sender_id is not None
    return Stored(
        message.id,
        message.conversation_id,
        message.seq,
        message.sender_id,
        message.client_id,
        message.body,
        message.created_at,
        message.edited_at,
        duplicate,
    )


class MessageWriter:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], clock: Clock, *, group_commit: bool = True
    ) -> None:
        self._db = db
        self._clock = clock
        self._group_commit = group_commit
        self._queue: asyncio.Queue[tuple[Draft, asyncio.Future[Stored]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.commits = 0  # for benchmarks and tests: how many transactions were used

    async def write(self, draft: Draft) -> Stored:
        if not self._group_commit:
            return (await self._commit([draft]))[0]
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        await self._queue.put((draft, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            drafts = [d for d, _ in batch]
            try:
                results = await self._commit(drafts)
            except IntegrityError:
                # Another process stored one of these client ids meanwhile: one at a time,
                # each finds its twin and returns it.
                results = []
                for draft, _future in batch:
                    try:
                        results.append((await self._commit([draft]))[0])
                    except Exception as exc:
                        results.append(exc)  # type: ignore[arg-type]
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _commit(self, drafts: list[Draft]) -> list[Stored]:
        now = self._clock.now()
        async with self._db() as session:
            keys = {(d.sender_id, d.client_id) for d in drafts}
            found = {
                (m.sender_id, m.client_id): m
                for m in (
                    await session.scalars(
                        select(Message).where(
                            tuple_(Message.sender_id, Message.client_id).in_(list(keys))
                        )
                    )
                ).all()
            }
            fresh: dict[tuple[int, str], Draft] = {}
            for draft in drafts:
                key = (draft.sender_id, draft.client_id)
                if key not in found and key not in fresh:
                    fresh[key] = draft
            next_seq: dict[int, int] = {}
            for conversation_id, count in Counter(
                d.conversation_id for d in fresh.values()
            ).items():
                last = await session.scalar(
                    update(Conversation)
                    .where(Conversation.id == conversation_id)
                    .values(last_seq=Conversation.last_seq + count)
                    .returning(Conversation.last_seq)
                )
                assert last is not None
                next_seq[conversation_id] = last - count + 1
            created: dict[tuple[int, str], Message] = {}
            sent: list[Event] = []
            for key, draft in fresh.items():
                message = Message(
                    conversation_id=draft.conversation_id,
                    seq=next_seq[draft.conversation_id],
                    sender_id=draft.sender_id,
                    client_id=draft.client_id,
                    body=draft.body,
                    created_at=now,
                )
                next_seq[draft.conversation_id] += 1
                session.add(message)
                created[key] = message
                sent.append(Event(Metric.MESSAGE_SENT, draft.subject, now, channel=draft.channel))
            await record_events(session, sent)
            await session.commit()
            self.commits += 1
        results = []
        first_time: set[tuple[int, str]] = set()
        for draft in drafts:
            key = (draft.sender_id, draft.client_id)
            if key in created and key not in first_time:
                first_time.add(key)
                results.append(stored(created[key], duplicate=False))
            else:
                results.append(stored(created.get(key) or found[key], duplicate=True))
        return results

    async def stop(self) -> None:
        """At shutdown: nothing waiting is acknowledged (clients resend after reconnecting)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(ConnectionAbortedError("the server is shutting down"))
