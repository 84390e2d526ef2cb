"""The floor plan in real Chromium: kinds of room, "you are here", people's status in words,
and the active speaker of my room's meeting."""

from __future__ import annotations

import math
import re
import struct
import wave
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from server.infra.settings import Settings
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path
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

    # From the keyboard into an empty room: the room's button keeps the focus through the
    # redraw, and through the next one, when someone else moves.
    meeting_b = room(ada, rooms["Meeting room B"])
    await meeting_b.get_by_role("button").focus()
    await ada.keyboard.press("Enter")
    await expect(meeting_b).to_have_class("room mine")
    await expect(meeting_b.get_by_role("button")).to_be_focused()

    # Bruno is busy in Meeting room A: his status in words in the room's name, his colour mark.
    await bruno.get_by_label("Status", exact=True).select_option("busy")
    await room(bruno, rooms["Meeting room A"]).click()
    button = meeting_a.get_by_role("button")
    await expect(button).to_have_accessible_name(re.compile(r"Bruno Lind \(busy\)"))
    await expect(meeting_b.get_by_role("button")).to_be_focused()
    await expect(meeting_a.locator("g.avatar .mark")).to_have_class("mark s-busy")

    # I walk in: my room is marked, says so in its name, my avatar is ringed.
    await button.click()
    await expect(meeting_a).to_have_class("room mine")
    await expect(button).to_have_accessible_name(re.compile(r"^Meeting room A \(you are here\)"))
    # A meeting starts, its stage over the plan: the focus goes to the way back to the plan.
    await expect(ada.get_by_role("button", name="Show floor plan")).to_be_focused()
    await expect(ada.locator(".here-flag")).to_have_text("You are here")
    ringed = ada.locator("#floor g.avatar.me")
    await expect(ringed.locator("circle.you")).to_have_count(1)
    await expect(ringed.locator("title")).to_have_text(re.compile(r"^Ada Okafor \(you\)"))
    # People get their own colours.
    faces = meeting_a.locator("circle.face")
    await expect(faces).to_have_count(2)
    assert len({await face.get_attribute("fill") for face in await faces.all()}) == 2


def steady_tone(path: Path) -> Path:
    """Two seconds of 440 Hz at half scale (about -9 dBov), which Chromium loops as its fake
    microphone: a speaker who never pauses, unlike the fake device's short beeps."""
    rate = 48000
    samples = (int(16000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(2 * rate))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", v) for v in samples))
    return path


@pytest.mark.usefixtures("loopback_ice")
async def test_the_active_speaker_is_ringed_on_the_map(
    browser: Browser, live_server: tuple[str, Settings], tmp_path: Path
) -> None:
    """Ada talks without a pause (her Chromium's microphone plays a tone): the relay names her,
    and the map of the room's members rings her avatar and says "speaking"."""
    base, settings = live_server
    office, rooms = await seeded(settings)
    tone = steady_tone(tmp_path / "tone.wav")
    async with async_playwright() as playwright:
        talking = await playwright.chromium.launch(
            executable_path=chromium_path(),
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={tone}"],
        )
        try:
            ada = await signed_in(talking, base, "ada@demo.officehours.example", office.password)
            bruno = await signed_in(
                browser, base, "bruno@demo.officehours.example", office.password
            )
            for page in (ada, bruno):
                await room(page, rooms["Meeting room A"]).click()
                await expect(room(page, rooms["Meeting room A"])).to_have_class("room mine")
            for page in (ada, bruno):
                speaking = room(page, rooms["Meeting room A"]).locator("g.avatar.speaking")
                await expect(speaking).to_have_count(1, timeout=20000)
                await expect(speaking.locator("title")).to_have_text(re.compile(r"^Ada Okafor"))
            await expect(
                room(bruno, rooms["Meeting room A"]).get_by_role("button")
            ).to_have_accessible_name(re.compile(r"Ada Okafor \(available, speaking\)"))
        finally:
            await talking.close()
