"""Editing the floor plan over HTTP, as admins, owners and members."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.db.models import Room
from server.http.keys import DB
from tests.conftest import Office, session_cookie, sign_in


async def layout(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get("/api/office/layout")
    assert response.status == 200
    return dict(await response.json())


async def test_members_read_and_admins_edit_the_floor_plan(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    csrf = await sign_in(client, "alice@acme.example")
    plan = await layout(client)
    floor_id = plan["floors"][0]["id"]
    assert len(plan["rooms"]) == 9
    new_room = {
        "name": "Quiet room",
        "kind": "private_office",
        "x": 52,
        "y": 0,
        "w": 6,
        "h": 6,
        "capacity": 2,
    }
    refused = await client.post(
        f"/api/office/floors/{floor_id}/rooms", json=new_room, headers={"X-CSRF-Token": csrf}
    )
    assert refused.status == 403

    csrf = await sign_in(client, "admin@acme.example")
    headers = {"X-CSRF-Token": csrf}
    watcher = realtime()
    await watcher.connect(client, cookie=session_cookie(client))
    layouts: list[Any] = []
    watcher.sio.on("office:layout", lambda data: layouts.append(data))

    too_far = await client.post(
        f"/api/office/floors/{floor_id}/rooms", json=new_room | {"x": 60}, headers=headers
    )
    assert too_far.status == 400
    assert "beyond the floor" in (await too_far.json())["error"]["message"]
    overlap = await client.post(
        f"/api/office/floors/{floor_id}/rooms", json=new_room | {"x": 0}, headers=headers
    )
    assert overlap.status == 400 and "overlap" in (await overlap.json())["error"]["message"]

    floor = await client.post(
        "/api/office/floors",
        json={"name": "First floor", "width": 60, "height": 40},
        headers=headers,
    )
    assert floor.status == 201
    made = await client.post(
        f"/api/office/floors/{(await floor.json())['id']}/rooms",
        json=new_room | {"x": 0},
        headers=headers,
    )
    assert made.status == 201, await made.text()
    room = await made.json()
    assert room["name"] == "Quiet room" and room["door"] == "open"

    def shown() -> bool:
        return any(r["name"] == "Quiet room" for seen in layouts for r in seen["rooms"])

    for _ in range(100):  # everyone connected is shown the new plan
        if shown():
            break
        await asyncio.sleep(0.02)
    assert shown()
    assert len((await layout(client))["floors"]) == 2


async def test_owners_may_change_only_their_door(
    client: TestClient[Any, Any], office: Office
) -> None:
    async with client.app[DB]() as session:
        room_id = await session.scalar(
            select(Room.id).where(Room.org_id == office.org.id, Room.name == "Office 1")
        )
    csrf = await sign_in(client, "admin@acme.example")
    owners = await client.put(
        f"/api/office/rooms/{room_id}/owners",
        json={"user_ids": [office.alice.id]},
        headers={"X-CSRF-Token": csrf},
    )
    assert owners.status == 200 and (await owners.json())["owners"] == [office.alice.id]
    foreign = await client.put(
        f"/api/office/rooms/{room_id}/owners",
        json={"user_ids": [office.outsider.id]},
        headers={"X-CSRF-Token": csrf},
    )
    assert foreign.status == 400

    csrf = await sign_in(client, "alice@acme.example")
    headers = {"X-CSRF-Token": csrf}
    locked = await client.patch(
        f"/api/office/rooms/{room_id}", json={"door": "locked"}, headers=headers
    )
    assert locked.status == 200 and (await locked.json())["door"] == "locked"
    renamed = await client.patch(
        f"/api/office/rooms/{room_id}", json={"name": "Mine"}, headers=headers
    )
    assert renamed.status == 403

    csrf = await sign_in(client, "bob@acme.example")
    not_owner = await client.patch(
        f"/api/office/rooms/{room_id}", json={"door": "open"}, headers={"X-CSRF-Token": csrf}
    )
    assert not_owner.status == 403
    assert (
        await client.patch(
            "/api/office/rooms/999999", json={"door": "open"}, headers={"X-CSRF-Token": csrf}
        )
    ).status == 404
    assert (
        await client.patch(
            f"/api/office/rooms/{room_id}", json={"door": "ajar"}, headers={"X-CSRF-Token": csrf}
        )
    ).status == 400


async def test_an_occupied_room_cannot_be_removed(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    async with client.app[DB]() as session:
        room_id = await session.scalar(
            select(Room.id).where(Room.org_id == office.org.id, Room.name == "Meeting room A")
        )
    await sign_in(client, "bob@acme.example")
    bob = realtime()
    await bob.connect(client, cookie=session_cookie(client))
    assert (await bob.call("room:enter", {"room_id": room_id}))["ok"] is True

    csrf = await sign_in(client, "admin@acme.example")
    busy = await client.delete(f"/api/office/rooms/{room_id}", headers={"X-CSRF-Token": csrf})
    assert busy.status == 409
    await bob.call("room:leave", {})
    gone = await client.delete(f"/api/office/rooms/{room_id}", headers={"X-CSRF-Token": csrf})
    assert gone.status == 204
    assert room_id not in {r["id"] for r in (await layout(client))["rooms"]}
    again = await bob.call("room:enter", {"room_id": room_id})
    assert again["error"]["code"] == "not_found"
