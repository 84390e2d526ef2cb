"""A server killed with SIGKILL in the middle of a stream of messages loses nothing it
acknowledged, and the client's resends after the restart store nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from server.infra.settings import Settings
from tests.cli_helpers import free_port, process_env, seed_office
from tests.conftest import PASSWORD, Backend

MESSAGES = 150
IN_FLIGHT = 8


def env_for(tmp_path: Path, backend: Backend, port: int) -> dict[str, str]:
    return process_env(
        tmp_path / "var",
        port,
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        secret_key="k" * 40,
        log_level="WARNING",
        chat_burst="10000",
        chat_per_second="10000",
    )


async def start(env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{env['OFFICEHOURS_PORT']}"
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(30):
            while True:
                try:
                    async with http.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            return process
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)


async def connect(base: str, cookie: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        base, headers={"Cookie": cookie, "Origin": base}, transports=["websocket"], wait_timeout=10
    )
    return client


async def test_sigkill_mid_stream_loses_no_acknowledged_message(
    tmp_path: Path, backend: Backend
) -> None:
    port = free_port()
    env = env_for(tmp_path, backend, port)
    ids, _ = await seed_office(Settings.from_env(env), ("alice", "bob"))
    base = f"http://127.0.0.1:{port}"
    server = await start(env)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{base}/api/auth/sign-in",
                json={"email": "alice@twin.example", "password": PASSWORD},
            ) as response,
        ):
            assert response.status == 200
            cookie = f"officehours_session={response.cookies['officehours_session'].value}"
        client = await connect(base, cookie)
        opened = await client.call("chat:open_direct", {"user_ids": [ids["bob"]]}, timeout=5)
        conversation = opened["conversation"]["id"]

        acked: dict[str, int] = {}  # client id -> message id
        sent: list[str] = []
        window = asyncio.Semaphore(IN_FLIGHT)
        enough = asyncio.Event()

        async def send(i: int) -> None:
            client_id = f"m{i:04d}"
            sent.append(client_id)
            async with window:
                try:
                    ack = await client.call(
                        "chat:send",
                        {
                            "conversation_id": conversation,
                            "client_id": client_id,
                            "body": f"message {i}",
                        },
                        timeout=3,
                    )
                except (
                    socketio.exceptions.TimeoutError,
                    socketio.exceptions.BadNamespaceError,
                    socketio.exceptions.DisconnectedError,
                ):
                    return
                if ack.get("ok"):
                    acked[client_id] = ack["message"]["id"]
                    if len(acked) >= MESSAGES // 3:
                        enough.set()

        async def kill_when_enough() -> None:
            await enough.wait()
            server.send_signal(signal.SIGKILL)

        killer = asyncio.create_task(kill_when_enough())
        await asyncio.gather(*[send(i) for i in range(MESSAGES)], return_exceptions=True)
        await killer
        await server.wait()
        with_ack_before_crash = dict(acked)
        assert 0 < len(with_ack_before_crash) < MESSAGES, "the kill must land mid-stream"
        with contextlib.suppress(Exception):  # the server is gone; the socket is dead
            await client.disconnect()

        server = await start(env)
        client = await connect(base, cookie)
        # Resend everything not acknowledged, and a few that were, as a client that lost
        # acks would.
        unacked = [c for c in sent if c not in acked]
        resend = unacked + sorted(with_ack_before_crash)[:5]
        for client_id in resend:
            ack = await client.call(
                "chat:send",
                {
                    "conversation_id": conversation,
                    "client_id": client_id,
                    "body": f"message {int(client_id[1:])}",
                },
                timeout=5,
            )
            assert ack["ok"] is True, ack
            if client_id in with_ack_before_crash:
                assert ack["message"]["id"] == with_ack_before_crash[client_id]
            acked[client_id] = ack["message"]["id"]

        history: list[dict[str, Any]] = []
        before = None
        while True:
            payload: dict[str, Any] = {"conversation_id": conversation, "limit": 100}
            if before is not None:
                payload["before_seq"] = before
            page = await client.call("chat:history", payload, timeout=5)
            history = page["messages"] + history
            if not page["has_more"]:
                break
            before = page["messages"][0]["seq"]
        await client.disconnect()
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()

    client_ids = [m["client_id"] for m in history]
    assert sorted(client_ids) == sorted(set(sent))  # every message exactly once
    assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
    stored = {m["client_id"]: m["id"] for m in history}
    for client_id, message_id in with_ack_before_crash.items():
        assert stored[client_id] == message_id  # acknowledged before the crash, kept
