"""The pages at a phone's width and on a laptop screen, in real Chromium."""

from __future__ import annotations

from playwright.async_api import Browser, Page, ViewportSize, expect

from server.infra.settings import Settings
from tests.e2e.accessibility import assert_accessible
from tests.e2e.test_office_ui import LAPTOP, seeded, signed_in

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


async def test_at_a_phones_width_nothing_scrolls_sideways(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    page = await signed_in(browser, base, ADA, office.password, PHONE)
    # The office with a room's chat open.
    await page.locator(f'g.room[data-room="{rooms["Lobby"]}"]').click()
    await expect(page.locator("#chat-input")).to_be_enabled()
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
