"""The office in real Chromium: people walking between rooms, chat, knocking, a guest."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from server import demo
from server.db.engine import create_engine, session_factory
from server.db.models import Group, Room, User
from server.infra.clock import FakeClock, SystemClock
from server.infra.settings import Settings
from tests.e2e.accessibility import assert_accessible
from tests.e2e.conftest import artifact, serving


@pytest.fixture
def fake_clock() -> FakeClock:
    """The server's clock, for tests that ask for it: knocks and guest links expire when the
    test advances it, not after a wait."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def live_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, Settings]]:
    clock = request.getfixturevalue("fake_clock") if "fake_clock" in request.fixturenames else None
    async with serving(tmp_path, clock=clock) as served:
        yield served


async def seeded(settings: Settings) -> tuple[demo.DemoOffice, dict[str, int]]:
    engine = create_engine(settings)
    try:
        office = await demo.seed(session_factory(engine), settings, SystemClock(), small=True)
        async with session_factory(engine)() as session:
            rooms = {
                name: room_id
                for name, room_id in (
                    await session.execute(
                        select(Room.name, Room.id).where(Room.org_id == office.org_id)
                    )
                ).all()
            }
    finally:
        await engine.dispose()
    return office, rooms


LAPTOP: ViewportSize = {"width": 1280, "height": 720}


async def signed_in(
    browser: Browser,
    base: str,
    email: str,
    password: str,
    viewport: ViewportSize = LAPTOP,
    *,
    reduced_motion: bool = False,
) -> Page:
    """A new context signed in; ``reduced_motion`` asks the pages for no animations."""
    context = await browser.new_context(
        viewport=viewport, reduced_motion="reduce" if reduced_motion else "no-preference"
    )
    return await sign_in(await context.new_page(), base, email, password)


async def sign_in(page: Page, base: str, email: str, password: str) -> Page:
    """Sign in on ``page`` (a context the caller prepared) and wait until the office is online."""
    # What the page said (toasts, errors) is printed, so a failing test shows it.
    who = email.split("@")[0]
    page.on("console", lambda message: print(f"[{who}] {message.type}: {message.text}"))
    page.on("pageerror", lambda error: print(f"[{who}] page error: {error}"))
    await page.goto(f"{base}/")
    await expect(page.get_by_label("Email")).to_be_focused()  # ready to type
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#connection")).to_have_text("online", timeout=15000)
    return page


def room(page: Page, room_id: int) -> Any:
    return page.locator(f'g.room[data-room="{room_id}"]')


async def test_two_people_walk_chat_and_knock(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)

    # Walking: Bruno sees Ada's avatar appear in the lobby, then move on.
    await room(ada, rooms["Lobby"]).click()
    await expect(room(bruno, rooms["Lobby"]).locator("g.avatar")).to_have_count(1)
    await room(ada, rooms["Meeting room A"]).click()
    await expect(room(bruno, rooms["Meeting room A"]).locator("g.avatar")).to_have_count(1)
    await expect(room(bruno, rooms["Lobby"]).locator("g.avatar")).to_have_count(0)

    # From the keyboard: the room is a button named, from its visible name on, with who is
    # inside; Enter walks in.
    meeting_a = bruno.get_by_role(
        "button",
        name=re.compile(
            r"^Meeting room A, Meeting room, door open, 1 of \d+ people: Ada Okafor \(available\)$"
        ),
    )
    await meeting_a.focus()
    await bruno.keyboard.press("Enter")
    await expect(
        bruno.get_by_role(
            "button",
            name=re.compile(r"^Meeting room A \(you are here\), Meeting room, door open, 2 of"),
        )
    ).to_have_count(1)
    # With Ada there a meeting starts, its stage over the plan: the focus goes to the way back
    # to the plan, not to the page.
    await expect(bruno.get_by_role("button", name="Show floor plan")).to_be_focused()

    # Chat both ways in the room; text is shown as text, never as markup.
    await expect(bruno.locator("#chat-input")).to_be_enabled()
    await ada.locator("#chat-input").fill("<b>hello</b> Bruno")
    await ada.get_by_role("button", name="Send").click()
    await expect(bruno.locator("#messages .body").last).to_have_text("<b>hello</b> Bruno")
    assert await bruno.locator("#messages b").count() == 0
    await bruno.locator("#chat-input").fill("Hi Ada!")
    await bruno.keyboard.press("Enter")
    await expect(ada.locator("#messages .body").last).to_have_text("Hi Ada!")
    await ada.screenshot(path=artifact("office.png"))
    await assert_accessible(ada, "the office, in a room with its chat")

    # Knock and admit: Ada waits in a closed room, Bruno knocks, Ada lets him in. (Their meeting
    # lies over the floor plan: Ada folds it down to walk on.)
    await ada.get_by_role("button", name="Show floor plan").click()
    await room(ada, rooms["Meeting room B"]).click()
    await expect(room(ada, rooms["Meeting room B"])).to_have_class("room mine")
    await room(bruno, rooms["Meeting room B"]).click()
    prompt = ada.get_by_role("alertdialog")
    await expect(prompt).to_contain_text("Bruno Lind is knocking on Meeting room B")
    await assert_accessible(ada, "the office with a knock to answer")
    await prompt.get_by_role("button", name="Let in").click()
    await expect(room(bruno, rooms["Meeting room B"])).to_have_class("room mine")
    await expect(room(ada, rooms["Meeting room B"]).locator("g.avatar")).to_have_count(2)


@pytest.mark.usefixtures("loopback_ice")
async def test_a_guest_joins_by_link_waits_and_chats_with_the_host(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    host = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    await room(host, rooms["Lobby"]).click()
    await expect(room(host, rooms["Lobby"])).to_have_class("room mine")

    guest_context = await browser.new_context(viewport={"width": 1280, "height": 720})
    guest = await guest_context.new_page()
    await guest.goto(f"{base}/join/{office.guest_token}")
    await expect(guest.locator("#invite")).to_contain_text("invited to Lobby at Demo Company")
    await assert_accessible(guest, "the guest page before joining")
    await guest.get_by_label("Your name").fill("Grace Hopper")
    await guest.get_by_role("button", name="Join").click()
    await expect(guest.locator("#lobby-state")).to_contain_text("Waiting for someone")
    await assert_accessible(guest, "the guest page while waiting to be let in")

    prompt = host.get_by_role("alertdialog")
    await expect(prompt).to_contain_text("Grace Hopper (guest) is knocking on Lobby")
    await prompt.get_by_role("button", name="Let in").click()
    await expect(guest.locator("#room")).to_be_visible()
    await expect(guest.locator("#people")).to_contain_text("Ada Okafor")

    await guest.locator("#chat-input").fill("Hello from the guest")
    await guest.get_by_role("button", name="Send").click()
    await expect(host.locator("#messages .body").last).to_have_text("Hello from the guest")
    await host.locator("#chat-input").fill("Welcome, Grace")
    await host.get_by_role("button", name="Send").click()
    await expect(guest.locator("#messages .body").last).to_have_text("Welcome, Grace")
    # The guest page shows one room; nothing of the office.
    assert await guest.locator("#floor").count() == 0

    # Media both ways: each decodes the other's camera and hears the other's microphone.
    from tests.e2e.test_meeting_ui import growing

    for page in (guest, host):
        rows = await growing(page, 1)
        assert [row["source"] for row in rows.values()] == ["camera"]
    await guest.screenshot(path=artifact("guest.png"))
    await assert_accessible(guest, "the guest page, let in, in a meeting with the host")


async def test_a_person_put_in_a_group_is_told_in_the_office(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    """``membership:pending`` reaches the office page: Chen learns that Ada (an admin) asked
    him into the Design team, and that nothing is shared before he accepts."""
    base, settings = live_server
    office, _ = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    chen = await signed_in(browser, base, "chen@demo.officehours.example", office.password)
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            chen_id = await session.scalar(
                select(User.id).where(User.email == "chen@demo.officehours.example")
            )
            design = await session.scalar(select(Group.id).where(Group.name == "Design team"))
    finally:
        await engine.dispose()
    asked = await ada.evaluate(
        """async ({ group, user }) => {
          const session = await (await fetch("/api/auth/session")).json();
          const response = await fetch(`/api/org/groups/${group}/members`, {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf_token },
            body: JSON.stringify({ user_id: user }),
          });
          return response.status;
        }""",
        {"group": design, "user": chen_id},
    )
    assert asked == 201
    toast = chen.locator("#toast")
    await expect(toast).to_contain_text("Design team")
    await expect(toast).to_contain_text("Nothing is shared until you accept")


async def guest_page(browser: Browser, base: str, token: str, name: str) -> Page:
    """A guest opens the link in a browser of their own, gives a name and knocks."""
    page = await (await browser.new_context(viewport={"width": 1280, "height": 720})).new_page()
    page.on("console", lambda message: print(f"[{name}] {message.type}: {message.text}"))
    await page.goto(f"{base}/join/{token}")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Join").click()
    return page


async def test_members_see_a_guest_waiting_and_a_host_who_walks_out_loses_the_prompt(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    """Bruno, in the hallway, sees a guest waiting in the Lobby; Ada, prompted inside, walks
    out: her prompt goes and the guest is told nobody inside can let them in, but the knock
    still waits, so Bruno walks in from the badge and lets them in."""
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)
    await room(ada, rooms["Lobby"]).click()
    await expect(room(ada, rooms["Lobby"])).to_have_class("room mine")
    badge = bruno.locator("#waiting button")

    linus = await guest_page(browser, base, office.guest_token, "Linus Torvalds")
    prompt = ada.get_by_role("alertdialog")
    await expect(prompt).to_contain_text("Linus Torvalds (guest) is knocking on Lobby")
    await expect(badge).to_have_text("1 guest waiting in Lobby")
    await assert_accessible(bruno, "the office with a guest waiting")
    await ada.get_by_role("button", name="Leave room").click()
    await expect(prompt).to_have_count(0)
    await expect(linus.locator("#lobby-state")).to_contain_text("Nobody is in the room")
    await expect(badge).to_have_text("1 guest waiting in Lobby")

    await badge.click()  # Bruno walks in and is asked at once
    await bruno.get_by_role("alertdialog").get_by_role("button", name="Let in").click()
    await expect(linus.locator("#room")).to_be_visible()
    await expect(badge).to_have_count(0)


async def test_a_knock_ends_for_its_knocker_alone_and_can_be_made_again(
    browser: Browser, live_server: tuple[str, Settings], fake_clock: FakeClock
) -> None:
    """Grace, a guest inside, hears nothing of Linus's knock, nor of its expiry; Linus, told
    nobody answered, leaves the hallway list and knocks again from the page; once the link
    ends, both guests leave the list."""
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    await room(ada, rooms["Lobby"]).click()
    await expect(room(ada, rooms["Lobby"])).to_have_class("room mine")
    prompt = ada.get_by_role("alertdialog")
    people = ada.locator("#people")

    grace = await guest_page(browser, base, office.guest_token, "Grace Hopper")
    await prompt.get_by_role("button", name="Let in").click()
    await expect(grace.locator("#room")).to_be_visible()
    linus = await guest_page(browser, base, office.guest_token, "Linus Torvalds")
    await expect(prompt).to_contain_text("Linus Torvalds (guest) is knocking on Lobby")
    await expect(people).to_contain_text("Linus Torvalds (guest)")

    fake_clock.advance(61)  # the knock expires (OFFICEHOURS_KNOCK_TIMEOUT_SECONDS: 60)
    await expect(linus.locator("#lobby-state")).to_have_text("Nobody answered.")
    await expect(prompt).to_have_count(0)
    await expect(people).not_to_contain_text("Linus Torvalds")
    await expect(grace.locator("#lobby-state")).to_have_text("")  # not her knock

    await linus.get_by_role("button", name="Knock again").click()
    await expect(prompt).to_contain_text("Linus Torvalds (guest) is knocking on Lobby")
    await expect(people).to_contain_text("Linus Torvalds (guest)")
    await prompt.get_by_role("button", name="Let in").click()
    await expect(linus.locator("#room")).to_be_visible()

    fake_clock.advance(7 * 24 * 3600 + 60)  # past the demo guest link (7 days): visits end
    for guest in (grace, linus):
        await expect(guest.locator("#lobby-state")).to_have_text(
            re.compile("visit has ended", re.I)
        )
    await expect(people).not_to_contain_text("(guest)")
