"""Chat: room conversations, direct and group messages, history, replay, unread counts.

The database is the source of truth: a message is acknowledged only once committed, carries
a per-conversation sequence number, and a client that reconnects asks for everything after
the last number it saw. Who may read a room's chat is whoever is in the room right now; a
guest reads it only from the moment they were let in (what was said before is the staff's).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.analytics.metrics import Channel
from server.analytics.record import Subject
from server.chat.writer import ConversationChanged, Draft, MessageWriter, Place, Stored
from server.content.messages import MAX_BODY, Message
from server.db.models import Conversation, ConversationKind, ConversationMember, User
from server.db.rows import insert_if_missing
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import AppError, ErrorCode, forbidden, invalid, not_found
from server.infra.ratelimit import TokenBucket
from server.office.service import Office
from server.people import accounts
from server.people.identity import Principal, UserStatus

log = logging.getLogger("officehours.chat")

MAX_GROUP = 8
MAX_PLACES = 100_000  # conversations whose place is kept in memory
ROOM_HISTORY = 50
TYPING_EVERY_SECONDS = 2.0

CHANNEL = {
    ConversationKind.ROOM: Channel.ROOM,
    ConversationKind.DIRECT: Channel.DIRECT,
    ConversationKind.GROUP: Channel.GROUP,
    ConversationKind.PAIR: Channel.PAIR,
}


@dataclass(frozen=True)
class ChatConfig:
    burst: int = 10
    per_second: float = 1.0
    replay_limit: int = 500


def _place_of(conversation: Conversation) -> Place:
    return Place(conversation.org_id, conversation.kind, conversation.room_id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def message_json(m: Message | Stored, sender_name: str | None) -> dict[str, Any]:
    deleted = getattr(m, "deleted_at", None) is not None or m.body is None
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "seq": m.seq,
        "sender_id": m.sender_id,
        "sender_name": sender_name or "Anonymous user",
        "client_id": m.client_id,
        "body": None if deleted else m.body,
        "created_at": _iso(m.created_at),
        "edited_at": _iso(m.edited_at),
        "deleted": deleted,
    }


def _admitted_at(entered_at: float | None) -> datetime:
    """When a guest came into their room; a guest not (or no longer) inside has seen nothing,
    so an unknown entry time means "from now on" (the far future, no row matches)."""
    if entered_at is None:
        return datetime.max.replace(tzinfo=UTC)
    return datetime.fromtimestamp(entered_at, UTC)


def check_body(body: str) -> str:
    if not body.strip():
        raise invalid("a message cannot be empty")
    if len(body) > MAX_BODY:
        raise AppError(ErrorCode.TOO_LARGE, f"a message has at most {MAX_BODY} characters")
    return body


class Chat:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        office: Office,
        broadcaster: Broadcaster,
        writer: MessageWriter,
        config: ChatConfig,
    ) -> None:
        self._db = db
        self._clock = clock
        self._office = office
        self._broadcaster = broadcaster
        self._writer = writer
        self._config = config
        self._sends = TokenBucket(config.burst, config.per_second)
        self._typing = TokenBucket(1, 1 / TYPING_EVERY_SECONDS)
        self._subjects: dict[int, Subject] = {}
        self._places: dict[int, Place] = {}

    # -- access -----------------------------------------------------------------------------

    async def _open(
        self, session: AsyncSession, principal: Principal, conversation_id: int
    ) -> Conversation:
        """The conversation, if this person may read and write it now."""
        conversation = await session.get(Conversation, conversation_id)
        place = None if conversation is None else _place_of(conversation)
        await self._may_use(principal, conversation_id, place, session)
        assert conversation is not None
        return conversation

    async def _may_use(
        self,
        principal: Principal,
        conversation_id: int,
        place: Place | None,
        session: AsyncSession | None = None,
    ) -> None:
        """Raises unless this person may read and write the conversation now. A room's chat
        is decided by who is in the room (the office's state, no database); the others by
        membership."""
        if principal.is_guest and (place is None or place.room_id != principal.guest_room_id):
            raise forbidden("guests talk in their room's chat only")
        if place is None or place.org_id != principal.org_id:
            raise not_found("no such conversation")
        if place.kind is ConversationKind.ROOM:
            person = await self._office.person(principal.org_id, principal.user_id)
            if person is None or person.room_id != place.room_id:
                raise forbidden("walk into the room to read and write its chat")
            return
        query = select(ConversationMember.id).where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id == principal.user_id,
            ConversationMember.is_member.is_(True),
        )
        async with self._reading(session) as reader:
            member = await reader.scalar(query)
        if member is None:
            raise not_found("no such conversation")

    async def _place(self, conversation_id: int) -> Place | None:
        """Whose a conversation is and of what kind, which never changes: kept after the first
        read (the writer checks it again as it commits, so an id reused after a deletion is
        caught there)."""
        place = self._places.get(conversation_id)
        if place is None:
            async with self._db() as session:
                conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                return None
            if len(self._places) >= MAX_PLACES:
                self._places.clear()
            place = self._places[conversation_id] = _place_of(conversation)
        return place

    async def _admitted_since(self, conversation: Conversation, moment: datetime) -> set[int]:
        """The guests in a room's chat who were let in after ``moment`` (they never saw what
        was written then, so they get no edit of it either)."""
        assert conversation.room_id is not None
        later: set[int] = set()
        for user_id in await self._office.occupants(conversation.org_id, conversation.room_id):
            person = await self._office.person(conversation.org_id, user_id)
            if person is not None and person.guest and _admitted_at(person.entered_at) > moment:
                later.add(user_id)
        return later

    async def _audience(self, session: AsyncSession, conversation: Conversation) -> set[int]:
        return await self._audience_of(conversation.id, _place_of(conversation), session)

    async def _audience_of(
        self, conversation_id: int, place: Place, session: AsyncSession | None = None
    ) -> set[int]:
        if place.kind is ConversationKind.ROOM:
            assert place.room_id is not None
            return await self._office.occupants(place.org_id, place.room_id)
        query = select(ConversationMember.user_id).where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.is_member.is_(True),
        )
        async with self._reading(session) as reader:
            return set((await reader.scalars(query)).all())

    @contextlib.asynccontextmanager
    async def _reading(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        """The caller's session, or one of our own for this read (the send and typing paths
        have none: a room's chat needs no database there)."""
        if session is not None:
            yield session
            return
        async with self._db() as own:
            yield own

    # -- conversations ----------------------------------------------------------------------

    async def room_chat(self, principal: Principal, room_id: int) -> dict[str, Any]:
        """The chat of the room you are in, with its recent history."""
        person = await self._office.person(principal.org_id, principal.user_id)
        if person is None or person.room_id != room_id:
            raise forbidden("walk into the room to read and write its chat")
        since = _admitted_at(person.entered_at) if principal.is_guest else None
        async with self._db() as session:
            conversation = await session.scalar(
                select(Conversation).where(Conversation.room_id == room_id)
            )
            if conversation is None:
                conversation = Conversation(
                    org_id=principal.org_id,
                    kind=ConversationKind.ROOM,
                    room_id=room_id,
                    created_at=self._clock.now(),
                )
                session.add(conversation)
                try:
                    await session.commit()
                except IntegrityError:  # created meanwhile by someone else
                    await session.rollback()
                    conversation = await session.scalar(
                        select(Conversation).where(Conversation.room_id == room_id)
                    )
                    assert conversation is not None
            messages = await self._page(session, conversation.id, None, ROOM_HISTORY, since)
            return {
                "conversation": await self._describe(session, principal, conversation),
                "messages": messages,
            }

    async def open_direct(self, principal: Principal, user_ids: list[int]) -> dict[str, Any]:
        """Find or start the conversation of exactly these people (and you)."""
        if principal.is_guest:
            raise forbidden("guests talk in their room's chat only")
        people = sorted(set(user_ids) | {principal.user_id})
        if not 2 <= len(people) <= MAX_GROUP:
            raise invalid(f"a direct conversation has 2 to {MAX_GROUP} people")
        key = ",".join(map(str, people))
        async with self._db() as session:
            found = set(
                (
                    await session.scalars(
                        select(User.id).where(
                            User.id.in_(people),
                            User.org_id == principal.org_id,
                            User.status == UserStatus.ACTIVE,
                            User.is_guest.is_(False),
                        )
                    )
                ).all()
            )
            if found != set(people):
                raise not_found("some of those people are not in your organization")
            conversation = await session.scalar(
                select(Conversation).where(
                    Conversation.org_id == principal.org_id, Conversation.member_key == key
                )
            )
            if conversation is None:
                kind = ConversationKind.DIRECT if len(people) == 2 else ConversationKind.GROUP
                conversation = Conversation(
                    org_id=principal.org_id, kind=kind, member_key=key, created_at=self._clock.now()
                )
                session.add(conversation)
                await session.flush()
                for user_id in people:
                    session.add(
                        ConversationMember(conversation_id=conversation.id, user_id=user_id)
                    )
                await session.commit()
            return await self._describe(session, principal, conversation)

    async def conversations(self, principal: Principal) -> list[dict[str, Any]]:
        """Your direct, group and pair conversations, with unread counts."""
        if principal.is_guest:
            raise forbidden("guests talk in their room's chat only")
        async with self._db() as session:
            rows = (
                await session.scalars(
                    select(Conversation)
                    .join(ConversationMember, ConversationMember.conversation_id == Conversation.id)
                    .where(
                        ConversationMember.user_id == principal.user_id,
                        ConversationMember.is_member.is_(True),
                    )
                    .order_by(Conversation.id)
                )
            ).all()
            return [await self._describe(session, principal, c) for c in rows]

    async def _describe(
        self, session: AsyncSession, principal: Principal, conversation: Conversation
    ) -> dict[str, Any]:
        read = (
            await session.scalar(
                select(ConversationMember.last_read_seq).where(
                    ConversationMember.conversation_id == conversation.id,
                    ConversationMember.user_id == principal.user_id,
                )
            )
            or 0
        )
        members: list[dict[str, Any]] = []
        if conversation.kind is not ConversationKind.ROOM:
            rows = await session.execute(
                select(User.id, User.display_name)
                .join(ConversationMember, ConversationMember.user_id == User.id)
                .where(
                    ConversationMember.conversation_id == conversation.id,
                    ConversationMember.is_member.is_(True),
                )
                .order_by(User.id)
            )
            members = [{"user_id": uid, "display_name": name} for uid, name in rows]
        return {
            "id": conversation.id,
            "kind": conversation.kind.value,
            "room_id": conversation.room_id,
            "members": members,
            "last_seq": conversation.last_seq,
            "last_read_seq": read,
            "unread": max(0, conversation.last_seq - read),
        }

    # -- messages ---------------------------------------------------------------------------

    async def send(
        self,
        principal: Principal,
        conversation_id: int,
        client_id: str,
        body: str,
        mentions: list[int],
    ) -> dict[str, Any]:
        check_body(body)
        wait = self._sends.take(f"u{principal.user_id}", self._clock.monotonic())
        if wait is not None:
            raise AppError(ErrorCode.RATE_LIMITED, "you are sending too fast", retry_after=wait)
        try:
            saved, place = await self._store(principal, conversation_id, client_id, body)
        except (DBAPIError, ConnectionError, OSError) as exc:
            log.warning("chat.store_failed", extra={"error": type(exc).__name__})
            raise AppError(
                ErrorCode.UNAVAILABLE, "the message was not stored; send it again"
            ) from None
        message = message_json(saved, principal.display_name)
        if not saved.duplicate:
            audience = await self._audience_of(conversation_id, place)
            await self._broadcaster.to_users(audience, "chat:message", message)
            mentioned = set(mentions) & audience - {principal.user_id}
            await self._broadcaster.to_users(mentioned, "chat:mention", message)
        return message

    async def _store(
        self, principal: Principal, conversation_id: int, client_id: str, body: str
    ) -> tuple[Stored, Place]:
        """Check access against the conversation's place and hand the message to the writer;
        if the writer finds the place changed, forget it and check once more from the
        database."""
        for attempt in (1, 2):
            place = await self._place(conversation_id)
            await self._may_use(principal, conversation_id, place)
            assert place is not None
            subject = await self._subject(principal)
            draft = Draft(
                conversation_id,
                principal.user_id,
                client_id,
                body,
                CHANNEL[place.kind],
                subject,
                place,
            )
            try:
                return await self._writer.write(draft), place
            except ConversationChanged:
                self._places.pop(conversation_id, None)
                if attempt == 2:
                    raise not_found("no such conversation") from None
        raise AssertionError("unreachable")

    async def _subject(self, principal: Principal) -> Subject:
        subject = self._subjects.get(principal.user_id)
        if subject is None:
            async with self._db() as session:
                subject = await accounts.analytics_subject(
                    session, principal.org_id, principal.user_id
                )
            if len(self._subjects) > 50_000:
                self._subjects.clear()
            self._subjects[principal.user_id] = subject
        return subject

    async def history(
        self, principal: Principal, conversation_id: int, before_seq: int | None, limit: int
    ) -> dict[str, Any]:
        async with self._db() as session:
            await self._open(session, principal, conversation_id)
            since = await self._guest_since(principal)
            messages = await self._page(session, conversation_id, before_seq, limit + 1, since)
        has_more = len(messages) > limit
        return {"messages": messages[-limit:] if has_more else messages, "has_more": has_more}

    async def _guest_since(self, principal: Principal) -> datetime | None:
        """A guest's admission into their room (None for members: they read all history).
        ``_open`` has just checked that a guest is in the room."""
        if not principal.is_guest:
            return None
        person = await self._office.person(principal.org_id, principal.user_id)
        return _admitted_at(person.entered_at if person else None)

    async def _page(
        self,
        session: AsyncSession,
        conversation_id: int,
        before_seq: int | None,
        limit: int,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        query = (
            select(Message, User.display_name)
            .outerjoin(User, User.id == Message.sender_id)
            .where(Message.conversation_id == conversation_id)
        )
        if since is not None:
            query = query.where(Message.created_at >= since)
        if before_seq is not None:
            query = query.where(Message.seq < before_seq)
        rows = (await session.execute(query.order_by(Message.seq.desc()).limit(limit))).all()
        return [message_json(m, name) for m, name in reversed(rows)]

    async def sync(
        self, principal: Principal, cursors: list[tuple[int, int]]
    ) -> list[dict[str, Any]]:
        """Everything after each cursor, in order; past the bound, a resync instead."""
        results = []
        async with self._db() as session:
            for conversation_id, after_seq in cursors:
                try:
                    await self._open(session, principal, conversation_id)
                except AppError as error:
                    results.append(
                        {"conversation_id": conversation_id, "error": error.as_payload()}
                    )
                    continue
                query = (
                    select(Message, User.display_name)
                    .outerjoin(User, User.id == Message.sender_id)
                    .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
                )
                since = await self._guest_since(principal)
                if since is not None:
                    query = query.where(Message.created_at >= since)
                rows = (
                    await session.execute(
                        query.order_by(Message.seq).limit(self._config.replay_limit + 1)
                    )
                ).all()
                resync = len(rows) > self._config.replay_limit
                results.append(
                    {
                        "conversation_id": conversation_id,
                        "resync": resync,
                        "messages": [] if resync else [message_json(m, n) for m, n in rows],
                    }
                )
        return results

    async def mark_read(
        self, principal: Principal, conversation_id: int, seq: int
    ) -> dict[str, Any]:
        async with self._db() as session:
            conversation = await self._open(session, principal, conversation_id)
            seq = min(seq, conversation.last_seq)
            # Two tabs (or a quick double call) may read at once: create the reader's row
            # if missing without racing, then move it forward under a row lock.
            await insert_if_missing(
                session,
                ConversationMember,
                ["conversation_id", "user_id"],
                conversation_id=conversation_id,
                user_id=principal.user_id,
                is_member=False,
                last_read_seq=0,
            )
            marker = await session.scalar(
                select(ConversationMember)
                .where(
                    ConversationMember.conversation_id == conversation_id,
                    ConversationMember.user_id == principal.user_id,
                )
                .with_for_update()
            )
            assert marker is not None
            marker.last_read_seq = max(marker.last_read_seq or 0, seq)
            await session.commit()
            return {
                "last_read_seq": marker.last_read_seq,
                "unread": max(0, conversation.last_seq - marker.last_read_seq),
            }

    async def edit(self, principal: Principal, message_id: int, body: str) -> dict[str, Any]:
        check_body(body)
        return await self._change(principal, message_id, body=body, deleted=False)

    async def delete(self, principal: Principal, message_id: int) -> dict[str, Any]:
        return await self._change(principal, message_id, body=None, deleted=True)

    async def _change(
        self, principal: Principal, message_id: int, *, body: str | None, deleted: bool
    ) -> dict[str, Any]:
        now = self._clock.now()
        async with self._db() as session:
            message = await session.get(Message, message_id)
            if message is None:
                raise not_found("no such message")
            conversation = await self._open(session, principal, message.conversation_id)
            if message.sender_id != principal.user_id:
                raise forbidden("only the author can change a message")
            if message.deleted_at is not None:
                raise not_found("that message was deleted")
            if deleted:
                message.body, message.deleted_at = None, now
            else:
                message.body, message.edited_at = body, now
            await session.commit()
            result = message_json(message, principal.display_name)
            audience = await self._audience(session, conversation)
            if conversation.kind is ConversationKind.ROOM:
                audience -= await self._admitted_since(conversation, message.created_at)
        await self._broadcaster.to_users(audience, "chat:updated", result)
        return result

    async def typing(self, principal: Principal, conversation_id: int) -> None:
        """Ephemeral and never stored; at most one signal every two seconds per person."""
        wait = self._typing.take(f"{principal.user_id}:{conversation_id}", self._clock.monotonic())
        if wait is not None:
            raise AppError(ErrorCode.RATE_LIMITED, "typing signals are limited", retry_after=wait)
        place = await self._place(conversation_id)
        await self._may_use(principal, conversation_id, place)
        assert place is not None
        audience = await self._audience_of(conversation_id, place)
        event = {
            "conversation_id": conversation_id,
            "user_id": principal.user_id,
            "display_name": principal.display_name,
        }
        await self._broadcaster.to_users(audience - {principal.user_id}, "chat:typing", event)

    async def purge_older_than(self, org_id: int, days: int) -> int:
        """Retention: delete an organization's messages older than ``days`` days."""
        cutoff = self._clock.now() - timedelta(days=days)
        async with self._db() as session:
            ids = select(Conversation.id).where(Conversation.org_id == org_id)
            result = await session.execute(
                delete(Message).where(Message.conversation_id.in_(ids), Message.created_at < cutoff)
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)
