"""Notifications in real Chromium: a tab in the background hears of a direct message, a knock,
a mention and a guest waiting (a desktop notification, a sound, a count in its title);
do-not-disturb and a kind switched off on /me keep it quiet; permission is asked only when the
person says so.

A really hidden tab: Playwright keeps every page it opens focused and visible on purpose (focus
emulation: another page brought to the front, a minimised window, all stay "visible"). So the
person whose tab goes to the background uses a Chromium started here and attached over CDP
without Playwright's defaults (``no_defaults``): in its default context a new page opens as
another tab of the same window, and bringing that tab to the front hides the office tab as a
person switching tabs does (``document.visibilityState`` "hidden", ``visibilitychange`` fired,
the connection kept); bringing the office tab back shows it again. (Freezing the page through
the CDP page lifecycle also hides it, but closes its WebSocket: not what a background tab does.)

Notifications are observed by wrapping ``window.Notification`` before the page's scripts run:
each one is recorded (title, body, whether Chromium showed it) and the real one is constructed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from server.infra.settings import Settings
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path
from tests.e2e.test_office_ui import room, seeded, sign_in, signed_in

RECORDER = """
(() => {
  window.recorded = { notifications: [], tones: 0, asked: 0 };
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      const entry = { title, body: options.body ?? "", shown: false };
      this.addEventListener("show", () => { entry.shown = true; });
      window.recorded.notifications.push(entry);
    }
  }
  const ask = Real.requestPermission.bind(Real);
  Recorded.requestPermission = (...args) => { window.recorded.asked += 1; return ask(...args); };
  window.Notification = Recorded;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.recorded.tones += 1;
    return start.apply(this, args);
  };
})();
"""


async def _devtools_endpoint(stderr: asyncio.StreamReader) -> str:
    while line := (await stderr.readline()).decode():
        if line.startswith("DevTools listening on "):
            return line.removeprefix("DevTools listening on ").strip()
    raise AssertionError("Chromium exited before it listened for DevTools")


async def _drain(stderr: asyncio.StreamReader) -> None:
    while await stderr.read(65536):
        pass


@pytest.fixture
async def chromium(live_server: tuple[str, Settings], tmp_path: Path) -> AsyncIterator[Browser]:
    """Chromium attached over CDP with ``no_defaults``: its default context runs without
    Playwright's focus emulation, so its pages can be hidden. Closed before the server."""
    process = await asyncio.create_subprocess_exec(
        chromium_path(),
        *CHROMIUM_ARGS,
        "--remote-debugging-port=0",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    drain: asyncio.Task[None] | None = None
    try:
        endpoint = await asyncio.wait_for(_devtools_endpoint(process.stderr), 30)
        drain = asyncio.create_task(_drain(process.stderr))
        async with async_playwright() as playwright:
            browser = await playwright.chromium.connect_over_cdp(endpoint, no_defaults=True)
            yield browser
            await browser.close()
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 10)
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


class Tab:
    """The office in a tab of the default context's window, and another tab to switch to."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.elsewhere: Page | None = None

    async def hide(self) -> None:
        """Switch to another tab of the same window (opened the first time)."""
        if self.elsewhere is None:
            self.elsewhere = await self.page.context.new_page()
            await self.elsewhere.set_content("<title>Something else</title><p>Elsewhere</p>")
        await self.elsewhere.bring_to_front()
        await self.page.wait_for_function("document.visibilityState === 'hidden'", polling=100)

    async def show(self) -> None:
        await self.page.bring_to_front()
        await self.page.wait_for_function("document.visibilityState === 'visible'", polling=100)

    async def notifications(self) -> list[dict[str, Any]]:
        """What was constructed so far: title, body, and whether Chromium showed it yet."""
        return list(await self.page.evaluate("window.recorded.notifications"))

    async def shown(self, count: int) -> list[dict[str, str]]:
        """Once ``count`` notifications were made and Chromium showed each: title and body."""
        await self.page.wait_for_function(
            """(count) => window.recorded.notifications.length === count
                && window.recorded.notifications.every((n) => n.shown)""",
            arg=count,
            polling=100,
            timeout=5000,
        )
        return [{"title": n["title"], "body": n["body"]} for n in await self.notifications()]

    async def recorded(self, what: str) -> int:
        return int(await self.page.evaluate(f"window.recorded.{what}"))


async def hideable(
    chromium: Browser, base: str, email: str, password: str, *, permission: bool = True
) -> Tab:
    """Signed in on a page of the default context, with the recorder in place and, unless
    ``permission`` is False, notifications allowed for the office's origin."""
    context: BrowserContext = chromium.contexts[0]
    if permission:
        await context.grant_permissions(["notifications"], origin=base)
    await context.add_init_script(RECORDER)
    page = await context.new_page()
    await page.set_viewport_size({"width": 1280, "height": 720})
    await sign_in(page, base, email, password)
    expected = "granted" if permission else "default"
    assert await page.evaluate("Notification.permission") == expected
    return Tab(page)


async def write_to(sender: Page, name: str, text: str) -> None:
    await sender.get_by_role("button", name=f"Message {name}").click()
    await expect(sender.locator("#chat-input")).to_be_enabled()
    await sender.locator("#chat-input").fill(text)
    await sender.keyboard.press("Enter")
    await expect(sender.locator("#messages .body").last).to_have_text(text)


async def test_a_background_tab_hears_of_a_message_a_knock_and_a_mention(
    chromium: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await hideable(chromium, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(chromium, base, "bruno@demo.officehours.example", office.password)
    meeting_b = rooms["Meeting room B"]
    await room(ada.page, meeting_b).click()
    await expect(room(ada.page, meeting_b)).to_have_class("room mine")
    await expect(ada.page).to_have_title("Officehours")

    await ada.hide()
    await write_to(bruno, "Ada Okafor", "Are you free at 3?")
    await expect(ada.page).to_have_title("(1) Officehours")
    assert await ada.shown(1) == [{"title": "Bruno Lind", "body": "Are you free at 3?"}]

    await room(bruno, meeting_b).click()  # a closed door: Bruno knocks
    await expect(ada.page).to_have_title("(2) Officehours")
    knock = (await ada.shown(2))[-1]
    assert knock["title"] == "Bruno Lind is knocking on Meeting room B"
    assert await ada.recorded("tones") == 4  # a two-note chime each time

    # Back to the tab: the count goes, the knock waits to be answered.
    await ada.show()
    await expect(ada.page).to_have_title("Officehours")
    await ada.page.get_by_role("alertdialog").get_by_role("button", name="Let in").click()
    await expect(room(bruno, meeting_b)).to_have_class("room mine")

    # "@Ada Okafor" in the room's chat is a mention of her (any case).
    await ada.hide()
    await bruno.locator("#chat-input").fill("@ada okafor can you share your screen?")
    await bruno.keyboard.press("Enter")
    await expect(ada.page).to_have_title("(1) Officehours")
    assert (await ada.shown(3))[-1] == {
        "title": "Bruno Lind mentioned you in # Meeting room B",
        "body": "@ada okafor can you share your screen?",
    }


async def test_a_member_outside_hears_of_a_guest_waiting(
    chromium: Browser, live_server: tuple[str, Settings]
) -> None:
    """Ada is in the hallway, not in the Lobby (inside, the guest's knock itself would reach
    her): a guest arriving by the Lobby's link waits there, and her background tab says so."""
    base, settings = live_server
    office, _ = await seeded(settings)
    ada = await hideable(chromium, base, "ada@demo.officehours.example", office.password)
    mine = ada.page.locator("#people li", has_text="(you)")
    await expect(mine.locator(".where")).to_contain_text("hallway")
    await ada.hide()

    guest = await (await chromium.new_context()).new_page()
    await guest.goto(f"{base}/join/{office.guest_token}")
    await guest.get_by_label("Your name").fill("Grace Hopper")
    await guest.get_by_role("button", name="Join").click()
    await expect(guest.locator("#lobby-state")).to_contain_text("Your knock waits")

    await expect(ada.page).to_have_title("(1) Officehours")
    assert await ada.shown(1) == [
        {"title": "Grace Hopper (guest) is waiting at Lobby", "body": "Walk in to let them in."}
    ]
    await ada.show()
    await expect(ada.page).to_have_title("Officehours")
    await expect(ada.page.locator("#waiting")).to_contain_text("1 guest waiting in Lobby")


async def test_do_not_disturb_shows_nothing_and_plays_nothing(
    chromium: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, _ = await seeded(settings)
    ada = await hideable(chromium, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(chromium, base, "bruno@demo.officehours.example", office.password)
    await ada.page.get_by_label("Status", exact=True).select_option("do_not_disturb")
    mine = ada.page.locator("#people li", has_text="(you)")
    await expect(mine.locator(".status-word")).to_have_text("do not disturb")

    await ada.hide()
    await write_to(bruno, "Ada Okafor", "Quick question")
    # The message arrived and was counted (the title is silent) ...
    await expect(ada.page).to_have_title("(1) Officehours")
    # ... but nothing popped up and nothing played.
    assert await ada.notifications() == []
    assert await ada.recorded("tones") == 0


async def test_a_kind_switched_off_on_my_page_does_not_notify(
    chromium: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await hideable(chromium, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(chromium, base, "bruno@demo.officehours.example", office.password)

    await ada.page.goto(f"{base}/me#notifications")
    direct = ada.page.get_by_label("someone writes to me in a direct or group conversation")
    await expect(direct).to_be_checked()
    await direct.uncheck()
    await expect(ada.page.locator("#notify-saved")).to_have_text("Saved.")
    await ada.page.reload()
    await expect(direct).not_to_be_checked()  # kept by the server

    await ada.page.goto(f"{base}/office")
    await expect(ada.page.locator("#connection")).to_have_text("online")
    meeting_b = rooms["Meeting room B"]
    await room(ada.page, meeting_b).click()
    await expect(room(ada.page, meeting_b)).to_have_class("room mine")
    await ada.hide()
    await write_to(bruno, "Ada Okafor", "Lunch?")
    # It reached her tab (an unread conversation) but neither notified nor counted ...
    tab = ada.page.get_by_role("tab", name="Bruno Lind")
    await expect(tab.locator(".badge")).to_have_text("1")
    assert await ada.notifications() == []
    assert await ada.page.title() == "Officehours"
    # ... while knocks, still on, do.
    await room(bruno, meeting_b).click()
    await expect(ada.page).to_have_title("(1) Officehours")
    assert [n["title"] for n in await ada.shown(1)] == ["Bruno Lind is knocking on Meeting room B"]


async def test_permission_is_asked_only_when_the_person_presses_the_button(
    chromium: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, _ = await seeded(settings)
    ada = await hideable(
        chromium, base, "ada@demo.officehours.example", office.password, permission=False
    )
    bruno = await signed_in(chromium, base, "bruno@demo.officehours.example", office.password)
    offer = ada.page.get_by_role("dialog", name="Something happened while this tab was")
    await expect(offer).to_have_count(0)

    await ada.hide()
    await write_to(bruno, "Ada Okafor", "Are you there?")
    await expect(ada.page).to_have_title("(1) Officehours")
    assert await ada.recorded("tones") == 2  # the sound needs no permission
    await ada.show()
    await expect(offer).to_be_visible()
    assert await ada.recorded("asked") == 0  # not on load, not on its own
    await offer.get_by_role("button", name="Turn on desktop notifications").click()
    await expect(offer).to_have_count(0)
    assert await ada.recorded("asked") == 1
