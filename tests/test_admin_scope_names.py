"""The dashboard index names the scopes its caller may open (the page's scope picker and
column headings), and only those."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.db.models import Group, User
from server.http.keys import DB
from server.people import accounts
from server.people.identity import Role
from tests.conftest import Office, sign_in


async def test_an_org_admin_gets_every_unit_and_group_by_name(
    client: TestClient[Any, Any], office: Office
) -> None:
    g1, g2 = office.group_ids
    async with client.app[DB]() as session:
        unit = await session.scalar(select(Group.unit_id).where(Group.id == g1))
    await sign_in(client, "admin@acme.example")
    body = await (await client.get("/api/admin/dashboards")).json()
    assert body["scope_names"] == {
        "org": "Acme",
        f"unit:{unit}": "Engineering",
        f"group:{g2}": "Design",
        f"group:{g1}": "Platform",
    }
    assert list(body["scope_names"]) == ["org", f"unit:{unit}", f"group:{g2}", f"group:{g1}"]
    # Nothing of the other organization.
    assert "Other" not in (await (await client.get("/api/admin/dashboards")).text())


async def test_a_group_lead_gets_only_their_group(
    client: TestClient[Any, Any], office: Office
) -> None:
    g1, _ = office.group_ids
    async with client.app[DB]() as session:
        alice = await session.get(User, office.alice.id)
        assert alice is not None
        await accounts.grant(session, alice, Role.GROUP_LEAD, group_id=g1)
        await session.commit()
    await sign_in(client, "alice@acme.example")
    body = await (await client.get("/api/admin/dashboards")).json()
    assert body["scopes"] == [f"group:{g1}"]
    assert body["scope_names"] == {f"group:{g1}": "Platform"}
