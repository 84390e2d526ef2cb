"""Real processes for the fault tests: a Redis and a PostgreSQL of the test's own (so it may
stop and restart them without disturbing any other test), server processes, and signed-in
Socket.IO clients. Everything listens on loopback only and is stopped even when a test fails.

In CI (``CI=true``) a missing binary fails the test; elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import socketio
from redis.asyncio import Redis

from tests.cli_helpers import free_port
from tests.conftest import IN_CI, PASSWORD

STEP_SECONDS = 20  # no single start, stop or readiness wait may take longer


def need(what: str, path: str | None) -> str:
    if path is None or not os.access(path, os.X_OK):
        message = f"{what} is needed for the fault tests"
        if IN_CI:
            pytest.fail(f"{message} (CI must provide it; tests may not skip it)")
        pytest.skip(message)
    return path


async def run(*argv: str) -> None:
    """A short command that must succeed."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(STEP_SECONDS):
            out, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"{argv[0]} failed: {out.decode(errors='replace')[-2000:]}"


class OwnRedis:
    """A redis-server on a free loopback port, without persistence (a restart loses all)."""

    def __init__(self, workdir: Path) -> None:
        self.binary = need("redis-server", shutil.which("redis-server"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            async with asyncio.timeout(STEP_SECONDS):
                while True:
                    try:
                        if await client.ping():
                            return
                    except (ConnectionError, OSError, Exception):
                        await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def shutdown_nosave(self) -> None:
        """What an operator's restart does: SHUTDOWN NOSAVE, all data gone."""
        assert self.process is not None
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        with contextlib.suppress(Exception):  # the server closes the connection as it goes
            await client.shutdown(nosave=True)
        await client.aclose()
        async with asyncio.timeout(STEP_SECONDS):
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class OwnPostgres:
    """A throwaway PostgreSQL cluster on a free loopback port (as the postgres user when the
    tests run as root: PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version)
        self.bin = Path(bins[-1]) if bins else Path("/nonexistent")
        need("PostgreSQL (initdb)", str(self.bin / "initdb") if bins else None)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="oh-faults-pg-"))
        self.dir.chmod(0o755)
        self.data = self.dir / "data"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str) -> tuple[str, ...]:
        if os.geteuid() != 0:
            return argv
        import shlex

        return ("su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv))

    async def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        await run(
            *self._as_postgres(
                str(self.bin / "initdb"), "-A", "trust", "-U", "postgres", "-D", str(self.data)
            )
        )

    async def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
            "-c max_connections=100"
        )
        await run(
            *self._as_postgres(
                str(self.bin / "pg_ctl"),
                "-w",
                "-t",
                str(STEP_SECONDS),
                "-D",
                str(self.data),
                "-l",
                str(self.dir / "server.log"),
                "-o",
                options,
                "start",
            )
        )

    async def stop(self, mode: str = "fast") -> None:
        await run(
            *self._as_postgres(
                str(self.bin / "pg_ctl"), "-w", "-D", str(self.data), "-m", mode, "stop"
            )
        )

    async def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                await self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parent.name
    return tuple(int(x) for x in part.split(".") if x.isdigit())


async def count_messages(database_url: str, sender_id: int) -> list[str]:
    """Client ids of everything stored from one sender, straight from PostgreSQL."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT client_id FROM messages WHERE sender_id = $1 ORDER BY seq", sender_id
        )
    finally:
        await conn.close()
    return [row["client_id"] for row in rows]


class Server:
    """One ``python -m server serve`` process; its log goes to a file for post-mortems."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.base = f"http://127.0.0.1:{env['OFFICEHOURS_PORT']}"
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server",
                "serve",
                env=self.env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=out,
            )
        async with aiohttp.ClientSession() as http, asyncio.timeout(STEP_SECONDS * 2):
            while True:
                assert self.process.returncode is None, self.log.read_text()[-3000:]
                try:
                    async with http.get(f"{self.base}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            async with asyncio.timeout(10):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def servers(*envs: tuple[dict[str, str], Path]) -> AsyncIterator[list[Server]]:
    started = [Server(env, log) for env, log in envs]
    try:
        await asyncio.gather(*(s.start() for s in started))
        yield started
    finally:
        await asyncio.gather(*(s.stop() for s in started), return_exceptions=True)


async def sign_in(base: str, email: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/auth/sign-in", json={"email": email, "password": PASSWORD}) as r,
    ):
        assert r.status == 200, await r.text()
        return f"officehours_session={r.cookies['officehours_session'].value}"


class Person:
    """A signed-in Socket.IO client that records what it receives."""

    def __init__(self, cookie: str) -> None:
        self.cookie = cookie
        self.events: list[tuple[str, Any]] = []
        self.client = self._new_client()

    def _new_client(self) -> Any:
        client = socketio.AsyncClient(reconnection=False)
        for name in ("office:delta", "chat:message"):
            client.on(name, lambda data, name=name: self.events.append((name, data)))
        return client

    async def connect(self, base: str) -> None:
        await self.client.connect(
            base,
            headers={"Cookie": self.cookie, "Origin": base},
            transports=["websocket"],
            wait_timeout=10,
        )

    async def reconnect(self, base: str) -> None:
        """What the browser does when its server vanished: a new connection elsewhere."""
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        self.client = self._new_client()
        await self.connect(base)

    async def call(self, event: str, payload: dict[str, Any], within: float = 5) -> Any:
        """The ack; socketio's TimeoutError if none comes ``within`` seconds."""
        return await self.client.call(event, payload, timeout=within)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()

    def statuses(self, user_id: int) -> list[str]:
        """Every status this client was told for ``user_id``, in order."""
        return [
            p["status"]
            for name, data in self.events
            if name == "office:delta"
            for p in data["people"]
            if p["user_id"] == user_id
        ]

    def deltas_of(self, user_id: int) -> list[dict[str, Any]]:
        return [
            p
            for name, data in self.events
            if name == "office:delta"
            for p in data["people"]
            if p["user_id"] == user_id
        ]

    def messages(self) -> list[dict[str, Any]]:
        return [data for name, data in self.events if name == "chat:message"]


async def readiness(base: str) -> tuple[int, dict[str, str]]:
    """``/readyz``: its status code and which checks failed."""
    async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as response:
        return response.status, (await response.json())["checks"]
