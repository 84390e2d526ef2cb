"""A meeting where one person's link is weak: 300 kbit/s each way, shaped with ``tc`` in their
own network namespace. They keep receiving video at a lower frame rate (the relay forwards
them the base temporal layer), the two people on a good link keep full frame rate, and
nobody's audio drops out.

    cli (Ada, Chen) ── nat ── edge ── srv        slow (Bruno, 300 kbit/s) ── nat

Everything runs in namespaces the test creates and deletes (see test_media_nat.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.e2e.test_media_nat import (
    BASE,
    _run,
    chromium_in,
    namespaces,
    reachable_from,
    server_in,
)
from tests.e2e.test_office_ui import room, seeded, signed_in
from tests.e2e.test_restart import flowing

pytestmark = [pytest.mark.network, pytest.mark.alone, pytest.mark.timeout(240)]

# A fake camera at 30 fps (Chromium's default fake device runs at 20).
CAMERA_30FPS = ("--use-fake-device-for-media-stream=fps=30",)
LINK = ("rate", "300kbit", "burst", "16kbit", "latency", "400ms")
WINDOW_MS = 8000

# Over ``windowMs``: each incoming connection's decoded frame rate, the share of audio samples
# concealed (played as made-up sound because packets were missing), and the longest time the
# audio's received bytes did not grow, sampled every 100 ms.
MEASURE = """async (windowMs) => {
  const meeting = window.officehoursMeeting;
  const sample = async () => {
    const out = {};
    for (const [peer, entry] of meeting.receiving) {
      const row = { user: entry.userId, source: entry.source, frames: 0, audio: 0 };
      row.samples = row.concealed = 0;
      (await entry.pc.getStats()).forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        if (s.kind === "video") row.frames += s.framesDecoded || 0;
        else {
          row.audio += s.bytesReceived || 0;
          row.samples += s.totalSamplesReceived || 0;
          row.concealed += s.concealedSamples || 0;
        }
      });
      out[peer] = row;
    }
    return out;
  };
  const first = await sample();
  const start = performance.now();
  const grew = {};
  const gaps = {};
  let last = first;
  while (performance.now() - start < windowMs) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = performance.now();
    const next = await sample();
    for (const peer of Object.keys(next)) {
      if (!(peer in last) || next[peer].audio <= last[peer].audio) continue;
      gaps[peer] = Math.max(gaps[peer] || 0, now - (grew[peer] ?? start));
      grew[peer] = now;
    }
    last = next;
  }
  const end = performance.now();
  const seconds = (end - start) / 1000;
  const result = [];
  for (const peer of Object.keys(last)) {
    if (!(peer in first)) continue;
    const a = first[peer], b = last[peer];
    result.push({
      user: b.user,
      source: b.source,
      fps: (b.frames - a.frames) / seconds,
      concealed: (b.concealed - a.concealed) / Math.max(1, b.samples - a.samples),
      audioGapMs: Math.max(gaps[peer] || 0, end - (grew[peer] ?? start)),
    });
  }
  return result;
}"""


async def measure(page: Page) -> list[dict[str, Any]]:
    return list(await page.evaluate(MEASURE, WINDOW_MS))


def shape(ns: str, device: str) -> None:
    """Limit what leaves ``device`` in ``ns`` to the weak link's rate."""
    _run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", device, "root", "tbf", *LINK)


async def test_a_viewer_on_a_weak_link_gets_fewer_frames_and_nobody_else_suffers(
    tmp_path: Path,
) -> None:
    with namespaces(slow=True) as ns:
        async with server_in(ns["srv"], tmp_path) as served:
            assert await reachable_from(ns["cli"], f"{BASE}/readyz", 40)
            assert await reachable_from(ns["slow"], f"{BASE}/readyz", 10)
            office, rooms = await seeded(served)
            async with async_playwright() as playwright:
                good = await chromium_in(playwright, ns["cli"], tmp_path, CAMERA_30FPS)
                weak = await chromium_in(playwright, ns["slow"], tmp_path, CAMERA_30FPS)
                try:
                    people = {}
                    for name, browser in (("ada", good), ("chen", good), ("bruno", weak)):
                        email = f"{name}@demo.officehours.example"
                        # No animations (the speaking rings): three pages share two cores
                        # with the server, and this test is about the network, not the CPU.
                        people[name] = await signed_in(
                            browser, BASE, email, office.password, reduced_motion=True
                        )
                    # Bruno's link is weak from here on, both ways.
                    shape(ns["slow"], "w0")
                    shape(ns["nat"], "n2")
                    for page in people.values():
                        await room(page, rooms["Meeting room A"]).click()
                    for page in people.values():
                        await expect(page.locator(".meeting video")).to_have_count(3, timeout=30000)
                        await flowing(page, 2, [], 30.0)
                    rates = await settled(people)
                finally:
                    await weak.close()
                    await good.close()
    log = (tmp_path / "server.log").read_text()
    print(json.dumps(rates, indent=1))
    layers = [json.loads(line) for line in log.splitlines() if "media.layer_changed" in line]
    assert layers, "the relay never changed anyone's layer"
    for viewer, rows in rates.items():
        for row in rows:
            # Nobody's audio drops out, on the weak link included.
            assert row["concealed"] < 0.05, (viewer, row)
            assert row["audioGapMs"] < 500, (viewer, row)


async def settled(people: dict[str, Page]) -> dict[str, list[dict[str, Any]]]:
    """Measure windows until the layers have settled: Bruno gets both cameras at 7 fps or
    more, Ada and Chen each other's at 25 or more; then one more window must hold it."""
    held = 0
    windows: list[str] = []
    try:
        async with asyncio.timeout(120):
            while True:
                measured = await asyncio.gather(*(measure(page) for page in people.values()))
                rates = dict(zip(people, measured, strict=True))
                windows.append(
                    " ".join(
                        f"{name}:" + ",".join(f"{row['fps']:.1f}" for row in rows)
                        for name, rows in rates.items()
                    )
                )
                good = all(row["fps"] >= 25 for name in ("ada", "chen") for row in rates[name])
                weak = len(rates["bruno"]) == 2 and all(row["fps"] >= 7 for row in rates["bruno"])
                held = held + 1 if good and weak else 0
                if held == 2:
                    return rates
    except TimeoutError:
        raise AssertionError("never settled; fps per window:\n" + "\n".join(windows)) from None
