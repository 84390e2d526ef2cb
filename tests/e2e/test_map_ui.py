"""The floor plan in real Chromium: kinds of room, "you are here", people's status in words,
and the active speaker of my room's meeting."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from server.infra.settings import Settings
from tests.e2e.test_office_ui import room, seeded, signed_in


async def test_the_map_says_what_each_room_is_where_i_am_and_how_people_are(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)

    # Each kind of room has its name on the map and in the legend.
    lobby, meeting_a = room(ada, rooms["Lobby"]), room(ada, rooms["Meeting room A"])
    await expect(lobby.locator("text.kind")).to_have_text("Lobby")
    await expect(meeting_a.locator("text.kind")).to_have_text("Meeting room")
    await expect(room(ada, rooms["Office 1"]).locator("text.kind")).to_have_text("Private office")
    legend = ada.get_by_role("list", name="Kinds of room").get_by_role("listitem")
    await expect(legend).to_have_text(
        ["Lobby", "Town hall", "Team room", "Meeting room", "Mentoring room", "Private office"]
    )
    # Each kind its own colour.
    fills = {
        name: await room(ada, rooms[name]).locator("rect").evaluate("r => getComputedStyle(r).fill")
        for name in ("Lobby", "Town hall", "Platform team", "Meeting room A", "Office 1")
    }
    assert len(set(fills.values())) == len(fills), fills

    # Bruno is busy in Meeting room A: his status in words in the room's name, his colour mark.
    await bruno.get_by_label("Status", exact=True).select_option("busy")
    await room(bruno, rooms["Meeting room A"]).click()
    button = meeting_a.get_by_role("button")
    await expect(button).to_have_accessible_name(re.compile(r"Bruno Lind \(busy\)"))
    await expect(meeting_a.locator("g.avatar .mark")).to_have_class("mark s-busy")

    # I walk in: my room is marked, says so in its name, my avatar is ringed.
    await button.click()
    await expect(meeting_a).to_have_class("room mine")
    await expect(button).to_have_accessible_name(re.compile(r"^Meeting room A \(you are here\)"))
    await expect(button).to_be_focused()  # the control I used keeps the focus after the redraw
    await expect(ada.locator(".here-flag")).to_have_text("You are here")
    ringed = ada.locator("#floor g.avatar.me")
    await expect(ringed.locator("circle.you")).to_have_count(1)
    await expect(ringed.locator("title")).to_have_text(re.compile(r"^Ada Okafor \(you\)"))
    # People get their own colours.
    faces = meeting_a.locator("circle.face")
    await expect(faces).to_have_count(2)
    assert len({await face.get_attribute("fill") for face in await faces.all()}) == 2


@pytest.mark.usefixtures("loopback_ice")
async def test_the_active_speaker_is_ringed_on_the_map(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    """Chromium's fake microphone beeps: the relay names whoever it hears, and the map of the
    room's members rings that person's avatar and says "speaking"."""
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)
    for page in (ada, bruno):
        await room(page, rooms["Meeting room A"]).click()
        await expect(room(page, rooms["Meeting room A"])).to_have_class("room mine")
    speaking = room(ada, rooms["Meeting room A"]).locator("g.avatar.speaking")
    await expect(speaking).to_have_count(1, timeout=20000)
    await expect(room(ada, rooms["Meeting room A"]).get_by_role("button")).to_have_accessible_name(
        re.compile(r"\(available, speaking\)")
    )
