"""A server restart mid-meeting, with real processes and real Chromium (one process, SQLite).

What people notice: on SIGTERM the server says it is restarting and is gone within 5 s; the
pages show "reconnecting…"; once a new process is up on the same port and database, each page
is back in the same room, in the same meeting with media flowing, with the room chat open,
within 10 s — nobody is sent to the hallway.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright, expect

from server.infra.settings import Settings
from tests.cli_helpers import free_port, process_env
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path
from tests.e2e.test_office_ui import room, seeded, signed_in

pytestmark = [pytest.mark.network, pytest.mark.timeout(180)]

REPOSITORY = str(Path(__file__).resolve().parents[2])
EXIT_WITHIN = 5.0
BACK_WITHIN = 10.0
# The relay's ICE on loopback only (what the ``loopback_ice`` fixture does in-process).
SERVE = (
    "import sys, aioice.ice\n"
    "aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ['127.0.0.1']\n"
    "from server.__main__ import main\n"
    "sys.exit(main(['serve']))\n"
)

# Resolves when every other person in the meeting (``want`` of them) has a camera connection
# (not one of ``oldPeers``) whose decoded frames and received audio bytes both grow; null at
# the deadline. Polls getStats in the page.
FLOWING = """async ({ want, oldPeers, deadlineMs }) => {
  const started = performance.now();
  const sample = async () => {
    const meeting = window.officehoursMeeting;
    const rows = {};
    if (!meeting) return rows;
    for (const [peer, entry] of meeting.receiving) {
      if (entry.source !== "camera" || oldPeers.includes(peer)) continue;
      const row = { user: entry.userId, video: 0, audio: 0 };
      (await entry.pc.getStats()).forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        if (s.kind === "video") row.video += s.framesDecoded || 0;
        if (s.kind === "audio") row.audio += s.bytesReceived || 0;
      });
      rows[peer] = row;
    }
    return rows;
  };
  let first = await sample();
  while (performance.now() - started < deadlineMs) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await sample();
    const grown = Object.entries(now).filter(([peer, row]) =>
      first[peer] && row.video > first[peer].video && row.audio > first[peer].audio);
    const users = new Set(grown.map(([, row]) => row.user));
    if (users.size >= want) return { peers: grown.map(([peer]) => peer), users: [...users] };
    for (const [peer, row] of Object.entries(now)) {
      if (!first[peer] || row.video === 0) first[peer] = row;
    }
  }
  return null;
}"""


async def flowing(page: Page, want: int, old: list[str], deadline: float) -> list[str]:
    result = await page.evaluate(
        FLOWING, {"want": want, "oldPeers": old, "deadlineMs": max(deadline, 0.1) * 1000}
    )
    assert result is not None, "media did not flow again in time"
    return list(result["peers"])


class Process:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.base = env["OFFICEHOURS_BASE_URL"]
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SERVE, env=self.env, stdout=out, stderr=out
            )
        async with aiohttp.ClientSession() as http, asyncio.timeout(40):
            while True:
                assert self.process.returncode is None, self.log.read_text()[-3000:]
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{self.base}/readyz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)

    async def terminate(self) -> float:
        """SIGTERM; how long the process took to exit."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                await self.process.wait()
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        return time.monotonic() - started

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def one_process(tmp_path: Path) -> AsyncIterator[tuple[Process, dict[str, str]]]:
    port = free_port()
    env = process_env(
        tmp_path / "var",
        port,
        base_url=f"http://127.0.0.1:{port}",
        secret_key="k" * 40,
        log_format="json",
        restart_grace_seconds="60",
        presence_grace_seconds="5",
    )
    env["PYTHONPATH"] = REPOSITORY
    server = Process(env, tmp_path / "server.log")
    try:
        yield server, env
    finally:
        await server.stop()


async def test_a_restart_mid_meeting_is_a_blip(tmp_path: Path) -> None:
    async with one_process(tmp_path) as (server, env), async_playwright() as playwright:
        settings = Settings.from_env(env)
        await server.start()  # it applies the migrations
        office, rooms = await seeded(settings)
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS
        )
        try:
            await scenario(browser, server, settings, office.password, rooms)
        finally:
            await browser.close()


async def scenario(
    browser: Any, server: Process, settings: Settings, password: str, rooms: dict[str, int]
) -> None:
    base = settings.base_url
    names = ("ada", "bruno", "chen")
    pages = [
        await signed_in(browser, base, f"{n}@demo.officehours.example", password) for n in names
    ]
    meeting_room = rooms["Meeting room A"]
    for page in pages:
        await room(page, meeting_room).click()
    before = [await flowing(page, 2, [], 25) for page in pages]
    for page in pages:
        await expect(page.locator("#chat-input")).to_be_enabled()
    await pages[0].locator("#chat-input").fill("before the restart")
    await pages[0].keyboard.press("Enter")
    for page in pages:
        await expect(page.locator("#messages .body").last).to_have_text("before the restart")

    exit_seconds = await server.terminate()
    print(f"restart: the process exited {exit_seconds:.2f} s after SIGTERM")
    assert exit_seconds <= EXIT_WITHIN, server.log.read_text()[-3000:]
    for page in pages:
        await expect(page.locator("#connection")).to_have_text("reconnecting…", timeout=2000)

    await server.start()
    up = time.monotonic()

    def left() -> float:
        return BACK_WITHIN - (time.monotonic() - up)

    for page in pages:
        await expect(page.locator("#connection")).to_have_text("online", timeout=left() * 1000)
        await expect(room(page, meeting_room)).to_have_class("room mine", timeout=left() * 1000)
    backs = []
    for page, old in zip(pages, before, strict=True):
        await flowing(page, 2, old, left())
        backs.append(time.monotonic() - up)
    for page in pages:
        # The room chat is open, with what was said before the restart.
        await expect(page.locator("#chat-input")).to_be_enabled(timeout=left() * 1000)
        await expect(page.locator("#messages .body").last).to_have_text(
            "before the restart", timeout=left() * 1000
        )
    print(
        "restart: pages back in the meeting with media, s after the new process was up:",
        [round(b, 2) for b in backs],
    )
    assert left() > 0
    # And the chat works across the restart.
    await pages[1].locator("#chat-input").fill("after the restart")
    await pages[1].keyboard.press("Enter")
    for page in pages:
        await expect(page.locator("#messages .body").last).to_have_text("after the restart")
