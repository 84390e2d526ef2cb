"""The engagement dashboard and "what admins can see about me" in real Chromium: people chat
with a unique marker, the analytics fold runs, the admin sees figures (small ones marked
hidden) and the marker appears nowhere; a member sees which figures count them and who looked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from rooms.layout import RoomKind
from server import demo
from server.analytics.metrics import Channel, Metric
from server.analytics.publish import publish_due
from server.analytics.record import Subject, record
from server.analytics.rollup import fold_pending
from server.db.engine import create_engine, session_factory
from server.db.models import Group, Membership, User
from server.infra.clock import FakeClock
from server.infra.settings import Settings
from server.people.identity import Role
from tests.e2e.accessibility import assert_accessible
from tests.e2e.conftest import artifact, serving
from tests.e2e.test_office_ui import room, seeded, signed_in

MIN_GROUP_SIZE = 3  # the demo's teams have four people; the floor is 3, never lower


@pytest.fixture
def clock() -> FakeClock:
    """The server's clock: now, until the test moves it past the end of the week (figures
    are published only for periods that have ended)."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def live_server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[str, Settings]]:
    """As in conftest, with a minimum group size the demo's four-person teams can reach."""
    env = {"OFFICEHOURS_ANALYTICS_MIN_GROUP_SIZE": str(MIN_GROUP_SIZE)}
    async with serving(tmp_path, env, clock) as served:
        yield served


async def past_weeks(settings: Settings, org_id: int) -> None:
    """Three earlier weeks of the demo office's engagement (everyone signs in, chats and
    spends time in team rooms), recorded as the services would, so the chart has a history.
    The current week holds only what the browsers do."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            people = (
                await session.execute(
                    select(User.analytics_id, Group.unit_id, Group.id)
                    .join(Membership, Membership.user_id == User.id)
                    .join(Group, Group.id == Membership.group_id)
                    .where(User.org_id == org_id, Membership.role == Role.MEMBER)
                    .order_by(User.id)
                )
            ).all()
            today = datetime.now(UTC).date()
            this_monday = today - timedelta(days=today.weekday())
            away = {1: {5}, 2: {2}, 3: set()}  # who was away which week (by position)
            for week in (1, 2, 3):
                monday = this_monday - timedelta(weeks=week)
                for i, (person, unit_id, group_id) in enumerate(people):
                    if i in away[week]:
                        continue
                    subject = Subject(org_id, unit_id, group_id, person)
                    at = datetime.combine(monday + timedelta(days=i % 5), time(10), tzinfo=UTC)
                    await record(session, Metric.SIGNED_IN, subject, at=at)
                    await record(
                        session,
                        Metric.MESSAGE_SENT,
                        subject,
                        at=at,
                        count=3 + (i * week) % 7,
                        channel=Channel.ROOM,
                    )
                    await record(
                        session,
                        Metric.ROOM_SECONDS,
                        subject,
                        at=at,
                        seconds=600.0 * (2 + (i + week) % 5),
                        room_kind=RoomKind.TEAM_ROOM,
                    )
            await session.commit()
    finally:
        await engine.dispose()


async def fold(settings: Settings, clock: FakeClock) -> None:
    """The analytics job once this week has ended: the server's clock moves on to next
    Monday, then the fold and the publication run on the live server's database (the job
    runs every 60 s and may have done some already: both are idempotent)."""
    today = clock.now().date()
    next_monday = today + timedelta(days=7 - today.weekday())
    clock.advance(
        (datetime.combine(next_monday, time(0, 10), tzinfo=UTC) - clock.now()).total_seconds()
    )
    engine = create_engine(settings)
    try:
        await fold_pending(session_factory(engine), secret=settings.secret_key)
        await publish_due(session_factory(engine), clock.now(), MIN_GROUP_SIZE)
    finally:
        await engine.dispose()


async def chat_in_room(pages: list[Page], room_id: int, marker: str) -> None:
    for page in pages:
        await room(page, room_id).click()
        await expect(page.locator("#chat-input")).to_be_enabled()
    for n, page in enumerate(pages):
        await page.locator("#chat-input").fill(f"{marker} number {n}")
        await page.keyboard.press("Enter")
    # Everyone has every message and none is still "sending…" (a tab shows its own message
    # before the server acknowledges it): all of them are committed, and so recorded.
    for page in pages:
        await expect(page.locator("#messages .body", has_text=marker)).to_have_count(len(pages))
        await expect(page.locator("#messages li.pending")).to_have_count(0)


async def test_the_admin_sees_figures_and_no_message_text(
    browser: Browser, live_server: tuple[str, Settings], clock: FakeClock
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    await past_weeks(settings, office.org_id)
    marker = f"canary-{uuid.uuid4().hex}"
    ada, bruno, chen = [
        await signed_in(browser, base, f"{name}@demo.officehours.example", office.password)
        for name in ("ada", "bruno", "chen")
    ]
    await chat_in_room([ada, bruno, chen], rooms["Meeting room A"], marker)
    await fold(settings, clock)

    # Admins get a Dashboard link in the office bar; members do not.
    await expect(chen.get_by_role("link", name="Dashboard")).to_be_hidden()
    await ada.get_by_role("link", name="Dashboard").click()
    await expect(ada).to_have_url(f"{base}/admin")
    table = ada.locator("#table")
    await expect(ada.locator("#result-title")).to_have_text("Active people · Demo Company")

    # This week: three of the Platform team's four were active, none of Design's. Both team
    # figures are hidden (Design covers nobody; Platform would then be the total minus it);
    # the total shows.
    this_week = table.locator("tbody tr").last
    cells = this_week.locator("td")
    await expect(cells).to_have_count(3)
    await expect(cells.nth(0)).to_have_attribute("title", "hidden: fewer than 3 people")
    await expect(cells.nth(0)).to_have_class("hidden-cell")
    await expect(cells.nth(1)).to_have_class("hidden-cell")
    await expect(cells.nth(2)).to_have_text("3")
    # Earlier weeks have figures per team, and the chart draws them.
    headers = table.locator("thead th")
    await expect(headers).to_have_text(["Week", "Platform team", "Design team", "Total"])
    last_week = table.locator("tbody tr").nth(-2).locator("td")
    await expect(last_week.nth(2)).not_to_have_class("hidden-cell")
    assert int(await last_week.nth(2).inner_text()) >= MIN_GROUP_SIZE
    await expect(ada.locator("#chart canvas")).to_have_count(1)
    await expect(ada.locator("#legend")).to_contain_text("hidden: fewer than 3 people")
    await ada.screenshot(path=artifact("dashboard.png"))
    await assert_accessible(ada, "the dashboard with figures and hidden cells")
    # It fits 1280x720 without sideways scrolling, and the controls come first from the keyboard.
    assert await ada.evaluate("document.documentElement.scrollWidth") <= 1280
    focused = []
    for _ in range(25):
        await ada.keyboard.press("Tab")
        focused.append(await ada.evaluate("document.activeElement.id"))
    assert focused.index("dashboard") < focused.index("scope") < focused.index("from")
    assert "csv" in focused

    # Keyboard: choose a dashboard, a scope and a period with labelled controls, then Enter.
    await ada.get_by_label("Dashboard", exact=True).select_option("messages")
    await ada.get_by_label("Whose figures").select_option(label="Group: Platform team")
    await ada.get_by_label("One line per").select_option("day")
    today = datetime.now(UTC).date()
    await ada.get_by_label("From").fill((today - timedelta(days=6)).isoformat())
    await ada.get_by_role("button", name="Show").focus()
    await ada.keyboard.press("Enter")
    await expect(ada.locator("#result-title")).to_have_text("Messages sent · Platform team")
    await expect(table.locator("tbody tr")).to_have_count(7)
    # Every day of it has ended by the server's clock: published, none pending; no line of
    # totals down the days (two periods could be subtracted).
    await expect(table.locator("td.pending-cell")).to_have_count(0)
    await expect(table.locator("tfoot")).to_have_count(0)
    csv_link = ada.get_by_role("link", name="Download CSV")
    href = await csv_link.get_attribute("href")
    assert href is not None and href.startswith("/api/admin/dashboards/messages/csv?")
    export = await ada.request.get(f"{base}{href}")
    assert export.ok and export.headers["content-type"].startswith("text/csv")
    exported = await export.text()
    assert exported.startswith("period,room,direct,group,pair,total\n")
    assert "suppressed" in exported

    # Where the organization's policy shows per-person activity, the page offers it too.
    assert "people" not in await ada.evaluate(
        "[...document.querySelectorAll('#dashboard option')].map((o) => o.value)"
    )
    status = await ada.evaluate(
        """async () => {
            const session = await (await fetch("/api/auth/session")).json();
            const answer = await fetch("/api/org/analytics-policy", {
                method: "PUT", body: JSON.stringify({per_person_activity: true}),
                headers: {"Content-Type": "application/json", "X-CSRF-Token": session.csrf_token},
            });
            return answer.status;
        }"""
    )
    assert status == 200
    await ada.reload()
    await ada.get_by_label("Dashboard", exact=True).select_option("people")
    await ada.get_by_role("button", name="Show").click()
    await expect(ada.locator("#result-title")).to_have_text("Per-person activity · Demo Company")
    await expect(table.locator("tbody th")).to_have_text([name for name, *_ in sorted(demo.NAMED)])
    await expect(ada.get_by_label("One line per")).to_be_disabled()
    chen_row = table.locator("tbody tr", has=ada.locator("th", has_text="Chen Wei"))
    await expect(chen_row.locator("td").nth(1)).not_to_have_text("0")
    await expect(ada.locator("#chart")).to_be_hidden()
    await assert_accessible(ada, "the per-person activity table")
    people_text = await ada.locator("body").inner_text()

    # The marker the three wrote is nowhere on the dashboard or in the export.
    for text in (await ada.content(), people_text, exported):
        assert marker not in text


async def test_a_member_sees_what_admins_can_see_about_them(
    browser: Browser, live_server: tuple[str, Settings], clock: FakeClock
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    await past_weeks(settings, office.org_id)
    marker = f"canary-{uuid.uuid4().hex}"
    chen = await signed_in(browser, base, "chen@demo.officehours.example", office.password)
    await chat_in_room([chen], rooms["Meeting room A"], marker)
    await fold(settings, clock)

    await chen.get_by_role("link", name="What admins see").click()
    await expect(chen).to_have_url(f"{base}/me")
    figures = chen.locator("#figures")
    await expect(figures.locator("tbody th")).to_contain_text(["Active people", "Messages sent"])
    messages = figures.locator("tbody tr", has_text="Messages sent")
    await expect(messages).to_contain_text("never what they said")
    await expect(messages).to_contain_text(
        "your team (group), your department (unit) and the whole organization"
    )
    await expect(chen.locator("#looks-summary")).to_have_text(
        "Nobody has looked at a figure that includes you"
        f" between {await date_text(chen, 365, clock.now().date())}"
        f" and {await date_text(chen, 0, clock.now().date())}."
    )

    # Ada opens the dashboard (its first table: active people, whole organization).
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    await ada.goto(f"{base}/admin")
    await expect(ada.locator("#table tbody tr")).not_to_have_count(0)

    await chen.reload()
    looks = chen.locator("#looks tbody tr")
    await expect(looks).to_have_count(1)
    await expect(looks.first.locator("th")).to_have_text("Ada Okafor")
    await expect(looks.first).to_contain_text("Viewed “Active people” for the whole organization")
    # The log the looks come from checks out, and its head is shown (and kept by the browser,
    # which has the server check it the next time).
    await expect(chen.locator("#audit-summary")).to_contain_text(
        "The audit log these looks come from checks out"
    )
    await chen.reload()
    await expect(chen.locator("#audit-summary")).to_contain_text("checks out")
    await chen.screenshot(path=artifact("about-me.png"))
    await assert_accessible(chen, "/me with figures and an admin's look")
    for text in (await chen.content(), await chen.locator("body").inner_text()):
        assert marker not in text

    # A member has no dashboard: the page says so rather than showing an empty table.
    await chen.goto(f"{base}/admin")
    await expect(chen.get_by_role("alert")).to_have_text(
        "The engagement dashboard is for organization admins, unit admins and group leads."
    )
    await expect(chen.locator("#controls")).to_be_hidden()
    await assert_accessible(chen, "the dashboard refused to a member")


async def date_text(page: Page, days_ago: int, today: date) -> str:
    """A date as the page writes it (the browser's locale), so the test does not assume one;
    ``today`` by the server's clock."""
    day = (today - timedelta(days=days_ago)).isoformat()
    text = await page.evaluate(
        """(iso) => new Intl.DateTimeFormat(undefined, {day: "numeric", month: "long",
            year: "numeric", timeZone: "UTC"}).format(new Date(iso + "T00:00:00Z"))""",
        day,
    )
    return str(text)
