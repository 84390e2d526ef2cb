"""A meeting across NAT, as a self-hoster deploys it: the browsers behind a masquerading home
router, the server behind a port-forwarding router like a container's, reachable only
through its announced address, the HTTP port and the one media UDP port.

    cli 192.0.2.2 ── 192.0.2.1 nat 198.51.100.1 ── 198.51.100.2 edge 203.0.113.1 ── 203.0.113.2 srv
    (Chromium)        (masquerade)                 (DNAT 8080/tcp, 50000/udp)       (server)
    slow 192.0.2.130 ── 192.0.2.129 nat    (a second home network, when asked for: a weak link)

Everything runs in network namespaces this test creates (documentation address ranges only)
and deletes, even when it fails; nothing touches the host's interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Playwright, async_playwright, expect

from server.infra.settings import Settings
from tests.cli_helpers import process_env
from tests.conftest import IN_CI
from tests.e2e.conftest import CHROMIUM_ARGS, artifact, chromium_path
from tests.e2e.test_office_ui import room, seeded, signed_in
from tests.e2e.test_restart import flowing

pytestmark = [pytest.mark.network, pytest.mark.timeout(180)]

REPOSITORY = str(Path(__file__).resolve().parents[2])
PUBLIC = "198.51.100.2"  # the edge router's outside address: what the server announces
SERVER = "203.0.113.2"
HTTP_PORT, MEDIA_PORT = 8080, 50000
BASE = f"http://{PUBLIC}:{HTTP_PORT}"


# The home router masquerades everything going out; the edge router forwards only the HTTP
# port and the media port to the server (and lets the server's own traffic out, masqueraded,
# as Docker does).
HOME_RULES = """
table ip home {
  chain post {
    type nat hook postrouting priority 100;
    oifname "n1" masquerade
  }
}
"""
EDGE_RULES = """
table ip edge {{
  chain pre {{
    type nat hook prerouting priority -100;
    iifname "e0" tcp dport {http} dnat to {server}
    iifname "e0" udp dport {media} dnat to {server}
  }}
  chain out {{
    type nat hook output priority -100;
    ip daddr {public} udp dport {media} dnat to {server}
  }}
  chain post {{
    type nat hook postrouting priority 100;
    oifname "e0" masquerade
  }}
  chain passing {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct status dnat accept
    iifname "e1" accept
  }}
}}
"""
# On a network that lets no UDP out (only TCP, as many corporate ones).
NO_UDP_RULES = """
table ip strict {
  chain passing {
    type filter hook forward priority 0;
    meta l4proto udp drop
  }
}
"""


def _run(*argv: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        argv, input=stdin, text=True, capture_output=True, timeout=20, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"


def _needs(tool: str) -> None:
    if os.geteuid() != 0 or shutil.which(tool) is None:
        message = f"network namespaces need root and {tool} (apt-get install nftables iproute2)"
        if IN_CI:
            pytest.fail(f"{message}; CI must provide them")
        pytest.skip(message)


@contextlib.contextmanager
def namespaces(*, udp: bool = True, slow: bool = False) -> Iterator[dict[str, str]]:
    """Four namespaces wired as in the module docstring (five with ``slow``), the home router
    dropping all UDP unless ``udp``; deleted on the way out."""
    _needs("ip")
    _needs("nft")
    tag = secrets.token_hex(3)
    roles = ("cli", "nat", "edge", "srv", "slow") if slow else ("cli", "nat", "edge", "srv")
    ns = {role: f"oh{tag}{role}" for role in roles}
    made: list[str] = []
    try:
        for name in ns.values():
            _run("ip", "netns", "add", name)
            made.append(name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
        # (namespace, device, address) pairs joined by a veth each.
        links = [
            ((ns["cli"], "c0", "192.0.2.2/25"), (ns["nat"], "n0", "192.0.2.1/25")),
            ((ns["nat"], "n1", "198.51.100.1/24"), (ns["edge"], "e0", f"{PUBLIC}/24")),
            ((ns["edge"], "e1", "203.0.113.1/24"), (ns["srv"], "s0", f"{SERVER}/24")),
        ]
        if slow:
            links.append(
                ((ns["slow"], "w0", "192.0.2.130/25"), (ns["nat"], "n2", "192.0.2.129/25"))
            )
        for number, ends in enumerate(links):
            temporary = [f"oh{tag}v{number}{side}" for side in "ab"]
            _run("ip", "link", "add", temporary[0], "type", "veth", "peer", "name", temporary[1])
            for (space, device, address), made_as in zip(ends, temporary, strict=True):
                _run("ip", "link", "set", made_as, "netns", space)
                _run("ip", "-n", space, "link", "set", made_as, "name", device)
                _run("ip", "-n", space, "addr", "add", address, "dev", device)
                _run("ip", "-n", space, "link", "set", device, "up")
        _run("ip", "-n", ns["cli"], "route", "add", "default", "via", "192.0.2.1")
        if slow:
            _run("ip", "-n", ns["slow"], "route", "add", "default", "via", "192.0.2.129")
        _run("ip", "-n", ns["srv"], "route", "add", "default", "via", "203.0.113.1")
        for router in ("nat", "edge"):
            _run("ip", "netns", "exec", ns[router], "sysctl", "-qw", "net.ipv4.ip_forward=1")
        home = HOME_RULES
        edge = EDGE_RULES.format(http=HTTP_PORT, media=MEDIA_PORT, server=SERVER, public=PUBLIC)
        _run("ip", "netns", "exec", ns["nat"], "nft", "-f", "-", stdin=home)
        if not udp:
            _run("ip", "netns", "exec", ns["nat"], "nft", "-f", "-", stdin=NO_UDP_RULES)
        _run("ip", "netns", "exec", ns["edge"], "nft", "-f", "-", stdin=edge)
        yield ns
    finally:
        for name in reversed(made):
            subprocess.run(["ip", "netns", "del", name], check=False, timeout=20)


@contextlib.asynccontextmanager
async def server_in(ns: str, tmp_path: Path, **extra: str) -> AsyncIterator[Settings]:
    env = process_env(
        tmp_path / "var",
        HTTP_PORT,
        host=SERVER,
        base_url=BASE,
        secret_key="k" * 40,
        log_format="json",
        media_udp_port=str(MEDIA_PORT),
        media_announced_addresses=PUBLIC,
        **extra,
    )
    env["PYTHONPATH"] = REPOSITORY
    log = tmp_path / "server.log"
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, sys.executable, "-m", "server", "serve",
            env=env, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        yield Settings.from_env(env)
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if process.returncode is None:
        process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def reachable_from(ns: str, url: str, seconds: float) -> bool:
    """Whether ``url`` answers 200 from inside ``ns`` within ``seconds`` (bounded polling)."""
    probe = (
        "import sys, time, urllib.request\n"
        f"end = time.monotonic() + {seconds}\n"
        "while time.monotonic() < end:\n"
        "    try:\n"
        f"        if urllib.request.urlopen({url!r}, timeout=1).status == 200: sys.exit(0)\n"
        "    except OSError: time.sleep(0.1)\n"
        "sys.exit(1)\n"
    )
    process = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, sys.executable, "-c", probe
    )
    return await process.wait() == 0


async def chromium_in(
    playwright: Playwright, ns: str, tmp_path: Path, extra: tuple[str, ...] = ()
) -> Browser:
    """Chromium running inside namespace ``ns``, allowed media on the plain-HTTP base URL."""
    wrapper = tmp_path / f"chromium-in-{ns}"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {chromium_path()} "$@"\n')
    wrapper.chmod(0o755)
    args = [
        *CHROMIUM_ARGS,
        *extra,
        f"--unsafely-treat-insecure-origin-as-secure={BASE}",
        "--ignore-certificate-errors",  # the test TURN server's self-signed certificate
    ]
    return await playwright.chromium.launch(executable_path=str(wrapper), args=args)


# The transport of each nominated candidate pair of the page's incoming connections: the
# local candidate's type and, for a relayed one, how the page reaches its TURN server.
PATHS = """async () => {
  const out = [];
  for (const [, entry] of window.officehoursMeeting.receiving) {
    const stats = await entry.pc.getStats();
    stats.forEach((s) => {
      if (s.type !== "candidate-pair" || !s.nominated || s.state !== "succeeded") return;
      const local = stats.get(s.localCandidateId);
      out.push(local.candidateType + (local.relayProtocol ? "/" + local.relayProtocol : ""));
    });
  }
  return out;
}"""


async def meet(
    ns: dict[str, str],
    tmp_path: Path,
    afterwards: Callable[[dict[str, str], list[Page]], Awaitable[None]] | None = None,
    **settings: str,
) -> list[str]:
    """Ada and Bruno (Chromium in ``cli``) meet through the server in ``srv``; both receive
    each other's video and audio (framesDecoded and bytesReceived grow); then ``afterwards``,
    if given. Returns the transports of their incoming connections' nominated pairs."""
    async with server_in(ns["srv"], tmp_path, **settings) as served:
        assert await reachable_from(ns["cli"], f"{BASE}/readyz", 40), (
            tmp_path / "server.log"
        ).read_text()[-3000:]
        # Only the forwarded ports are open: nothing else on the server answers.
        assert not await reachable_from(ns["cli"], f"http://{SERVER}:{HTTP_PORT}/readyz", 2)
        office, rooms = await seeded(served)
        async with async_playwright() as playwright:
            browser = await chromium_in(playwright, ns["cli"], tmp_path)
            try:
                ada, bruno = [
                    await signed_in(
                        browser, BASE, f"{name}@demo.officehours.example", office.password
                    )
                    for name in ("ada", "bruno")
                ]
                for page in (ada, bruno):
                    await room(page, rooms["Meeting room A"]).click()
                for page in (ada, bruno):
                    await expect(page.locator(".meeting video")).to_have_count(2, timeout=20000)
                for page in (ada, bruno):
                    assert len(await flowing(page, 1, [], 25.0)) >= 1
                await bruno.screenshot(path=artifact(f"meeting-{tmp_path.name}.png"))
                if afterwards is not None:
                    await afterwards(ns, [ada, bruno])
                return [path for page in (ada, bruno) for path in await page.evaluate(PATHS)]
            finally:
                await browser.close()


async def test_two_people_behind_nat_meet_a_server_behind_port_forwarding(
    tmp_path: Path,
) -> None:
    with namespaces() as ns:
        paths = await meet(ns, tmp_path)
    assert paths and all(not p.startswith("relay") for p in paths), paths


RECEIVING = "() => [...window.officehoursMeeting.receiving.keys()]"


async def change_address(ns: dict[str, str], pages: list[Page]) -> None:
    """The browsers' machine moves to another address (a laptop changing networks): every
    connection it had stops working. Both pages get media again by themselves, over new
    connections, within 30 s."""
    before = [await page.evaluate(RECEIVING) for page in pages]
    _run("ip", "-n", ns["cli"], "addr", "flush", "dev", "c0")
    _run("ip", "-n", ns["cli"], "addr", "add", "192.0.2.3/25", "dev", "c0")
    _run("ip", "-n", ns["cli"], "route", "add", "default", "via", "192.0.2.1")
    started = time.monotonic()
    for page, old in zip(pages, before, strict=True):
        await flowing(page, 1, old, 30.0 - (time.monotonic() - started))
    print(f"media back {time.monotonic() - started:.1f} s after the address changed")


@pytest.mark.alone
async def test_after_a_network_change_the_meeting_comes_back_by_itself(
    tmp_path: Path,
) -> None:
    with namespaces() as ns:
        await meet(ns, tmp_path, change_address)


@contextlib.asynccontextmanager
async def coturn_in(ns: str, tmp_path: Path, secret: str) -> AsyncIterator[None]:
    """coturn on the edge router's public address: TURN on 3478 (UDP and TCP), TLS on 443."""
    if shutil.which("turnserver") is None:
        message = "coturn is needed (apt-get install coturn)"
        if IN_CI:
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)
    key, cert = tmp_path / "turn.key", tmp_path / "turn.crt"
    _run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=turn.officehours.test", "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, "turnserver", "--listening-ip", PUBLIC,
        "--listening-port", "3478", "--tls-listening-port", "443", "--relay-ip", PUBLIC,
        "--min-port", "49200", "--max-port", "49300", "--use-auth-secret",
        "--static-auth-secret", secret, "--realm", "officehours.test", "--no-cli", "--no-dtls",
        "--cert", str(cert), "--pkey", str(key), "--pidfile", str(tmp_path / "turn.pid"),
        # As docs/operations.md and docker-compose.yml configure it: relay to the media
        # port's public address only, never into a private network.
        "--no-multicast-peers", "--denied-peer-ip", "0.0.0.0-255.255.255.255",
        "--allowed-peer-ip", PUBLIC,
        "--log-file", str(tmp_path / "turn.log"), "--simple-log", "--no-stdout-log",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        await stop(process)


@pytest.mark.parametrize(
    ("url", "relayed"),
    [(f"turn:{PUBLIC}:3478?transport=tcp", "relay/tcp"), (f"turns:{PUBLIC}:443", "relay/tls")],
    ids=["tcp", "tls"],
)
async def test_with_udp_blocked_the_meeting_goes_through_turn(
    tmp_path: Path, url: str, relayed: str
) -> None:
    """The browsers' network drops all UDP: the time-limited credentials from media:join get
    them through coturn over TCP, or over TLS on 443."""
    secret = secrets.token_urlsafe(24)
    with namespaces(udp=False) as ns:
        async with coturn_in(ns["edge"], tmp_path, secret):
            paths = await meet(ns, tmp_path, turn_urls=url, turn_secret=secret)
    assert paths and all(p == relayed for p in paths), paths
