"""Doors on the map and floors drawn at a usable size, in real Chromium."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from server.infra.settings import Settings
from tests.e2e.accessibility import assert_accessible
from tests.e2e.test_office_ui import room, seeded, signed_in


async def test_an_admin_locks_and_opens_a_door_from_the_map(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    chen = await signed_in(browser, base, "chen@demo.officehours.example", office.password)
    meeting_a = rooms["Meeting room A"]

    # Only those allowed see a door control: Ada runs the organization, Chen owns no room.
    door = ada.get_by_label("Door of Meeting room A")
    await expect(door).to_have_value("open")
    await expect(chen.get_by_label("Door of Meeting room A")).to_have_count(0)

    await door.focus()
    await door.select_option("locked")
    await expect(room(chen, meeting_a).locator("text.door")).to_contain_text("locked")
    # The map was drawn again for the change; the control Ada used keeps the focus.
    await expect(room(ada, meeting_a).locator("text.door")).to_contain_text("locked")
    await expect(door).to_be_focused()
    await expect(door).to_have_value("locked")
    await assert_accessible(ada, "the office of an admin, with door controls on the map")

    await room(chen, meeting_a).click()
    await expect(chen.locator("#toast")).to_contain_text("Meeting room A is locked")
    await expect(room(chen, meeting_a)).to_have_class("room")

    await door.select_option("open")
    await expect(room(chen, meeting_a).locator("text.door")).to_contain_text("open")
    await room(chen, meeting_a).click()
    await expect(room(chen, meeting_a)).to_have_class("room mine")


async def test_a_small_room_on_a_large_floor_is_drawn_large_enough_to_use(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    """A 10 x 8 room on a 1000 x 1000 floor (the shape of the mentoring floor) was 7 px wide."""
    base, settings = live_server
    office, _ = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    status = await ada.evaluate(
        """async () => {
          const session = await (await fetch("/api/auth/session")).json();
          const headers = {"Content-Type": "application/json", "X-CSRF-Token": session.csrf_token};
          const post = (path, body) =>
            fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
          const floor = await (await post("/api/office/floors",
            {name: "Annex", width: 1000, height: 1000})).json();
          const made = await post(`/api/office/floors/${floor.id}/rooms`,
            {name: "Nook", kind: "meeting_room", x: 500, y: 500, w: 10, h: 8, capacity: 4});
          return made.status;
        }"""
    )
    assert status == 201
    await ada.locator("#floor-tabs").get_by_role("button", name="Annex").click()
    nook = ada.locator("g.room", has_text="Nook")
    await expect(nook).to_have_count(1)
    box = await nook.locator("rect").bounding_box()
    assert box is not None and box["width"] >= 200, box
