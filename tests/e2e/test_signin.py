"""Signing in and out of the demo office in real Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from server import demo
from server.clock import SystemClock
from server.db.engine import create_engine, session_factory
from server.settings import Settings


async def test_demo_person_signs_in_and_out(
    browser: Browser, live_server: tuple[str, Settings], tmp_path: Path
) -> None:
    base, settings = live_server
    engine = create_engine(settings)
    office = await demo.seed(session_factory(engine), settings, SystemClock())
    await engine.dispose()
    email = office.logins[0][0]

    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(f"{base}/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("wrong email or password")

    await page.get_by_label("Password").fill(office.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base}/office")
    await expect(page.locator("#me")).to_have_text("Ada Okafor")

    await page.goto(f"{base}/")  # the session cookie keeps them signed in
    await expect(page).to_have_url(f"{base}/office")
    await expect(page.locator("#me")).to_have_text("Ada Okafor")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Email")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("Email")).to_be_visible()

    guest = await browser.new_page()
    await guest.goto(f"{base}/join/{office.guest_token}")
    await expect(guest.locator("#invite")).to_contain_text("invited to Lobby at Demo Company")
    await guest.goto(f"{base}/join/not-a-real-token")
    await expect(guest.locator("#invite")).to_have_text("this guest link is not valid")
