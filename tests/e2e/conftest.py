"""Real headless Chromium (Debian's package) driven by Playwright, against a real server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

from server.app import create_app
from server.infra.clock import Clock
from server.infra.settings import Settings
from tests.conftest import IN_CI

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--auto-accept-this-tab-capture",
    # Chromium honours only the last --disable-features: Playwright's own list (printed with
    # DEBUG=pw:browser, Playwright 1.65) plus WebRtcHideLocalIpsWithMdns, so candidates are
    # plain addresses the relay can reach rather than .local names.
    "--disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,"
    "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,"
    "ThirdPartyStoragePartitioning,AvoidCorsURLLoaderRestartOnRedirect,TcpPortRandomizationWin,"
    "OptimizationHints,NetworkTimeServiceQuerying,AimEnabled,PreconnectToSearch,"
    "msForceBrowserSignIn,msEdgeUpdateLaunchServicesPreferredVersion,WebRtcHideLocalIpsWithMdns",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "Chromium is needed: apt-get install chromium"
        if IN_CI:
            pytest.fail(message + " (CI must provide it; tests may not skip it)")
        pytest.skip(message)
    return path


@pytest.fixture
async def browser(live_server: tuple[str, Settings]) -> AsyncIterator[Browser]:
    """Chromium, closed before the server it talks to (so the server stops at once)."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, env: dict[str, str] | None = None, clock: Clock | None = None
) -> AsyncIterator[tuple[str, Settings]]:
    """The app on a fixed loopback port, so the browser's Origin matches the base URL;
    ``env`` adds settings, ``clock`` replaces the system clock."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = Settings.from_env(
        {
            "OFFICEHOURS_DATA_DIR": str(tmp_path / "var"),
            "OFFICEHOURS_BASE_URL": base,
            "OFFICEHOURS_PORT": str(port),
            **(env or {}),
        }
    )
    server = TestServer(create_app(settings, clock), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield base, settings
    finally:
        await server.close()


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[tuple[str, Settings]]:
    async with serving(tmp_path) as served:
        yield served


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
