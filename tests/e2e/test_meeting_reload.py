"""Reloading a tab mid-meeting, in real Chromium: every stream comes back within 2 s, every time."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from server.infra.settings import Settings
from tests.e2e.test_office_ui import room, seeded, signed_in

pytestmark = [
    pytest.mark.network,
    pytest.mark.alone,
    pytest.mark.usefixtures("loopback_ice"),
    pytest.mark.timeout(240),
]

RELOADS = 10
BACK_WITHIN_MS = 2000

# Polls getStats in the page until the camera connection from ``userId`` (not one of
# ``oldPeers``) has decoded video and received audio, then until both have grown once more:
# returns when that first happened (epoch ms), with the page's own load time, or null at the
# deadline.
STREAM_BACK = """async ({ userId, oldPeers, deadlineMs }) => {
  const started = performance.now();
  const sample = async () => {
    const meeting = window.officehoursMeeting;
    if (!meeting) return null;
    for (const [peer, entry] of meeting.receiving) {
      if (entry.userId !== userId || entry.source !== "camera" || oldPeers.includes(peer)) continue;
      const row = { peer, video: 0, audio: 0 };
      (await entry.pc.getStats()).forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        if (s.kind === "video") row.video += s.framesDecoded || 0;
        if (s.kind === "audio") row.audio += s.bytesReceived || 0;
      });
      return row;
    }
    return null;
  };
  let first = null;
  let firstAt = null;
  while (performance.now() - started < deadlineMs) {
    const row = await sample();
    if (row && row.video > 0 && row.audio > 0) {
      if (first === null) { first = row; firstAt = Date.now(); }
      else if (row.video > first.video && row.audio > first.audio) {
        const nav = performance.getEntriesByType("navigation")[0];
        return { at: firstAt, peer: row.peer, loaded: performance.timeOrigin + nav.loadEventEnd };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return null;
}"""

RECEIVING_FROM = """(userId) => [...window.officehoursMeeting.receiving]
  .filter(([, entry]) => entry.userId === userId).map(([peer]) => peer)"""


async def stream_back(page: Page, user_id: int, old_peers: list[str]) -> dict[str, Any]:
    result = await page.evaluate(
        STREAM_BACK, {"userId": user_id, "oldPeers": old_peers, "deadlineMs": 15000}
    )
    assert result is not None, f"no media from user {user_id} within 15 s"
    return dict(result)


async def user_id(page: Page) -> int:
    return int(
        await page.evaluate("fetch('/api/auth/session').then(r => r.json()).then(s => s.user.id)")
    )


async def test_a_tab_reloaded_mid_meeting_gets_every_stream_back_within_2_s(
    browser: Browser, live_server: tuple[str, Settings]
) -> None:
    base, settings = live_server
    office, rooms = await seeded(settings)
    ada = await signed_in(browser, base, "ada@demo.officehours.example", office.password)
    bruno = await signed_in(browser, base, "bruno@demo.officehours.example", office.password)
    ada_id, bruno_id = await user_id(ada), await user_id(bruno)
    for page in (ada, bruno):
        await room(page, rooms["Meeting room A"]).click()
    await stream_back(ada, bruno_id, [])
    await stream_back(bruno, ada_id, [])

    ada_waits, bruno_waits = [], []
    for _ in range(RELOADS):
        old = await bruno.evaluate(RECEIVING_FROM, ada_id)
        await ada.reload()
        await expect(ada.locator("#connection")).to_have_text("online", timeout=5000)
        at_ada, at_bruno = await asyncio.gather(
            stream_back(ada, bruno_id, []), stream_back(bruno, ada_id, old)
        )
        ada_waits.append(at_ada["at"] - at_ada["loaded"])
        bruno_waits.append(at_bruno["at"] - at_ada["loaded"])
    print(
        "reload: back after (ms from the reloaded page's load) "
        f"reloaded tab {sorted(round(w) for w in ada_waits)} "
        f"median {statistics.median(ada_waits):.0f}; "
        f"other tab {sorted(round(w) for w in bruno_waits)} "
        f"median {statistics.median(bruno_waits):.0f}"
    )
    assert max(ada_waits) <= BACK_WITHIN_MS, ada_waits
    assert max(bruno_waits) <= BACK_WITHIN_MS, bruno_waits
