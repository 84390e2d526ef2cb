"""Socket.IO connections: authenticated by the session cookie, Origin-checked, size-capped."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestClient

from server.http.keys import METRICS
from tests.conftest import ORIGIN, Office, RealtimeClient, session_cookie, sign_in


async def test_unauthenticated_connect_is_refused_with_a_clear_error(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    rt: RealtimeClient = realtime()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await rt.connect(client, cookie=None)
    assert rt.connect_error == {
        "message": "sign in first",
        "data": {"code": "unauthorized", "message": "sign in first"},
    }

    forged: RealtimeClient = realtime()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await forged.connect(client, cookie="officehours_session=forged-token-value")
    assert forged.connect_error["data"]["code"] == "unauthorized"
    assert client.app[METRICS].realtime_connections.value() == 0


async def test_signed_in_connection_knows_who_it_is(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    await sign_in(client, "alice@acme.example")
    rt: RealtimeClient = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    ack = await rt.call("whoami", {})
    assert ack == {
        "ok": True,
        "roles": ["member"],
        "user": {"id": office.alice.id, "display_name": "Alice", "org_id": office.org.id},
    }
    assert client.app[METRICS].realtime_connections.value() == 1


async def test_polling_transport_is_authenticated_too(
    client: TestClient[Any, Any], office: Office
) -> None:
    """Engine.IO long-polling, spoken by hand: open, then connect to the namespace."""

    async def namespace_connect(cookie: str | None) -> str:
        headers = {"Origin": ORIGIN, **({"Cookie": cookie} if cookie else {})}
        opened = await client.get("/socket.io/?EIO=4&transport=polling", headers=headers)
        assert opened.status == 200
        sid = json.loads((await opened.text())[1:])["sid"]
        url = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        assert (await client.post(url, data="40", headers=headers)).status == 200
        return await (await client.get(url, headers=headers)).text()

    refused = await namespace_connect(None)
    assert refused.startswith("44") and '"code":"unauthorized"' in refused.replace(" ", "")
    await sign_in(client, "bob@acme.example")
    accepted = await namespace_connect(session_cookie(client))
    assert accepted.startswith("40{") and '"sid"' in accepted


async def test_invalid_events_get_error_acks_and_the_connection_survives(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    await sign_in(client, "alice@acme.example")
    rt: RealtimeClient = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    unknown_field = await rt.call("whoami", {"user_id": 1})
    assert unknown_field["ok"] is False and unknown_field["error"]["code"] == "invalid"
    assert "user_id" in unknown_field["error"]["message"]
    not_object = await rt.call("whoami", "hello")
    assert not_object == {
        "ok": False,
        "error": {"code": "invalid", "message": "the payload must be an object"},
    }
    assert (await rt.call("no_such_event", {}))["error"]["code"] == "not_found"
    assert (await rt.call("whoami", {}))["ok"] is True


async def test_foreign_origin_is_refused_for_websocket_and_polling(
    client: TestClient[Any, Any], office: Office
) -> None:
    await sign_in(client, "alice@acme.example")
    cookie = session_cookie(client)
    for transport in ("polling", "websocket"):
        response = await client.get(
            f"/socket.io/?EIO=4&transport={transport}",
            headers={
                "Origin": "https://evil.example",
                "Cookie": cookie,
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert response.status == 400, transport
        assert "not an accepted origin" in await response.text()
    allowed = await client.get(
        "/socket.io/?EIO=4&transport=polling", headers={"Origin": ORIGIN, "Cookie": cookie}
    )
    assert allowed.status == 200


async def test_without_an_origin_header_only_a_session_gets_in(
    client: TestClient[Any, Any], office: Office
) -> None:
    """A request with no Origin at all is not a browser's (browsers always name it on
    WebSockets and unsafe requests): it is not refused for that, and gains nothing by it — the
    connection still needs a session, an unsafe HTTP request still needs the CSRF token."""

    async def namespace_connect(cookie: str | None) -> str:
        headers = {"Cookie": cookie} if cookie else {}
        opened = await client.get("/socket.io/?EIO=4&transport=polling", headers=headers)
        assert opened.status == 200
        sid = json.loads((await opened.text())[1:])["sid"]
        url = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        assert (await client.post(url, data="40", headers=headers)).status == 200
        return await (await client.get(url, headers=headers)).text()

    refused = await namespace_connect(None)
    assert '"code":"unauthorized"' in refused.replace(" ", "")
    await sign_in(client, "alice@acme.example")
    cookie = session_cookie(client)
    assert (await namespace_connect(cookie)).startswith("40{")
    no_token = await client.post(
        "/api/me/password",
        json={"current_password": "x", "new_password": "y"},
        headers={"Cookie": cookie},
    )
    assert no_token.status == 403
    assert "X-CSRF-Token" in (await no_token.json())["error"]["message"]


async def test_connection_is_refused_after_sign_out(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    csrf = await sign_in(client, "alice@acme.example")
    cookie = session_cookie(client)
    await client.post("/api/auth/sign-out", headers={"X-CSRF-Token": csrf})
    rt: RealtimeClient = realtime()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await rt.connect(client, cookie=cookie)
    assert rt.connect_error["data"]["code"] == "unauthorized"


async def test_oversized_messages_are_not_processed(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    await sign_in(client, "alice@acme.example")
    rt: RealtimeClient = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    with pytest.raises(
        (
            socketio.exceptions.TimeoutError,
            socketio.exceptions.BadNamespaceError,
            aiohttp.ClientError,
        )
    ):
        await rt.sio.call("whoami", {"padding": "x" * 70_000}, timeout=3)
    for _ in range(50):
        if not rt.sio.connected:
            break
        await asyncio.sleep(0.05)
    assert not rt.sio.connected
    assert client.app[METRICS].realtime_events.value("whoami") == 0


async def test_websocket_frames_are_not_compressed(
    client: TestClient[Any, Any], office: Office
) -> None:
    """Browsers offer permessage-deflate; the server declines it (a zlib context per
    connection and per-recipient compression cost far more than small events save)."""
    await sign_in(client, "alice@acme.example")
    opened = await client.get(
        "/socket.io/?EIO=4&transport=polling",
        headers={"Origin": ORIGIN, "Cookie": session_cookie(client)},
    )
    sid = json.loads((await opened.text())[1:])["sid"]
    ws = await client.ws_connect(
        f"/socket.io/?EIO=4&transport=websocket&sid={sid}",
        headers={"Origin": ORIGIN, "Cookie": session_cookie(client)},
        compress=15,
    )
    try:
        assert ws.compress == 0
    finally:
        await ws.close()
