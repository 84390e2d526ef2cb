"""The canary: one unique string through every content path that exists, then a search for it
in every dashboard answer, every export, every analytics row, the audit log and every log line.

Content paths today: chat messages (room and direct), their edits, status text, the names of
a floor and a room, and a guest's display name. (Notes, goals and feedback join this test
with the mentoring feature.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server.analytics import read
from server.analytics.metrics import Metric
from server.analytics.rollup import fold_pending
from server.analytics.tables import AnalyticsEvent
from server.audit.tables import AuditEntry
from server.db.models import Group, User
from server.db.schema import metadata
from server.http.keys import DB, SETTINGS
from server.infra.clock import FakeClock
from server.infra.log import JsonFormatter, configure
from tests.conftest import ORIGIN, Office, RealtimeClient, session_cookie, sign_in

CANARY = f"canary{uuid.uuid4().hex}"


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("json", "DEBUG")  # the operator's most verbose setting
    root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    yield caplog
    root.handlers[:] = handlers
    root.setLevel(level)


async def ok(person: RealtimeClient, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    ack = await person.call(event, payload)
    assert ack["ok"], (event, ack)
    return dict(ack)


async def test_content_never_reaches_dashboards_exports_analytics_or_logs(
    client: TestClient[Any, Any],
    office: Office,
    clock: FakeClock,
    realtime: Any,
    captured_logs: pytest.LogCaptureFixture,
) -> None:
    async with client.app[DB]() as session:
        unit = await session.scalar(select(Group.unit_id).where(Group.id == office.group_ids[0]))
        for user in (office.alice, office.bob):
            row = await session.get(User, user.id)
            assert row is not None
    # A floor and a room named with the canary (admin).
    csrf = await sign_in(client, "admin@acme.example")
    headers = {"X-CSRF-Token": csrf, "Origin": ORIGIN}
    floor = await client.post(
        "/api/office/floors",
        json={"name": f"{CANARY} floor", "width": 400, "height": 300},
        headers=headers,
    )
    assert floor.status == 201, await floor.text()
    floor_id = (await floor.json())["id"]
    room = await client.post(
        f"/api/office/floors/{floor_id}/rooms",
        json={
            "name": f"{CANARY} room",
            "kind": "meeting_room",
            "x": 10,
            "y": 10,
            "w": 100,
            "h": 100,
            "capacity": 10,
        },
        headers=headers,
    )
    assert room.status == 201, await room.text()
    room_id = (await room.json())["id"]

    # Alice and Bob meet in it, chat, edit, and set a status text.
    tabs: dict[str, RealtimeClient] = {}
    for email in ("alice@acme.example", "bob@acme.example"):
        await sign_in(client, email)
        tabs[email] = realtime()
        await tabs[email].connect(client, cookie=session_cookie(client))
    alice, bob = tabs["alice@acme.example"], tabs["bob@acme.example"]
    await ok(alice, "room:enter", {"room_id": room_id})
    await ok(bob, "room:enter", {"room_id": room_id})
    await ok(alice, "presence:set", {"status": "busy", "text": f"{CANARY} status"})
    chat = await ok(alice, "chat:room", {"room_id": room_id})
    sent = await ok(
        alice,
        "chat:send",
        {"conversation_id": chat["conversation"]["id"], "client_id": "c1", "body": CANARY},
    )
    await ok(alice, "chat:edit", {"message_id": sent["message"]["id"], "body": f"{CANARY} edit"})
    direct = await ok(bob, "chat:open_direct", {"user_ids": [office.alice.id]})
    await ok(
        bob,
        "chat:send",
        {"conversation_id": direct["conversation"]["id"], "client_id": "c2", "body": CANARY},
    )
    # A guest comes in by link with the canary as display name.
    await sign_in(client, "alice@acme.example")
    csrf = (await (await client.get("/api/auth/session")).json())["csrf_token"]
    link = await client.post(
        f"/api/office/rooms/{room_id}/guest-links",
        json={"requires_admission": False},
        headers={"X-CSRF-Token": csrf},
    )
    assert link.status == 201, await link.text()
    token = (await link.json())["token"]
    client.session.cookie_jar.clear()
    joined = await client.post(
        f"/api/guest-links/{token}/join",
        json={"display_name": f"{CANARY} guest"},
        headers={"Origin": ORIGIN},
    )
    assert joined.status == 201, await joined.text()
    guest = realtime()
    await guest.connect(client, cookie=session_cookie(client))
    clock.advance(600)
    await ok(bob, "room:leave", {})
    await ok(alice, "room:leave", {})
    for tab in (guest, alice, bob):
        await tab.close()
    # Closing records connected time; wait for it so nothing is in flight at teardown.
    async with asyncio.timeout(5):
        while True:
            async with client.app[DB]() as session:
                closed = await session.scalar(
                    select(func.count())
                    .select_from(AnalyticsEvent)
                    .where(AnalyticsEvent.metric == Metric.REALTIME_SECONDS)
                )
            if (closed or 0) >= 2:
                break
            await asyncio.sleep(0.02)
    await fold_pending(client.app[DB], secret=client.app[SETTINGS].secret_key)

    # Everything an admin can get out of the dashboards, with per-person activity turned on.
    csrf = await sign_in(client, "admin@acme.example")
    turned_on = await client.put(
        "/api/org/analytics-policy",
        json={"per_person_activity": True},
        headers={"X-CSRF-Token": csrf},
    )
    assert turned_on.status == 200
    answers: list[str] = [await (await client.get("/api/admin/dashboards")).text()]
    for scope in ("org", f"unit:{unit}", *(f"group:{g}" for g in office.group_ids)):
        query = f"scope={scope}&granularity=day&from=2026-01-01&to=2026-01-06"
        for dashboard in read.Dashboard:
            if dashboard is read.Dashboard.PEOPLE:
                paths = ["/api/admin/people", "/api/admin/people/csv"]
            else:
                paths = [
                    f"/api/admin/dashboards/{dashboard}",
                    f"/api/admin/dashboards/{dashboard}/csv",
                ]
            for path in paths:
                response = await client.get(f"{path}?{query}")
                assert response.status == 200, (path, scope, await response.text())
                answers.append(await response.text())
    await sign_in(client, "alice@acme.example")
    answers.append(await (await client.get("/api/me/analytics")).text())
    assert any('"messages"' in a for a in answers)  # the dashboards did answer

    # Every row of every analytics table, and the audit log.
    dumped: list[str] = []
    async with client.app[DB]() as session:
        for name, table in metadata.tables.items():
            if name.startswith("analytics_"):
                for row in (await session.execute(select(table))).all():
                    dumped.append(repr(tuple(row)))
        for entry in (await session.scalars(select(AuditEntry))).all():
            dumped.append(json.dumps(entry.detail))
    assert any("meeting_room" in row for row in dumped)  # the room's kind, not its name

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in captured_logs.records]
    assert any("auth.signed_in" in line for line in lines)  # logs were captured

    for where, texts in (("answers", answers), ("analytics rows", dumped), ("logs", lines)):
        leaks = [text for text in texts if CANARY in text]
        assert not leaks, f"the canary reached {where}: {leaks[:1]}"

    # The canary did go through the content paths (it is in the content stores).
    async with client.app[DB]() as session:
        from server.content.messages import Message

        bodies = (await session.scalars(select(Message.body))).all()
    assert any(body and CANARY in body for body in bodies)
