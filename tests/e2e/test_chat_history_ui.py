"""Scrolling back through a conversation's history in real Chromium."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from server.content.messages import Message
from server.db.engine import create_engine, session_factory
from server.db.models import Conversation, User
from server.infra.clock import SystemClock
from server.infra.settings import Settings
from tests.e2e.test_office_ui import room, seeded, signed_in


async def test_scrolling_up_loads_earlier_messages_in_order(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    await room(ada, rooms["Lobby"]).click()
    await expect(ada.locator("#chat-input")).to_be_enabled()

    # 120 earlier messages, stored as the server stores them (the rate limit keeps a person
    # from typing them this fast).
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            conversation = await session.scalar(
                select(Conversation).where(Conversation.room_id == rooms["Lobby"])
            )
            ada_id = await session.scalar(
                select(User.id).where(User.email == "ada@demo.officehours.example")
            )
            assert conversation is not None
            start = SystemClock().now() - timedelta(hours=2)
            for seq in range(conversation.last_seq + 1, conversation.last_seq + 121):
                session.add(
                    Message(
                        conversation_id=conversation.id,
                        seq=seq,
                        sender_id=ada_id,
                        client_id=f"old-{seq}",
                        body=f"old message {seq}",
                        created_at=start + timedelta(seconds=seq),
                    )
                )
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id)
                .values(last_seq=conversation.last_seq + 120)
            )
            await session.commit()
    finally:
        await engine.dispose()

    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)
    await room(bruno, rooms["Lobby"]).click()
    bodies = bruno.locator("#messages .body")
    await expect(bodies.last).to_have_text("old message 120")
    await expect(bodies).to_have_count(50)
    # The button above the list loads the page before; dispatched rather than clicked, because
    # Playwright's click first scrolls the button into view, and reaching the top loads by itself.
    earlier = bruno.get_by_role("button", name="Load earlier messages")
    await earlier.dispatch_event("click")
    await expect(bodies).to_have_count(100)
    # Scrolling to the top loads the rest; then there is nothing earlier to offer.
    await bruno.locator("#messages").evaluate("list => list.scrollTo(0, 0)")
    await expect(bodies).to_have_count(120)
    await expect(bodies.first).to_have_text("old message 1")
    texts = await bodies.all_text_contents()
    assert texts == [f"old message {n}" for n in range(1, 121)]
    await expect(bruno.get_by_role("button", name="Load earlier messages")).to_have_count(0)
