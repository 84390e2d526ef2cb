"""TURN credentials in the TURN REST API scheme: the pair a browser gets is one coturn accepts
(``--use-auth-secret``) until it expires, and refuses after."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.infra.settings import Turn
from server.meetings.turn import turn_credentials
from tests.conftest import IN_CI

SECRET = "officehours-turn-secret"


def test_the_credential_is_expiry_colon_label_and_an_hmac_sha1_of_it() -> None:
    turn = Turn(("turn:turn.example:3478",), SECRET, ttl_seconds=3600)
    entry = turn_credentials(turn, datetime.fromtimestamp(1_699_996_400, UTC), label="alice")
    # Computed with: printf %s 1700000000:alice | openssl dgst -sha1 -hmac SECRET -binary | base64
    assert entry.as_dict() == {
        "urls": ["turn:turn.example:3478"],
        "username": "1700000000:alice",
        "credential": "fR/pST0mWGjdXy1y4vC53/Xnqr0=",
    }


def test_each_browser_gets_its_own_username_that_names_nobody() -> None:
    turn = Turn(("turn:turn.example:3478",), SECRET)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first, second = turn_credentials(turn, now), turn_credentials(turn, now)
    assert first.username != second.username
    assert first.username is not None and first.username.startswith(
        f"{int(now.timestamp()) + 86400}:"
    )


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    """A throwaway coturn on loopback that checks credentials with the shared secret."""
    if shutil.which("turnserver") is None or shutil.which("turnutils_uclient") is None:
        message = "coturn is needed (apt-get install coturn)"
        if IN_CI:
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)
    port = _free_port(socket.SOCK_DGRAM)
    relay_base = 49152 + os.getpid() % 10000
    server = subprocess.Popen(
        [
            "turnserver",
            "--listening-ip",
            "127.0.0.1",
            "--listening-port",
            str(port),
            "--relay-ip",
            "127.0.0.1",
            "--min-port",
            str(relay_base),
            "--max-port",
            str(relay_base + 100),
            "--use-auth-secret",
            "--static-auth-secret",
            SECRET,
            "--realm",
            "officehours.test",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--allow-loopback-peers",
            "--pidfile",
            str(tmp_path / "turn.pid"),
            "--log-file",
            str(tmp_path / "turn.log"),
            "--simple-log",
            "--no-stdout-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Bounded: until it listens on TCP too. A loaded CI machine has taken over 10 s.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            log = tmp_path / "turn.log"
            tail = log.read_text()[-2000:] if log.exists() else "(no log)"
            pytest.fail(f"coturn did not start listening (exit {server.poll()}):\n{tail}")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def _relays(port: int, username: str, password: str, *, tcp: bool = False) -> bool:
    """Whether turnutils_uclient gets an allocation and relays its messages back."""
    done = subprocess.run(
        [
            "turnutils_uclient",
            *(["-t"] if tcp else []),
            "-u",
            username,
            "-w",
            password,
            "-p",
            str(port),
            "-e",
            "127.0.0.1",
            "-y",
            "-n",
            "3",
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    output = done.stdout + done.stderr
    received = re.findall(r"tot_recv_msgs=(\d+)", output)
    return done.returncode == 0 and "ERROR" not in output and bool(received) and received[-1] != "0"


def test_coturn_accepts_the_credential_over_udp_and_tcp_until_it_expires(coturn: int) -> None:
    turn = Turn((f"turn:127.0.0.1:{coturn}",), SECRET, ttl_seconds=3600)
    fresh = turn_credentials(turn, datetime.now(UTC))
    assert fresh.username is not None and fresh.credential is not None
    assert _relays(coturn, fresh.username, fresh.credential)
    assert _relays(coturn, fresh.username, fresh.credential, tcp=True)
    assert not _relays(coturn, fresh.username, fresh.credential[::-1])
    stale = turn_credentials(turn, datetime.now(UTC) - timedelta(hours=2))
    assert stale.username is not None and stale.credential is not None
    assert not _relays(coturn, stale.username, stale.credential)
