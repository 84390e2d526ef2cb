"""The README's screenshots, taken from a served demo office in Chromium.

Run with ``make screenshots`` (it needs what the browser tests need). The full demo is seeded
(44 people, eight weeks of history), a dozen people are placed in rooms by Socket.IO clients,
and real pages are driven as people use them: the office, a meeting with a shared screen, a
guest let in from the Lobby, the dashboard, a mentoring pair, and the office at a phone's
width. Cameras and screens are Chromium's fakes. Writes docs/images/*.png.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import socketio
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect
from sqlalchemy import select

from server import demo
from server.db.engine import create_engine, session_factory
from server.db.models import Room
from server.infra.clock import SystemClock
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, serving
from tests.e2e.test_mentoring_ui import accept, invite, new_program
from tests.e2e.test_office_ui import LAPTOP, room, signed_in

OUT = Path(__file__).parent / "images"
PHONE: ViewportSize = {"width": 390, "height": 844}
MEDIA = 30000  # ms: fake cameras and ICE on a busy machine
# Who sits where when the pictures are taken, with which status and message.
PLACES = {
    "ines": ("Platform team", "available", ""),
    "jonas": ("Platform team", "busy", "reviewing the release"),
    "kavya": ("Platform team", "available", ""),
    "goran": ("Design team", "available", ""),
    "quinn": ("Design team", "away", "lunch"),
    "rosa": ("Design team", "available", ""),
    "victor": ("Data team", "do_not_disturb", "focus time"),
    "wanjiru": ("Data team", "available", ""),
    "farah": ("Support team", "available", ""),
    "helena": ("Support team", "busy", "on a call"),
    "isaac": ("Support team", "available", ""),
    "priya": ("Office 1", "available", ""),
    "hana": ("Lobby", "available", ""),
}


def email(local: str) -> str:
    return f"{local}@demo.officehours.example"


@asynccontextmanager
async def placed(
    base: str, local: str, password: str, room_id: int | None, status: str, text: str
) -> AsyncIterator[None]:
    """Someone signed in over Socket.IO only, sitting in a room with a status."""
    async with aiohttp.ClientSession(
        headers={"Origin": base}, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        answer = await http.post(
            f"{base}/api/auth/sign-in", json={"email": email(local), "password": password}
        )
        answer.raise_for_status()
        cookie = "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(
            base, headers={"Cookie": cookie, "Origin": base}, transports=["websocket"]
        )
        try:
            if room_id is not None:
                await sio.call("room:enter", {"room_id": room_id}, timeout=10)
            await sio.call("presence:set", {"status": status, "text": text}, timeout=10)
            yield
        finally:
            await sio.disconnect()


async def shoot(page: Page, name: str, full_page: bool = False) -> None:
    await expect(page.locator("#toast")).to_be_hidden(timeout=15000)  # "Saved" and the like
    await page.screenshot(path=OUT / name, full_page=full_page)
    print("wrote", OUT / name)


async def office(browser: Browser, base: str, password: str, rooms: dict[str, int]) -> Page:
    ada = await signed_in(browser, base, email("ada"), password)
    await room(ada, rooms["Town hall"]).click()
    await expect(ada.locator("#chat-input")).to_be_enabled()
    await ada.locator("#chat-input").fill("Morning all! Stand-up at 10 in Meeting room A.")
    await ada.keyboard.press("Enter")
    await expect(ada.locator("#messages .body").last).to_contain_text("Stand-up at 10")
    await shoot(ada, "office.png")
    return ada


async def phone(browser: Browser, base: str, password: str) -> None:
    chen = await signed_in(browser, base, email("chen"), password, PHONE)
    await expect(chen.locator("#room-list > li").first).to_be_visible()
    await shoot(chen, "phone.png")
    await chen.context.close()


async def meeting(
    browser: Browser, base: str, password: str, rooms: dict[str, int], ada: Page
) -> None:
    """Ada, Bruno and Dana meet in Meeting room A; Bruno shares his screen."""
    bruno = await signed_in(browser, base, email("bruno"), password)
    dana = await signed_in(browser, base, email("dana"), password)
    for page in (ada, bruno, dana):
        await room(page, rooms["Meeting room A"]).click()
    tiles = ada.locator(".meeting figure[data-video='on']")
    await expect(tiles).to_have_count(3, timeout=MEDIA)
    await bruno.get_by_role("button", name="Share screen").click()
    screen = ada.locator(".meeting .main figure[data-source='screen']")
    await expect(screen).to_have_attribute("data-video", "on", timeout=MEDIA)
    await shoot(ada, "meeting.png")
    for page in (bruno, dana):
        await page.context.close()


async def guest(browser: Browser, base: str, token: str, rooms: dict[str, int], ada: Page) -> None:
    """A guest knocks at the Lobby; Ada, inside, lets them in and says hello."""
    await ada.get_by_role("button", name="Show floor plan").click()
    await room(ada, rooms["Lobby"]).click()
    await expect(room(ada, rooms["Lobby"])).to_have_class("room mine")
    page = await (await browser.new_context(viewport=LAPTOP)).new_page()
    await page.goto(f"{base}/join/{token}")
    await page.get_by_label("Your name").fill("Grace Hopper")
    await page.get_by_role("button", name="Join").click()
    await ada.get_by_role("alertdialog").get_by_role("button", name="Let in").click()
    await expect(page.locator("#room")).to_be_visible()
    await ada.locator("#chat-input").fill("Welcome, Grace! Hana will show you round.")
    await ada.keyboard.press("Enter")
    await expect(page.locator("#messages .body").last).to_contain_text("Welcome, Grace")
    await expect(page.locator(".meeting figure[data-video='on']").first).to_be_visible(
        timeout=MEDIA
    )
    await shoot(page, "guest.png", full_page=True)
    await page.context.close()


async def dashboard(ada: Page, base: str) -> None:
    await ada.goto(f"{base}/admin")
    await expect(ada.locator("#result-title")).to_contain_text("Active people")
    # The eight weeks of the demo's history, not the default four.
    await ada.get_by_label("From").fill((date.today() - timedelta(weeks=8)).isoformat())
    await ada.get_by_role("button", name="Show").click()
    await expect(ada.locator("#table tbody tr").nth(7)).to_be_visible()
    await expect(ada.locator("#table td").first).to_be_visible()
    await shoot(ada, "dashboard.png")


async def mentoring(browser: Browser, base: str, password: str) -> None:
    """Dana runs a program; Fatima mentors Chen, who adds a goal; Chen's page is shot."""
    pages = {}
    for local in ("dana", "fatima", "chen"):
        page = await signed_in(browser, base, email(local), password)
        await page.goto(f"{base}/mentoring")
        await expect(page.locator("#connection")).to_have_text("online", timeout=15000)
        pages[local] = page
    dana, fatima, chen = pages["dana"], pages["fatima"], pages["chen"]
    await new_program(dana, "Spring mentoring")
    await invite(dana, "Fatima Haddad", "mentor")
    await invite(dana, "Chen Wei", "mentee")
    await accept(fatima, "Spring mentoring", "Python, public speaking, SQL")
    await accept(chen, "Spring mentoring", "python, sql")
    await dana.get_by_role("button", name="Refresh").click()
    await dana.get_by_role("button", name="Suggestions for Chen Wei").click()
    await dana.get_by_role("button", name="Match Fatima Haddad with Chen Wei").click()
    pair = fatima.locator("article.pair")
    await expect(pair).to_contain_text("Chen Wei — you are the mentor")
    await pair.get_by_label("Length").select_option("45")
    await pair.get_by_role("button", name="Schedule session").click()
    mine = chen.locator("article.pair")
    await expect(mine.locator("li.session")).to_have_count(1)
    await mine.get_by_label("New goal").fill("Give a talk at the meetup")
    await chen.keyboard.press("Enter")
    await expect(mine.locator("li.goal")).to_have_count(1)
    await mine.get_by_label("New milestone").fill("Outline the slides")
    await mine.get_by_role("button", name="Add milestone").click()
    await expect(mine.locator(".milestones")).to_contain_text("Outline the slides")
    await shoot(chen, "mentoring.png")
    for page in pages.values():
        await page.context.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with serving(Path(tmp)) as (base, settings):
            engine = create_engine(settings)
            the_demo = await demo.seed(session_factory(engine), settings, SystemClock())
            async with session_factory(engine)() as session:
                rooms = dict(
                    (await session.execute(
                        select(Room.name, Room.id).where(Room.org_id == the_demo.org_id)
                    )).all()
                )  # fmt: skip
            await engine.dispose()
            async with AsyncExitStack() as people, async_playwright() as playwright:
                for local, (where, status, text) in PLACES.items():
                    await people.enter_async_context(
                        placed(base, local, the_demo.password, rooms.get(where), status, text)
                    )
                browser = await playwright.chromium.launch(
                    executable_path=chromium_path(), args=CHROMIUM_ARGS
                )
                ada = await office(browser, base, the_demo.password, rooms)
                await phone(browser, base, the_demo.password)
                await meeting(browser, base, the_demo.password, rooms, ada)
                await guest(browser, base, the_demo.guest_token, rooms, ada)
                await dashboard(ada, base)
                await mentoring(browser, base, the_demo.password)
                await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
