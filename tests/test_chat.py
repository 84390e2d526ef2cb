"""Chat with real Socket.IO clients, on SQLite and on PostgreSQL (+ Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from server.analytics.metrics import Channel, Metric
from server.analytics.tables import AnalyticsEvent
from server.content.messages import Message
from server.db.models import Conversation
from server.http.keys import CHAT, DB
from tests.conftest import Office
from tests.people import Person, rooms_by_name


async def count_messages(client: TestClient[Any, Any]) -> int:
    async with client.app[DB]() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def direct(alice: Person, other_id: int) -> int:
    opened = await alice.call("chat:open_direct", {"user_ids": [other_id]})
    assert opened["ok"] is True, opened
    return int(opened["conversation"]["id"])


async def test_direct_messages_are_acknowledged_after_commit_and_delivered(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    conversation = await direct(alice, office.bob.id)
    assert await direct(bob, office.alice.id) == conversation  # the same conversation

    ack = await alice.call(
        "chat:send",
        {"conversation_id": conversation, "client_id": "a-1", "body": "Hello <b>Bob</b> & co"},
    )
    assert ack["ok"] is True
    message = ack["message"]
    assert message["seq"] == 1 and message["body"] == "Hello <b>Bob</b> & co"  # stored as text
    assert message["sender_name"] == "Alice" and message["created_at"]
    async with client.app[DB]() as session:  # acknowledged means committed
        stored = await session.get(Message, message["id"])
        assert stored is not None and stored.body == "Hello <b>Bob</b> & co"
    got = await bob.wait_for(lambda: bob.received("chat:message"))
    assert got[0]["id"] == message["id"]

    listing = await bob.call("chat:list")
    assert listing["conversations"][0]["unread"] == 1
    read = await bob.call("chat:read", {"conversation_id": conversation, "seq": 1})
    assert read == {"ok": True, "last_read_seq": 1, "unread": 0}


async def test_a_message_sent_without_an_ack_callback_is_stored_and_delivered(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    """As docs/protocol.md says: no ack asked for, the message still goes through (the sender
    just cannot know it did)."""
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    conversation = await direct(alice, office.bob.id)
    await alice.rt.sio.emit(
        "chat:send", {"conversation_id": conversation, "client_id": "no-ack", "body": "hi"}
    )
    delivered = await bob.wait_for(lambda: bob.received("chat:message"))
    assert delivered[0]["body"] == "hi"
    assert await count_messages(client) == 1


async def test_a_resend_returns_the_same_message_and_stores_nothing_twice(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    conversation = await direct(alice, office.bob.id)
    payload = {"conversation_id": conversation, "client_id": "same-id", "body": "once"}
    first, second = await asyncio.gather(
        alice.call("chat:send", payload), alice.call("chat:send", payload)
    )
    third = await alice.call("chat:send", payload)
    assert first["message"]["id"] == second["message"]["id"] == third["message"]["id"]
    assert await count_messages(client) == 1


async def test_bad_messages_are_refused_and_nothing_is_stored(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    eve = await join("eve@other.example")
    conversation = await direct(alice, office.bob.id)
    cases = [
        ({"conversation_id": conversation, "client_id": "e1", "body": "   "}, "invalid"),
        ({"conversation_id": conversation, "client_id": "e2", "body": "x" * 4001}, "too_large"),
        # Past the model's own bound too: still too large, not "invalid".
        ({"conversation_id": conversation, "client_id": "e7", "body": "x" * 20_001}, "too_large"),
        (
            {
                "conversation_id": conversation,
                "client_id": "e8",
                "body": "hi",
                "mentions": [1] * 21,
            },
            "too_large",
        ),
        ({"conversation_id": conversation, "client_id": "e3"}, "invalid"),
        ({"conversation_id": conversation, "client_id": "e 4", "body": "hi"}, "invalid"),
        ({"conversation_id": conversation, "client_id": "e5", "body": "hi", "html": 1}, "invalid"),
        ({"conversation_id": 999999, "client_id": "e6", "body": "hi"}, "not_found"),
    ]
    for payload, code in cases:
        ack = await alice.call("chat:send", payload)
        assert ack["ok"] is False and ack["error"]["code"] == code, (payload, ack)
    foreign = await eve.call(
        "chat:send", {"conversation_id": conversation, "client_id": "x", "body": "let me in"}
    )
    assert foreign["error"]["code"] == "not_found"
    assert (await eve.call("chat:history", {"conversation_id": conversation}))["ok"] is False
    assert await count_messages(client) == 0


async def test_sending_too_fast_is_rate_limited(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    conversation = await direct(alice, office.bob.id)
    acks = [
        await alice.call(
            "chat:send",
            {"conversation_id": conversation, "client_id": f"burst-{i}", "body": f"m{i}"},
        )
        for i in range(12)
    ]
    assert [a["ok"] for a in acks[:10]] == [True] * 10
    limited = acks[10]["error"]
    assert limited["code"] == "rate_limited" and limited["retry_after"] > 0
    assert await count_messages(client) == 10


async def test_room_chat_belongs_to_whoever_is_in_the_room(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    lobby = rooms["Lobby"]
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    outside = await alice.call("chat:room", {"room_id": lobby})
    assert outside["error"]["code"] == "forbidden"

    await alice.call("room:enter", {"room_id": lobby})
    chat = await alice.call("chat:room", {"room_id": lobby})
    conversation = chat["conversation"]["id"]
    for i in range(3):
        await alice.call(
            "chat:send",
            {"conversation_id": conversation, "client_id": f"r{i}", "body": f"before bob {i}"},
        )
    assert bob.received("chat:message") == []  # not in the room
    refused = await bob.call(
        "chat:send", {"conversation_id": conversation, "client_id": "b", "body": "hi"}
    )
    assert refused["error"]["code"] == "forbidden"

    await bob.call("room:enter", {"room_id": lobby})
    entering = await bob.call("chat:room", {"room_id": lobby})
    assert [m["body"] for m in entering["messages"]] == [f"before bob {i}" for i in range(3)]
    assert entering["conversation"]["unread"] == 3
    await bob.call(
        "chat:send",
        {
            "conversation_id": conversation,
            "client_id": "b1",
            "body": "hi @Alice",
            "mentions": [office.alice.id],
        },
    )
    assert (await alice.wait_for(lambda: alice.received("chat:mention")))[0]["body"] == (
        "hi @Alice"
    )


async def test_a_conversation_that_now_belongs_to_another_room_is_checked_again(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    """Who may write a room's chat is decided from the conversation's room, kept in memory
    after the first send. If the id comes to name another room's conversation (SQLite reuses
    the id of a deleted last row), the commit notices, and the send is judged again from the
    database: Alice, in the Lobby, may not write into the other room, and nothing is stored."""
    rooms = await rooms_by_name(client, office.org.id)
    lobby = rooms["Lobby"]
    elsewhere = next(room_id for name, room_id in rooms.items() if name != "Lobby")
    alice = await join("alice@acme.example")
    await alice.call("room:enter", {"room_id": lobby})
    conversation = (await alice.call("chat:room", {"room_id": lobby}))["conversation"]["id"]
    first = await alice.call(
        "chat:send", {"conversation_id": conversation, "client_id": "c1", "body": "hello"}
    )
    assert first["ok"] is True

    async with client.app[DB]() as session:
        await session.execute(
            update(Conversation).where(Conversation.id == conversation).values(room_id=elsewhere)
        )
        await session.commit()
    refused = await alice.call(
        "chat:send", {"conversation_id": conversation, "client_id": "c2", "body": "leak?"}
    )
    assert refused["error"]["code"] == "forbidden"
    assert await count_messages(client) == 1


async def test_history_pages_back_with_a_cursor(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    conversation = await direct(alice, office.bob.id)
    for i in range(7):
        await alice.call(
            "chat:send",
            {"conversation_id": conversation, "client_id": f"h{i}", "body": f"#{i + 1}"},
        )
    page = await alice.call("chat:history", {"conversation_id": conversation, "limit": 3})
    assert [m["seq"] for m in page["messages"]] == [5, 6, 7] and page["has_more"] is True
    older = await alice.call(
        "chat:history", {"conversation_id": conversation, "limit": 3, "before_seq": 5}
    )
    assert [m["seq"] for m in older["messages"]] == [2, 3, 4]
    oldest = await alice.call(
        "chat:history", {"conversation_id": conversation, "limit": 3, "before_seq": 2}
    )
    assert [m["seq"] for m in oldest["messages"]] == [1] and oldest["has_more"] is False


async def test_a_reconnecting_client_gets_every_missed_message_once_in_order(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    conversation = await direct(alice, office.bob.id)
    await alice.call(
        "chat:send", {"conversation_id": conversation, "client_id": "s0", "body": "seen"}
    )
    await bob.wait_for(lambda: bob.received("chat:message"))
    last_seen = bob.received("chat:message")[-1]["seq"]
    await bob.rt.close()

    for i in range(1, 8):
        await alice.call(
            "chat:send",
            {"conversation_id": conversation, "client_id": f"s{i}", "body": f"missed {i}"},
        )
    bob_again = await join("bob@acme.example")
    sync = await bob_again.call(
        "chat:sync", {"cursors": [{"conversation_id": conversation, "after_seq": last_seen}]}
    )
    replay = sync["conversations"][0]
    assert replay["resync"] is False
    assert [m["body"] for m in replay["messages"]] == [f"missed {i}" for i in range(1, 8)]
    assert [m["seq"] for m in replay["messages"]] == list(range(2, 9))


async def test_replay_past_the_bound_asks_for_a_resync(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    client.app[CHAT]._config = type(client.app[CHAT]._config)(burst=100, replay_limit=5)
    client.app[CHAT]._sends = type(client.app[CHAT]._sends)(100, 100)
    alice = await join("alice@acme.example")
    conversation = await direct(alice, office.bob.id)
    for i in range(6):
        await alice.call(
            "chat:send", {"conversation_id": conversation, "client_id": f"b{i}", "body": "x"}
        )
    sync = await alice.call(
        "chat:sync", {"cursors": [{"conversation_id": conversation, "after_seq": 0}]}
    )
    assert sync["conversations"][0] == {
        "conversation_id": conversation,
        "resync": True,
        "messages": [],
    }


async def test_authors_edit_and_delete_their_own_messages(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    conversation = await direct(alice, office.bob.id)
    sent = (
        await alice.call(
            "chat:send", {"conversation_id": conversation, "client_id": "e", "body": "teh typo"}
        )
    )["message"]
    not_author = await bob.call("chat:edit", {"message_id": sent["id"], "body": "hacked"})
    assert not_author["error"]["code"] == "forbidden"
    edited = await alice.call("chat:edit", {"message_id": sent["id"], "body": "the typo"})
    assert edited["message"]["body"] == "the typo" and edited["message"]["edited_at"]
    deleted = await alice.call("chat:delete", {"message_id": sent["id"]})
    assert deleted["message"]["deleted"] is True and deleted["message"]["body"] is None
    updates = await bob.wait_for(
        lambda: len(bob.received("chat:updated")) == 2 and bob.received("chat:updated")
    )
    assert updates[-1]["deleted"] is True
    history = await bob.call("chat:history", {"conversation_id": conversation})
    assert history["messages"][0]["body"] is None  # a tombstone keeps its place
    async with client.app[DB]() as session:
        row = await session.get(Message, sent["id"])
        assert row is not None and row.body is None  # the text is gone, not hidden


async def test_typing_is_relayed_rate_limited_and_never_stored(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    conversation = await direct(alice, office.bob.id)
    assert (await alice.call("chat:typing", {"conversation_id": conversation}))["ok"] is True
    again = await alice.call("chat:typing", {"conversation_id": conversation})
    assert again["error"]["code"] == "rate_limited"
    typing = await bob.wait_for(lambda: bob.received("chat:typing"))
    assert typing == [
        {"conversation_id": conversation, "user_id": office.alice.id, "display_name": "Alice"}
    ]
    assert await count_messages(client) == 0


async def test_group_conversations_and_analytics_without_text(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    opened = await alice.call("chat:open_direct", {"user_ids": [office.bob.id, office.admin.id]})
    assert opened["conversation"]["kind"] == "group"
    assert {m["user_id"] for m in opened["conversation"]["members"]} == {
        office.alice.id,
        office.bob.id,
        office.admin.id,
    }
    too_many = await alice.call("chat:open_direct", {"user_ids": list(range(1, 9))})
    assert too_many["ok"] is False
    foreign = await alice.call("chat:open_direct", {"user_ids": [office.outsider.id]})
    assert foreign["error"]["code"] == "not_found"
    await alice.call(
        "chat:send",
        {
            "conversation_id": opened["conversation"]["id"],
            "client_id": "g1",
            "body": "secret plans",
        },
    )
    async with client.app[DB]() as session:
        rows = (
            await session.scalars(
                select(AnalyticsEvent).where(AnalyticsEvent.metric == Metric.MESSAGE_SENT)
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].channel is Channel.GROUP and rows[0].person == office.alice.analytics_id


async def test_concurrent_sends_share_commits(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    chat = client.app[CHAT]
    chat._sends = type(chat._sends)(1000, 1000)
    alice = await join("alice@acme.example")
    conversation = await direct(alice, office.bob.id)
    writer = chat._writer
    before = writer.commits
    acks = await asyncio.gather(
        *[
            alice.call(
                "chat:send", {"conversation_id": conversation, "client_id": f"c{i}", "body": f"{i}"}
            )
            for i in range(60)
        ]
    )
    assert all(a["ok"] for a in acks)
    assert sorted(a["message"]["seq"] for a in acks) == list(range(1, 61))
    assert writer.commits - before < 60  # group commit: fewer transactions than messages


async def test_retention_deletes_messages_older_than_the_policy(
    client: TestClient[Any, Any], office: Office, join: Any, clock: Any
) -> None:
    alice = await join("alice@acme.example")
    conversation = await direct(alice, office.bob.id)
    await alice.call(
        "chat:send",
        {"conversation_id": conversation, "client_id": "old", "body": "from last month"},
    )
    clock.advance(31 * 86400)
    await alice.call(
        "chat:send", {"conversation_id": conversation, "client_id": "new", "body": "from today"}
    )
    removed = await client.app[CHAT].purge_older_than(office.org.id, days=30)
    assert removed == 1
    history = await alice.call("chat:history", {"conversation_id": conversation})
    assert [m["body"] for m in history["messages"]] == ["from today"]
    assert await client.app[CHAT].purge_older_than(office.outsider.org_id, days=0) == 0


async def test_reading_from_two_tabs_at_once_keeps_one_read_marker(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    """Regression: the first read of a room conversation by two tabs at once inserted the
    reader's row twice (a unique-constraint error surfaced as `internal`)."""
    rooms = await rooms_by_name(client, office.org.id)
    tabs = [await join("alice@acme.example") for _ in range(3)]
    await tabs[0].call("room:enter", {"room_id": rooms["Lobby"]})
    chat = await tabs[0].call("chat:room", {"room_id": rooms["Lobby"]})
    conversation = chat["conversation"]["id"]
    sent = await tabs[0].call(
        "chat:send", {"conversation_id": conversation, "client_id": "x", "body": "hello"}
    )
    seq = sent["message"]["seq"]
    acks = await asyncio.gather(
        *(
            tab.call("chat:read", {"conversation_id": conversation, "seq": seq})
            for tab in tabs
            for _ in range(3)
        )
    )
    assert all(ack["ok"] and ack["last_read_seq"] == seq for ack in acks), acks
