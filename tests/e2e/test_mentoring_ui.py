"""Mentoring in real Chromium: a manager runs a program, a mentor and a mentee work in it."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, Page, expect

from server.infra.settings import Settings
from tests.e2e.accessibility import assert_accessible
from tests.e2e.conftest import artifact
from tests.e2e.test_office_ui import seeded, signed_in


def email(name: str) -> str:
    return f"{name}@demo.officehours.example"


async def mentoring(browser: Browser, base: str, name: str, password: str) -> Page:
    """Signed in, then to the mentoring page by the office header's link."""
    page = await signed_in(browser, base, email(name), password)
    await page.get_by_role("link", name="Mentoring").click()
    await expect(page).to_have_url(f"{base}/mentoring")
    await expect(page.locator("#connection")).to_have_text("online", timeout=15000)
    return page


async def new_program(manager: Page, name: str) -> None:
    await manager.get_by_label("New program").fill(name)
    await manager.get_by_role("button", name="Create program").click()
    chosen = manager.get_by_label("Program", exact=True).locator("option:checked")
    await expect(chosen).to_have_text(name)


async def invite(manager: Page, person: str, role: str) -> None:
    await manager.get_by_label("Person", exact=True).select_option(label=person)
    await manager.get_by_label("as", exact=True).select_option(role)
    await manager.get_by_role("button", name="Invite").click()
    row = manager.locator("#enrolments tr", has_text=person)
    await expect(row.locator("td").nth(1)).to_have_text(role)
    await expect(row.locator("td").nth(2)).to_have_text("invited")


async def accept(page: Page, program: str, skills: str) -> None:
    """The invited person sees what accepting shares, fills in a profile and accepts."""
    card = page.locator(".invitation", has_text=program)
    await expect(card).to_contain_text("If you accept, the program's managers see")
    await card.get_by_label("Skills (comma-separated)").fill(skills)
    await card.get_by_label("Languages", exact=True).fill("English")
    await card.get_by_role("button", name="Save my profile").click()
    await card.get_by_role("button", name="Accept").click()
    await expect(card).to_contain_text("You take part as")
    await expect(card.get_by_role("button", name="Accept")).to_be_hidden()


async def test_a_program_from_invitations_to_shared_and_private_notes(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, _ = await seeded(settings)
    dana = await mentoring(browser, base, "dana", office.password)  # program manager
    fatima = await mentoring(browser, base, "fatima", office.password)
    chen = await mentoring(browser, base, "chen", office.password)
    # Members see no program administration.
    await expect(chen.locator("#manage")).to_be_hidden()
    await expect(chen.locator("#no-invitations")).to_be_visible()
    await assert_accessible(chen, "the mentoring page of a member without invitations")

    # The manager creates a program and invites a mentor and a mentee.
    await new_program(dana, "Autumn mentoring")
    await invite(dana, "Fatima Haddad", "mentor")
    await invite(dana, "Chen Wei", "mentee")
    await expect(dana.locator("#enrolments")).to_contain_text("shared once they accept")

    # Both see their invitation arrive, with what accepting will share, fill in and accept.
    await accept(fatima, "Autumn mentoring", "Python, public speaking, SQL")
    await accept(chen, "Autumn mentoring", "python, sql")

    # The manager sees the profiles now, asks for suggestions (with reasons) and matches.
    await dana.get_by_role("button", name="Refresh").click()
    await expect(dana.locator("#enrolments")).to_contain_text("skills: python, public speaking")
    await dana.get_by_role("button", name="Suggestions for Chen Wei").click()
    suggestion = dana.locator("ol.suggestions > li", has_text="Fatima Haddad")
    await expect(suggestion).to_contain_text("shares 2 skills: python, sql")
    await expect(suggestion).to_contain_text("score")
    await assert_accessible(dana, "the mentoring page of a program manager, with suggestions")
    await suggestion.get_by_role("button", name="Match Fatima Haddad with Chen Wei").click()
    await expect(dana.locator("#program-pairs")).to_contain_text("Fatima Haddad mentors Chen Wei")

    # Both see the pairing at once; the mentor schedules a session and both see it.
    fatima_pair = fatima.locator("article.pair")
    chen_pair = chen.locator("article.pair")
    await expect(fatima_pair).to_contain_text("Chen Wei — you are the mentor")
    await expect(chen_pair).to_contain_text("Fatima Haddad — your mentor")
    await fatima_pair.get_by_label("Length").select_option("45")
    await fatima_pair.get_by_role("button", name="Schedule session").click()
    for pair in (fatima_pair, chen_pair):
        await expect(pair.locator("li.session")).to_have_count(1)
        await expect(pair.locator("li.session")).to_contain_text("45 minutes")
    link = chen_pair.get_by_role("link", name="Add to calendar: the session of")
    ics = await chen.request.get(f"{base}{await link.get_attribute('href')}")
    assert ics.ok and "BEGIN:VCALENDAR" in await ics.text()
    assert "Mentoring with Fatima Haddad" in await ics.text()

    # The mentee adds a goal (markup stays text) and a milestone; the mentor sees both.
    new_goal = chen_pair.get_by_label("New goal")
    await new_goal.focus()
    await chen.keyboard.type("Give a <b>talk</b> at the meetup")
    await chen.keyboard.press("Enter")  # keyboard only
    await expect(new_goal).to_have_value("")
    goal = fatima_pair.locator("li.goal")
    await expect(goal.locator(".title").first).to_have_text("Give a <b>talk</b> at the meetup")
    assert await fatima_pair.locator("li.goal b").count() == 0
    await chen_pair.get_by_label("New milestone").fill("Outline the slides")
    await chen_pair.get_by_role("button", name="Add milestone").click()
    await expect(goal.locator(".milestones")).to_contain_text("Outline the slides")
    await fatima_pair.get_by_role("button", name="Mark done: milestone Outline the slides").click()
    await expect(chen_pair.locator(".milestones .badge-status")).to_have_text("done")

    # The agreement, written by the mentor, reaches the mentee.
    await fatima_pair.get_by_label("What we agreed to work on").fill("One talk by spring")
    await fatima_pair.get_by_label("How often we meet").select_option("fortnightly")
    await fatima_pair.get_by_role("button", name="Save agreement").click()
    await expect(chen_pair.get_by_label("What we agreed to work on")).to_have_value(
        "One talk by spring"
    )
    await expect(chen_pair.get_by_label("How often we meet")).to_have_value("fortnightly")

    # Notes: the mentor has the session's notes open; the mentee writes a shared and a
    # private note. The mentor sees the shared one arrive, never the private one.
    await fatima_pair.get_by_text("Notes and feedback").click()
    await chen_pair.get_by_text("Notes and feedback").click()
    shared = "Practise the opening on Friday <i>twice</i>"
    private = "I am nervous about questions"
    await chen_pair.get_by_label("Shared notes — both of you see these").fill(shared)
    await chen_pair.get_by_role("button", name="Save shared notes").click()
    await chen_pair.get_by_label("My private notes — only you see these").fill(private)
    await chen_pair.get_by_role("button", name="Save private notes").click()
    await expect(chen.locator("#toast")).to_have_text("Private notes saved")  # before the reload
    fatima_shared = fatima_pair.get_by_label("Shared notes — both of you see these")
    await expect(fatima_shared).to_have_value(shared)
    await expect(fatima_pair.get_by_label("My private notes — only you see these")).to_have_value(
        ""
    )
    # Also after a reload: the mentee keeps both, the mentor has only the shared note.
    await chen.reload()
    await chen.locator("article.pair").get_by_text("Notes and feedback").click()
    chen_pair = chen.locator("article.pair")
    await expect(chen_pair.get_by_label("My private notes — only you see these")).to_have_value(
        private
    )
    await expect(chen_pair.get_by_label("Shared notes — both of you see these")).to_have_value(
        shared
    )
    assert private not in await fatima.content()
    await expect(fatima.locator("#toast")).to_be_hidden()
    await fatima.evaluate("window.scrollTo(0, 0)")
    await fatima.screenshot(path=artifact("mentoring.png"))
    await assert_accessible(fatima, "a mentor's pair, its goals and notes open")

    # Feedback once a session has begun: one starts in a few seconds (scheduled over the API,
    # as the form schedules by the minute); the mentee rates it, the mentor reads it.
    me = await (await chen.request.get(f"{base}/api/auth/session")).json()
    pair_id = await chen_pair.get_attribute("data-pair")
    starts = datetime.now(UTC) + timedelta(seconds=3)
    made = await chen.request.post(
        f"{base}/api/mentoring/pairs/{pair_id}/sessions",
        data={"starts_at": starts.isoformat(), "minutes": 15},
        headers={"X-CSRF-Token": me["csrf_token"], "Origin": base},
    )
    assert made.status == 201, await made.text()
    await expect(fatima_pair.locator("li.session")).to_have_count(2)
    await asyncio.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.5)
    for page in (chen, fatima):
        await page.reload()
        await (
            page.locator("article.pair li.session").first.get_by_text("Notes and feedback").click()
        )
    begun = chen_pair.locator("li.session").first
    await begun.get_by_label("How was this session? Rating").select_option("4")
    await begun.get_by_label("Anything to add (optional)").fill("<script>x()</script> helpful")
    await begun.get_by_role("button", name="Send feedback").click()
    await expect(begun.locator(".feedback")).to_contain_text("You: 4 of 5")
    await expect(begun.get_by_role("button", name="Send feedback")).to_be_hidden()
    received = fatima_pair.locator("li.session").first.locator(".feedback")
    await expect(received).to_have_text("Your mentee: 4 of 5 — <script>x()</script> helpful")
    await assert_accessible(chen, "a mentee's pair after sending feedback")

    # The personal calendar feed: a secret address that lists the pair's sessions.
    await chen.get_by_role("button", name="Make my calendar feed address").click()
    feed_url = chen.get_by_label("Calendar feed address")
    await expect(feed_url).to_have_value(re.compile(f"^{re.escape(base)}/api/mentoring/calendar/"))
    feed = await fatima.request.get(await feed_url.input_value())  # the address alone
    assert feed.ok and (await feed.text()).count("BEGIN:VEVENT") == 2

    # "Go to our room": the office opens and the mentee walks into the pair's room.
    await chen_pair.get_by_role("button", name="Go to our room").click()
    await expect(chen).to_have_url(f"{base}/office")
    await expect(chen.locator("#where")).to_have_text("You are in Mentoring pair 1")
    # The office shows the floor of the pair's room, with the way back to the others.
    await expect(chen.locator("#floor-name")).to_have_text("Mentoring")
    await expect(chen.locator("g.room.mine")).to_contain_text("Mentoring pair 1")
    await expect(chen.locator("g.room")).to_have_count(1)  # only the pair rooms are up here
    await chen.get_by_role("button", name="Ground floor").click()
    await expect(chen.locator("g.room", has_text="Lobby")).to_have_count(1)
    await expect(chen.locator("g.room", has_text="Mentoring pair")).to_have_count(0)
    await chen.screenshot(path=artifact("mentoring-room.png"))
    await assert_accessible(chen, "the office, on the Mentoring floor")

    # The whole-program assignment: two more people accept; the manager previews, then applies.
    await invite(dana, "Goran Petrov", "mentor")
    await invite(dana, "Hana Sato", "mentee")
    for name in ("goran", "hana"):
        page = await mentoring(browser, base, name, office.password)
        await page.locator(".invitation").get_by_role("button", name="Accept").click()
        await expect(page.locator(".invitation")).to_contain_text("You take part as")
    await dana.get_by_role("button", name="Refresh").click()
    await dana.get_by_role("button", name="Preview assignment").click()
    assignment = dana.locator("#assignment")
    await expect(assignment).to_contain_text("Proposed 1 pair:")
    await expect(assignment).to_contain_text("Goran Petrov → Hana Sato")
    await expect(dana.locator("#program-pairs li")).to_have_count(1)  # nothing made yet
    await dana.get_by_role("button", name="Apply these pairs").click()
    await expect(assignment).to_contain_text("Made 1 pair ")
    await expect(dana.locator("#program-pairs")).to_contain_text("Goran Petrov mentors Hana Sato")
    await dana.screenshot(path=artifact("mentoring-manager.png"))
    await assert_accessible(dana, "the mentoring page after applying an assignment")


async def test_a_mentee_without_a_mentor_chooses_one_of_their_suggestions(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, _ = await seeded(settings)
    dana = await mentoring(browser, base, "dana", office.password)
    fatima = await mentoring(browser, base, "fatima", office.password)
    chen = await mentoring(browser, base, "chen", office.password)
    await new_program(dana, "Peer mentoring")
    await invite(dana, "Fatima Haddad", "mentor")
    await invite(dana, "Chen Wei", "mentee")
    card = chen.locator(".invitation", has_text="Peer mentoring")
    choose = card.get_by_role("button", name="Choose my mentor")
    await expect(choose).to_be_hidden()  # not before accepting
    await accept(fatima, "Peer mentoring", "Python, public speaking, SQL")
    await accept(chen, "Peer mentoring", "python, sql")
    await expect(
        fatima.locator(".invitation").get_by_role("button", name="Choose my mentor")
    ).to_be_hidden()

    # The mentee sees their suggested mentors with the reasons, and chooses.
    await choose.click()
    suggestion = card.locator("ol.suggestions > li", has_text="Fatima Haddad")
    await expect(suggestion).to_contain_text("shares 2 skills: python, sql")
    await suggestion.get_by_role("button", name="Choose Fatima Haddad as my mentor").click()
    await expect(chen.locator("article.pair")).to_contain_text("Fatima Haddad — your mentor")
    await expect(fatima.locator("article.pair")).to_contain_text("Chen Wei — you are the mentor")
    await expect(choose).to_be_hidden()  # one mentor per program
    await dana.get_by_role("button", name="Refresh").click()
    await expect(dana.locator("#program-pairs")).to_contain_text("Fatima Haddad mentors Chen Wei")
    # Program health for the manager: counts only.
    health = dana.locator("#health")
    for name, value in (("Mentors", "1"), ("Mentees", "1"), ("Pairs matched", "1")):
        await expect(health.locator("tr", has_text=name).first.locator("td")).to_have_text(value)
    await expect(health.locator("tr", has_text="Rating")).to_contain_text("hidden until")
