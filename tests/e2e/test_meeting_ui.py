"""Meetings in real Chromium with fake camera and microphone, through the server's relay."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from server.infra.settings import Settings
from tests.e2e.accessibility import assert_accessible
from tests.e2e.conftest import artifact
from tests.e2e.test_office_ui import room, seeded, signed_in

pytestmark = pytest.mark.usefixtures("loopback_ice")

# Inbound media per connection the page receives: {peer: {kind: counter}}.
INBOUND = """async () => {
  const meeting = window.officehoursMeeting;
  const out = {};
  for (const [peer, entry] of meeting.receiving) {
    const stats = await entry.pc.getStats();
    const row = { user: entry.userId, source: entry.source, video: 0, audio: 0 };
    stats.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video") row.video += s.framesDecoded || 0;
      if (s.kind === "audio") row.audio += s.bytesReceived || 0;
    });
    out[peer] = row;
  }
  return out;
}"""


async def inbound(page: Page) -> dict[str, dict[str, Any]]:
    return await page.evaluate(INBOUND)


async def growing(page: Page, want: int, deadline: float = 25.0) -> dict[str, dict[str, Any]]:
    """Wait until ``want`` connections each decode video (and camera ones audio) and keep
    growing; returns the second sample."""
    async with asyncio.timeout(deadline):
        while True:
            first = await inbound(page)
            await asyncio.sleep(1.0)
            second = await inbound(page)
            flowing = [
                peer
                for peer, row in second.items()
                if peer in first
                and row["video"] > first[peer]["video"]
                and (row["source"] == "screen" or row["audio"] > first[peer]["audio"])
            ]
            if len(flowing) >= want:
                return second


async def test_three_people_meet_share_a_screen_and_leave(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    people = {
        name: await signed_in(browser, base, f"{name}@demo.officehours.example", office.password)
        for name in ("ada", "bruno", "chen", "dana")
    }
    meeting_room = rooms["Meeting room A"]
    for name in ("ada", "bruno", "chen"):
        await room(people[name], meeting_room).click()
    await room(people["dana"], rooms["Lobby"]).click()

    # Each of the three receives the other two's camera and microphone.
    for name in ("ada", "bruno", "chen"):
        await expect(people[name].locator(".meeting video")).to_have_count(3, timeout=20000)
        flowing = await growing(people[name], 2)
        assert len({row["user"] for row in flowing.values()}) == 2

    # Ada shares her screen: the others receive it beside the cameras.
    await people["ada"].get_by_role("button", name="Share screen").click()
    for name in ("bruno", "chen"):
        rows = await growing(people[name], 3)
        assert sorted(row["source"] for row in rows.values()) == ["camera", "camera", "screen"]
    await people["bruno"].screenshot(path=artifact("meeting.png"))
    await assert_accessible(people["bruno"], "a meeting of three with a shared screen")

    # Dana, in another room, receives nothing from any of them.
    assert await inbound(people["dana"]) == {}
    await expect(people["dana"].locator(".meeting")).to_be_hidden()

    # Chen walks out: his tracks stop at the others, and he receives nothing more.
    await people["chen"].get_by_role("button", name="Leave room").click()
    # Bruno keeps his own camera and Ada's camera and screen; Ada her two tiles and Bruno's.
    await expect(people["bruno"].locator(".meeting figure")).to_have_count(3, timeout=10000)
    await expect(people["ada"].locator(".meeting figure")).to_have_count(3, timeout=10000)
    rows = await growing(people["bruno"], 2)
    assert len(rows) == 2
    assert await inbound(people["chen"]) == {}
