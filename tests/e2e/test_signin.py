"""Signing in and out of the demo office in real Chromium."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from playwright.async_api import Browser, expect
from sqlalchemy import select

from server import demo
from server.db.engine import create_engine, session_factory
from server.db.models import User
from server.infra.clock import SystemClock
from server.infra.settings import Settings
from tests.e2e.accessibility import assert_accessible


async def test_demo_person_signs_in_and_out(
    browser: Browser, live_server: tuple[str, Settings], tmp_path: Path
) -> None:
    base, settings = live_server
    engine = create_engine(settings)
    office = await demo.seed(session_factory(engine), settings, SystemClock(), small=True)
    await engine.dispose()
    email = office.logins[0][0]

    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(f"{base}/")
    await expect(page.get_by_label("Email")).to_be_focused()
    await assert_accessible(page, "the sign-in page")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong email or password")
    await assert_accessible(page, "the sign-in page with its error")

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
    await assert_accessible(guest, "the guest page of a link that is not valid")


async def test_after_an_admin_reset_the_person_sets_a_new_password_and_sees_who_reset_it(
    browser: Browser, live_server: tuple[str, Settings], tmp_path: Path
) -> None:
    base, settings = live_server
    engine = create_engine(settings)
    office = await demo.seed(session_factory(engine), settings, SystemClock(), small=True)
    async with session_factory(engine)() as session:
        chen = await session.scalar(
            select(User.id).where(User.email == "chen@demo.officehours.example")
        )
    await engine.dispose()
    jar = aiohttp.CookieJar(unsafe=True)  # the server is an IP address
    async with aiohttp.ClientSession(headers={"Origin": base}, cookie_jar=jar) as admin:
        signed_in = await admin.post(
            f"{base}/api/auth/sign-in",
            json={"email": "ada@demo.officehours.example", "password": office.password},
        )
        csrf = (await signed_in.json())["csrf_token"]
        reset = await admin.post(
            f"{base}/api/org/people/{chen}/reset-password", headers={"X-CSRF-Token": csrf}
        )
        credential = (await reset.json())["temporary_password"]

    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(f"{base}/")
    await page.get_by_label("Email").fill("chen@demo.officehours.example")
    await page.get_by_label("Password").fill(credential)
    await page.get_by_role("button", name="Sign in").click()
    notice = page.locator("#reset-notice")
    await expect(notice).to_contain_text("reset by an admin: Ada Okafor (org admin)")
    await expect(notice).to_contain_text("with a reset credential")
    await assert_accessible(page, "the new-password step after a reset")
    await page.goto(f"{base}/office")  # anything else sends them back to the new-password step
    await expect(page).to_have_url(f"{base}/")
    await page.get_by_label("New password").fill("short")
    await page.get_by_role("button", name="Set password and continue").click()
    await expect(page.locator("#new-password-error")).to_contain_text("at least 10 characters")
    await page.get_by_label("New password").fill("a-passphrase-of-my-own")
    await page.get_by_role("button", name="Set password and continue").click()
    await expect(page).to_have_url(f"{base}/office")
    await expect(page.locator("#me")).to_have_text("Chen Wei")

    await page.goto(f"{base}/me")
    await expect(page.locator("#reset-notice")).to_contain_text("Ada Okafor")
    await expect(page.locator("#sign-ins tbody tr")).to_have_count(1)
    await assert_accessible(page, "/me with the reset notice and the sign-ins")
    await page.get_by_role("button", name="Sign out everywhere").click()
    await expect(page.get_by_label("Email")).to_be_visible()
