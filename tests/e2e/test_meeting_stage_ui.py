"""The meeting's stage in real Chromium with fake cameras and microphones: the floor plan stays
where it is when a meeting starts and ends, a shared screen becomes the main view with the cameras
beside it, a camera that is off shows the person's avatar, and a muted person's tile says so."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, FloatRect, Locator, Page, expect

from server.infra.settings import Settings
from tests.e2e.conftest import artifact
from tests.e2e.test_office_ui import room, seeded, signed_in
from tests.e2e.test_screen_sizes_ui import PHONE, scroll_width

pytestmark = pytest.mark.usefixtures("loopback_ice")

MEDIA = 20000  # ms: media needs ICE, DTLS and a keyframe, on two busy cores

FLOOR_BOX = """() => {
  const r = document.getElementById("floor").getBoundingClientRect();
  return [r.left, r.top, r.width, r.height];
}"""

# The same for the list of rooms that stands for the plan at a phone's width.
ROOM_LIST_BOX = FLOOR_BOX.replace('"floor"', '"room-list"')

# What is drawn at the middle of a tile: the avatar (over the video), or the video itself.
ON_TOP = """(tile) => {
  const r = tile.getBoundingClientRect();
  const found = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return found.closest(".avatar") ? "avatar" : found.tagName.toLowerCase();
}"""

# What the relay sends when it hears a tile's person loudest (or nobody above the threshold).
# Which publisher that is comes from their audio levels (tests/test_media_speaker_jitter.py);
# Chromium's fake microphone is too faint and irregular after its noise suppression for the
# relay to pick one within a test's time, so the page is handed the event itself.
SPEAKS = """(tile, [room, speaks]) => {
  const event = speaks
    ? { room_id: room, connection: tile.dataset.connection, user_id: Number(tile.dataset.user) }
    : { room_id: room, connection: null, user_id: null };
  for (const handler of window.officehoursMeeting.socket.listeners("media:speaker")) handler(event);
}"""

# The avatar's colour, and the one avatar.js gives this person (as computed colours).
COLOURS = """async (tile, id) => {
  const { avatarColour } = await import("/static/avatar.js");
  const probe = document.createElement("i");
  probe.style.color = avatarColour(id);
  document.body.append(probe);
  const wanted = getComputedStyle(probe).color;
  probe.remove();
  return [getComputedStyle(tile.querySelector(".avatar .face")).backgroundColor, wanted];
}"""


async def user_id(page: Page) -> int:
    return int(
        await page.evaluate(
            "fetch('/api/auth/session').then((r) => r.json()).then((s) => s.user.id)"
        )
    )


def tile(page: Page, user: int | str, source: str = "camera") -> Locator:
    """A person's tile (``"me"``: the page's own)."""
    return page.locator(f'.meeting figure[data-user="{user}"][data-source="{source}"]')


async def box(locator: Locator) -> FloatRect:
    found = await locator.bounding_box()
    assert found is not None
    return found


def area(b: FloatRect) -> float:
    return b["width"] * b["height"]


async def test_the_stage_keeps_the_floor_still_shows_a_shared_screen_avatars_and_muted(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)
    ada_id, bruno_id = await user_id(ada), await user_id(bruno)
    meeting_room = rooms["Meeting room A"]

    # Ada alone in the room: no meeting yet. Where the floor plan and her room are drawn:
    await room(ada, meeting_room).click()
    await expect(room(ada, meeting_room)).to_have_class(re.compile(r"\bmine\b"))
    floor_before = await ada.evaluate(FLOOR_BOX)
    room_before = await box(room(ada, meeting_room).locator("rect").first)

    # Bruno walks in: the meeting starts over the plan, which has not moved by a pixel.
    await room(bruno, meeting_room).click()
    await expect(ada.get_by_role("region", name="Meeting")).to_be_visible()
    bruno_at_ada = tile(ada, bruno_id)
    await expect(bruno_at_ada).to_have_attribute("data-video", "on", timeout=MEDIA)
    assert await ada.evaluate(FLOOR_BOX) == floor_before
    assert await box(room(ada, meeting_room).locator("rect").first) == room_before
    # The covered plan is out of reach (no click or Tab lands on a hidden room); the focus Ada
    # had on her room moved to the way back to the plan, not to the page.
    assert await ada.locator("#floor").evaluate("(plan) => plan.inert")
    await expect(ada.get_by_role("button", name="Show floor plan")).to_be_focused()
    # The picture is shown, not the avatar; the grid uses the stage (not 190 px tiles).
    assert await bruno_at_ada.evaluate(ON_TOP) == "video"
    assert (await box(bruno_at_ada))["width"] >= 300
    # The relay names the active speaker (media:speaker): their tile says so and is the larger.
    await bruno_at_ada.evaluate(SPEAKS, [meeting_room, True])
    await expect(ada.get_by_role("figure", name=re.compile(r"speaking"))).to_have_count(1)
    await expect(bruno_at_ada).to_contain_text("speaking")
    await expect(bruno_at_ada.locator(".indicator.speaking")).to_be_visible()
    await expect(bruno_at_ada).to_have_class(re.compile(r"\bfeatured\b"))
    assert area(await box(bruno_at_ada)) > 3 * area(await box(tile(ada, "me")))
    # Silence: nobody is speaking, and the layout stays as it was.
    await bruno_at_ada.evaluate(SPEAKS, [meeting_room, False])
    await expect(bruno_at_ada).not_to_contain_text("speaking")
    await expect(bruno_at_ada).to_have_class(re.compile(r"\bfeatured\b"))

    # Bruno mutes: his tile says so on Ada's page, in words (what a screen reader reads) and
    # with the icon; unmuting takes it away.
    await expect(bruno_at_ada).not_to_contain_text("muted")
    await bruno.get_by_role("button", name="Mute", exact=True).click()
    await expect(bruno_at_ada).to_contain_text("muted")
    muted_name = re.compile(r"^Bruno Lind\s*, muted")
    await expect(ada.get_by_role("figure", name=muted_name)).to_be_visible()
    await expect(bruno_at_ada.locator(".indicator.muted")).to_be_visible()
    await expect(tile(bruno, "me")).to_contain_text("muted")  # his own tile, too
    await bruno.get_by_role("button", name="Unmute").click()
    await expect(bruno_at_ada).not_to_contain_text("muted")

    # Bruno's camera off: Ada sees his initials on his colour where the picture was.
    await bruno.get_by_role("button", name="Camera off").click()
    await expect(bruno_at_ada).to_have_attribute("data-video", "off")
    await expect(bruno_at_ada.locator(".avatar")).to_be_visible()
    await expect(bruno_at_ada.locator(".avatar")).to_have_text("BL")
    assert await bruno_at_ada.evaluate(ON_TOP) == "avatar"
    shown, wanted = await bruno_at_ada.evaluate(COLOURS, bruno_id)
    assert shown == wanted and shown != "rgb(0, 0, 0)"
    await expect(bruno_at_ada).to_contain_text("camera off")
    await ada.screenshot(path=artifact("meeting-camera-off.png"))
    await bruno.get_by_role("button", name="Camera on").click()
    await expect(bruno_at_ada).to_have_attribute("data-video", "on", timeout=MEDIA)

    # Ada shares her screen: at Bruno's it is the main view, the largest, the cameras beside it.
    await ada.get_by_role("button", name="Share screen").click()
    screen = bruno.locator(".meeting .main").locator('figure[data-source="screen"]')
    await expect(screen).to_have_count(1, timeout=MEDIA)
    await expect(screen).to_have_attribute("data-user", str(ada_id))
    await expect(screen).to_have_attribute("data-video", "on", timeout=MEDIA)
    main = await box(screen)
    cameras = [await box(tile(bruno, user)) for user in (ada_id, "me")]
    assert all(area(main) > 2 * area(camera) for camera in cameras), (main, cameras)
    assert all(camera["x"] >= main["x"] + main["width"] for camera in cameras), (main, cameras)
    await expect(bruno.get_by_role("status").filter(has_text="sharing")).to_have_text(
        "Meeting with Ada Okafor · Ada Okafor is sharing their screen"
    )
    await bruno.screenshot(path=artifact("meeting-shared-screen.png"))

    # Full screen: the stage alone on the screen, and back.
    await bruno.get_by_role("button", name="Full screen").click()
    await expect(bruno.get_by_role("button", name="Exit full screen")).to_be_visible()
    assert await bruno.evaluate("document.fullscreenElement?.getAttribute('aria-label')") == (
        "Meeting"
    )
    await bruno.get_by_role("button", name="Exit full screen").click()
    await expect(bruno.get_by_role("button", name="Full screen")).to_be_visible()

    # The share stops: back to the grid, with no main view.
    await ada.get_by_role("button", name="Stop sharing").click()
    await expect(bruno.locator('.meeting figure[data-source="screen"]')).to_have_count(0)
    await expect(bruno.locator(".meeting .stage")).to_have_attribute("data-layout", "grid")
    await expect(bruno.locator(".meeting .tiles figure")).to_have_count(2)

    # "Show floor plan" folds the meeting down; Ada walks to another room from the plan, the
    # meeting ends, and the plan is still where it was.
    await ada.get_by_role("button", name="Show floor plan").click()
    await expect(ada.get_by_role("button", name="Show meeting")).to_be_visible()
    assert not await ada.locator("#floor").evaluate("(plan) => plan.inert")
    await room(ada, rooms["Lobby"]).click()
    await expect(ada.get_by_role("region", name="Meeting")).to_be_hidden()
    assert await ada.evaluate(FLOOR_BOX) == floor_before


async def test_at_a_phones_width_the_stage_comes_below_the_plan_and_nothing_scrolls_sideways(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password, PHONE)
    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)
    bruno_id = await user_id(bruno)
    # At a phone's width the plan is a list of rooms: Ada walks into the Lobby from it.
    lobby = ada.locator(f'#room-list > li[data-room="{rooms["Lobby"]}"]')
    await lobby.get_by_role("button").first.click()
    await expect(lobby).to_have_class(re.compile(r"\bmine\b"))
    floor_before = await ada.evaluate(ROOM_LIST_BOX)

    await room(bruno, rooms["Lobby"]).click()
    await expect(tile(ada, bruno_id)).to_have_attribute("data-video", "on", timeout=MEDIA)
    # The list stays where it was (it grows by Bruno's line: only its top and width count).
    floor_after = await ada.evaluate(ROOM_LIST_BOX)
    assert floor_after[:3] == floor_before[:3]
    stage = await box(ada.get_by_role("region", name="Meeting"))
    assert stage["y"] >= floor_after[1] + floor_after[3]  # below the plan, not over it
    assert await scroll_width(ada) <= PHONE["width"]
    await ada.screenshot(path=artifact("meeting-phone.png"), full_page=True)
