"""The ``officehours`` command as an operator runs it: a real process on a real port."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp

from tests.cli_helpers import free_port, process_env
from tests.conftest import Backend


def command_env(tmp_path: Path, backend: Backend, port: int) -> dict[str, str]:
    return process_env(
        tmp_path / "var",
        port,
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        log_format="json",
    )


async def test_demo_seeds_prints_the_way_in_and_serves(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "demo",
        env=command_env(tmp_path, backend, port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        printed = ""
        # Seeding folds and publishes eight weeks of history first (30-40 s on SQLite).
        async with asyncio.timeout(120):
            while "Guest link" not in printed:
                line = await process.stdout.readline()  # type: ignore[union-attr]
                assert line, "demo exited before printing a guest link"
                printed += line.decode()
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/" in printed
        email = re.search(r"Sign in as\s+(\S+)", printed).group(1)  # type: ignore[union-attr]
        password = re.search(
            r"Password \(every demo person\)\s+(\S+)",  # type: ignore[union-attr]
            printed,
        ).group(1)
        token = re.search(r"/join/(\S+)", printed).group(1)  # type: ignore[union-attr]

        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(30):
                while True:
                    try:
                        async with http.get(f"{base}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
            async with http.post(
                f"{base}/api/auth/sign-in", json={"email": email, "password": password}
            ) as r:
                assert r.status == 200
                assert "org_admin" in {role["role"] for role in (await r.json())["roles"]}
            async with http.get(f"{base}/api/guest-links/{token}") as r:
                assert r.status == 200
                assert (await r.json())["room"] == "Lobby"
            async with http.get(f"{base}/join/{token}") as r:
                assert r.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(15):
            await process.wait()


async def create_admin(env: dict[str, str], password: str, *extra: str) -> tuple[int, str, str]:
    """Run `officehours create-admin` with the password on standard input."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "create-admin",
        "--email",
        "root@corp.example",
        "--name",
        "Root",
        "--org",
        "corp",
        *extra,
        "--password-stdin",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(password.encode() + b"\n")
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_create_admin_then_sign_in(tmp_path: Path, backend: Backend) -> None:
    env = command_env(tmp_path, backend, free_port())
    code, _, err = await create_admin(env, "password")
    assert code == 1 and "at least 10 characters" in err

    code, out, err = await create_admin(env, "a-long-unusual-phrase", "--org-name", "Corp")
    assert code == 0, err
    assert "root@corp.example is an admin of corp" in out

    from server.app import create_app
    from server.infra.settings import Settings

    app = create_app(Settings.from_env(env))
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as client:
        r = await client.post(
            "/api/auth/sign-in",
            json={"email": "root@corp.example", "password": "a-long-unusual-phrase"},
        )
        assert r.status == 200
        assert {x["role"] for x in (await r.json())["roles"]} == {"org_admin", "member"}
