"""The pages at a phone's width and on a laptop screen, in real Chromium."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Locator, Page, ViewportSize, expect

from server.infra.settings import Settings
from tests.e2e.accessibility import assert_accessible
from tests.e2e.test_office_ui import LAPTOP, room, seeded, signed_in

PHONE: ViewportSize = {"width": 390, "height": 844}
ADA = "ada@demo.officehours.example"


async def scroll_width(page: Page) -> int:
    wide = await page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
            .slice(0, 5)
            .map((e) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)"""
    )
    if wide:
        print("wider than the screen:", wide)  # names the culprit when the test fails
    return int(await page.evaluate("document.scrollingElement.scrollWidth"))


async def test_at_a_phones_width_the_office_is_a_list_of_rooms_and_nothing_scrolls_sideways(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    page = await signed_in(browser, base, ADA, office.password, PHONE)
    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)
    await room(bruno, rooms["Lobby"]).click()
    await expect(room(bruno, rooms["Lobby"])).to_have_class("room mine")

    # No floor plan: a list of rooms, each with the people in it and their status in words.
    await expect(page.locator("#floor")).to_be_hidden()
    rooms_list = page.get_by_role("list", name="Rooms")
    await expect(rooms_list).to_be_visible()
    lobby = rooms_list.locator(f'li[data-room="{rooms["Lobby"]}"]')
    await expect(lobby.get_by_role("listitem")).to_have_text(re.compile(r"Bruno Lind\s*available"))
    # Entering a room from the list: the room's chat opens, the entry says "You are here".
    await lobby.get_by_role("button", name=re.compile("^Lobby")).click()
    await expect(page.locator("#chat-input")).to_be_enabled()
    await expect(lobby).to_contain_text("You are here")
    await expect(lobby.get_by_role("listitem")).to_have_count(2)
    await expect(room(bruno, rooms["Lobby"]).locator("g.avatar")).to_have_count(2)
    chat = await page.locator("#chat-form").bounding_box()
    assert chat is not None and chat["width"] >= PHONE["width"] - 60, chat  # full width
    assert await scroll_width(page) <= PHONE["width"]
    await assert_accessible(page, "the office at a phone's width")
    await page.goto(f"{base}/mentoring")
    await expect(page.locator("h1").first).to_be_visible()
    assert await scroll_width(page) <= PHONE["width"]
    await assert_accessible(page, "the mentoring page at a phone's width")

    guest = await (await browser.new_context(viewport=PHONE)).new_page()
    await guest.goto(f"{base}/join/{office.guest_token}")
    await expect(guest.get_by_label("Your name")).to_be_visible()
    assert await scroll_width(guest) <= PHONE["width"]
    await assert_accessible(guest, "the guest page at a phone's width")


async def test_on_a_laptop_screen_the_header_is_one_line(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, _ = await seeded(settings)
    page = await signed_in(browser, base, ADA, office.password)
    header = await page.locator("header.bar").bounding_box()
    button = await page.get_by_role("button", name="Sign out").bounding_box()
    assert header is not None and button is not None
    assert header["height"] <= button["height"] + 24, (header, button)  # one row of controls
    assert await scroll_width(page) <= LAPTOP["width"]


async def test_in_dark_mode_the_pages_are_dark(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    """A system set to dark gets dark pages; the theme button overrides it on this browser."""
    base, settings = live_server
    office, _ = await seeded(settings)
    context = await browser.new_context(viewport=LAPTOP, color_scheme="dark")
    page = await context.new_page()
    await page.goto(f"{base}/")
    assert 0 <= await lightness(page) < 0.2
    await page.get_by_label("Email").fill(ADA)
    await page.get_by_label("Password").fill(office.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#connection")).to_have_text("online", timeout=15000)
    assert 0 <= await lightness(page) < 0.2
    # The surfaces too, not only the page behind them.
    assert 0 <= await lightness(page, page.locator("section.floor")) < 0.2

    # The theme button: dark (chosen), then light, kept across pages; then the system's again.
    toggle = page.get_by_role("button", name=re.compile("^Theme: same as the system"))
    await toggle.click()
    await expect(page.get_by_role("button", name=re.compile("^Theme: dark"))).to_be_focused()
    await page.get_by_role("button", name=re.compile("^Theme: dark")).click()
    assert await lightness(page) > 0.8
    await page.goto(f"{base}/me")
    await expect(page.get_by_role("button", name=re.compile("^Theme: light"))).to_be_visible()
    assert await lightness(page) > 0.8
    await page.get_by_role("button", name=re.compile("^Theme: light")).click()
    assert 0 <= await lightness(page) < 0.2


async def lightness(page: Page, node: Locator | None = None) -> float:
    """The relative lightness (0 black .. 1 white) of the page's background, or of a node's;
    -1 if it is not opaque (then nothing was measured)."""
    script = """(node) => {
        const colour = getComputedStyle(node || document.documentElement).backgroundColor;
        const canvas = document.createElement("canvas").getContext("2d");
        canvas.fillStyle = colour;
        canvas.fillRect(0, 0, 1, 1);
        const [r, g, b, a] = canvas.getImageData(0, 0, 1, 1).data;
        return a < 255 ? -1 : (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    }"""
    if node is None:
        return float(await page.evaluate(script, None))
    return float(await node.evaluate(script))
