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
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import case, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Channel, Metric
from server.analytics.record import Event, Subject, record_events
from server.content.messages import Message
from server.db.base import table_of
from server.db.models import Conversation, ConversationKind
from server.infra.clock import Clock

log = logging.getLogger("officehours.chat")

MAX_BATCH = 256
_MESSAGES = table_of(Message)


@dataclass(frozen=True)
class Place:
    """What never changes about a conversation: whose it is, its kind and its room. The sender's
    access was checked against it (from a cache); the commit checks it again."""

    org_id: int
    kind: ConversationKind
    room_id: int | None


class ConversationChanged(Exception):
    """The conversation is gone, or its id now names another one (SQLite may reuse the id of
    a deleted last row): nothing of these drafts was stored."""

    def __init__(self, conversation_ids: set[int]) -> None:
        super().__init__(f"conversations changed: {sorted(conversation_ids)}")
        self.conversation_ids = conversation_ids


@dataclass(frozen=True)
class Draft:
    conversation_id: int
    sender_id: int
    client_id: str
    body: str
    channel: Channel
    subject: Subject  # analytics: who sent it, pseudonymously
    place: Place  # what the sender's access was checked against


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
            results: list[Stored | Exception]
            try:
                results = await self._commit_keeping_the_rest(batch)
            except IntegrityError:
                # Another process stored one of these client ids meanwhile: one at a time,
                # each finds its twin and returns it.
                results = []
                for draft, _future in batch:
                    try:
                        results.append((await self._commit([draft]))[0])
                    except Exception as exc:
                        results.append(exc)
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

    async def _commit_keeping_the_rest(
        self, batch: list[tuple[Draft, asyncio.Future[Stored]]]
    ) -> list[Stored | Exception]:
        """Commit the batch; drafts for a conversation that changed fail alone, the rest are
        committed without them."""
        drafts = [d for d, _ in batch]
        try:
            return [*await self._commit(drafts)]
        except ConversationChanged as changed:
            kept = [d for d in drafts if d.conversation_id not in changed.conversation_ids]
            stored_kept = iter(await self._commit(kept)) if kept else iter(())
            return [
                changed if d.conversation_id in changed.conversation_ids else next(stored_kept)
                for d in drafts
            ]

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
            # One statement allocates every conversation's sequence numbers and reads back
            # what the senders were checked against.
            counts = Counter(d.conversation_id for d in fresh.values())
            next_seq: dict[int, int] = {}
            if counts:
                rows = (
                    await session.execute(
                        update(Conversation)
                        .where(Conversation.id.in_(list(counts)))
                        .values(
                            last_seq=Conversation.last_seq
                            + case(dict(counts), value=Conversation.id)
                        )
                        .returning(
                            Conversation.id,
                            Conversation.last_seq,
                            Conversation.org_id,
                            Conversation.kind,
                            Conversation.room_id,
                        )
                        .execution_options(synchronize_session=False)
                    )
                ).all()
                places = {row.id: Place(row.org_id, row.kind, row.room_id) for row in rows}
                changed = {
                    d.conversation_id
                    for d in fresh.values()
                    if places.get(d.conversation_id) != d.place
                }
                if changed:
                    raise ConversationChanged(changed)  # rolled back as the session closes
                next_seq = {row.id: row.last_seq - counts[row.id] + 1 for row in rows}
            # Each fresh draft with its sequence number, in order.
            numbered: list[tuple[tuple[int, str], Draft, int]] = []
            sent: list[Event] = []
            for key, draft in fresh.items():
                numbered.append((key, draft, next_seq[draft.conversation_id]))
                next_seq[draft.conversation_id] += 1
                sent.append(Event(Metric.MESSAGE_SENT, draft.subject, now, channel=draft.channel))
            created: dict[tuple[int, str], Stored] = {}
            if numbered:
                # Core: one multi-row INSERT … RETURNING, not an ORM object per message.
                ids = (
                    await session.execute(
                        insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True),
                        [
                            {
                                "conversation_id": draft.conversation_id,
                                "seq": seq,
                                "sender_id": draft.sender_id,
                                "client_id": draft.client_id,
                                "body": draft.body,
                                "created_at": now,
                            }
                            for _, draft, seq in numbered
                        ],
                    )
                ).scalars()
                for (key, draft, seq), message_id in zip(numbered, ids, strict=True):
                    created[key] = Stored(
                        message_id,
                        draft.conversation_id,
                        seq,
                        draft.sender_id,
                        draft.client_id,
                        draft.body,
                        now,
                        None,
                        False,
                    )
            await record_events(session, sent)
            await session.commit()
            self.commits += 1
        results = []
        first_time: set[tuple[int, str]] = set()
        for draft in drafts:
            key = (draft.sender_id, draft.client_id)
            if key in created and key not in first_time:
                first_time.add(key)
                results.append(created[key])
            elif key in created:
                results.append(replace(created[key], duplicate=True))
            else:
                results.append(stored(found[key], duplicate=True))
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
