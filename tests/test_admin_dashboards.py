"""The admin sub-application over real HTTP: roles, audit entries, CSV, per-person activity
behind the policy, and "what admins can see about me"."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.analytics.metrics import Channel, Metric
from server.analytics.publish import publish_due
from server.analytics.record import Subject, record
from server.analytics.rollup import fold_pending
from server.audit.actions import AuditAction
from server.audit.log import entries
from server.db.models import Group, User
from server.http.keys import DB, SETTINGS
from server.infra.clock import FakeClock
from server.people import accounts
from server.people.identity import Role
from tests.conftest import Office, sign_in


async def seed(client: TestClient[Any, Any], office: Office, clock: FakeClock) -> dict[str, int]:
    """Alice and five others in group 1 send room messages; Bob and five others in group 2
    sign in. Returns the ids of the groups and their unit."""
    g1, g2 = office.group_ids
    async with client.app[DB]() as session:
        unit = await session.scalar(select(Group.unit_id).where(Group.id == g1))
        assert unit is not None
        for group, named, metric in (
            (g1, office.alice, Metric.MESSAGE_SENT),
            (g2, office.bob, Metric.SIGNED_IN),
        ):
            people = [named.analytics_id, *(uuid.uuid4() for _ in range(5))]
            for person in people:
                await record(
                    session,
                    metric,
                    Subject(office.org.id, unit, group, person),
                    at=clock.now(),
                    channel=Channel.ROOM if metric is Metric.MESSAGE_SENT else None,
                )
        await session.commit()
    # The analytics job once the week has ended: fold, then publish the closed days and week.
    clock.advance((datetime(2026, 1, 12, 0, 10, tzinfo=UTC) - clock.now()).total_seconds())
    await fold_pending(client.app[DB], secret=client.app[SETTINGS].secret_key)
    await publish_due(client.app[DB], clock.now(), client.app[SETTINGS].analytics_min_group_size)
    return {"g1": g1, "g2": g2, "unit": unit}


async def make_lead(client: TestClient[Any, Any], user: User, group_id: int) -> None:
    async with client.app[DB]() as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        await accounts.grant(session, fresh, Role.GROUP_LEAD, group_id=group_id)
        await session.commit()


async def test_org_admin_views_and_exports_and_each_look_is_audited(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    ids = await seed(client, office, clock)
    await sign_in(client, "admin@acme.example")
    listing = await client.get("/api/admin/dashboards")
    assert listing.status == 200
    body = await listing.json()
    assert "messages" in body["dashboards"] and body["scopes"] == ["org"]
    assert body["min_group_size"] == 5 and body["per_person_activity"] is False

    response = await client.get(f"/api/admin/dashboards/messages?scope=group:{ids['g1']}")
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    table = await response.json()
    # By default the last four ISO weeks, whole: up to the Sunday of this week, which is
    # not over, so not published yet ("pending"); last week's figures are.
    assert table["scope"] == f"group:{ids['g1']}" and table["to"] == "2026-01-18"
    this_week, last_week = table["rows"][-1], table["rows"][-2]
    assert this_week["pending"] and this_week["total"] == {
        "value": None,
        "suppressed": False,
        "pending": True,
    }
    assert last_week["period"] == "2026-01-05" and not last_week["pending"]

    export = await client.get(
        f"/api/admin/dashboards/messages/csv?scope=group:{ids['g1']}&granularity=day"
        "&from=2026-01-05&to=2026-01-05"
    )
    assert export.status == 200 and export.content_type == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    # Six people sent 6 room messages; the other channels cover nobody (hidden: 0 and 1
    # must look alike). Group 1 is also the whole organization's messages: showing its 6
    # would show that group 2 (hidden) sent none, so the whole table is hidden. No line of
    # totals down the periods (two windows could be subtracted).
    assert list(csv.reader(io.StringIO(await export.text()))) == [
        ["period", "room", "direct", "group", "pair", "total"],
        ["2026-01-05", *["suppressed"] * 5],
    ]

    async with client.app[DB]() as session:
        logged = await entries(session, office.org.id)
    exported, viewed = logged[0], logged[1]
    assert viewed.action is AuditAction.DASHBOARD_VIEWED and viewed.actor_id == office.admin.id
    assert viewed.detail["dashboard"] == "messages"
    assert viewed.detail["scope"] == f"group:{ids['g1']}"
    assert viewed.detail["group_id"] == ids["g1"] and viewed.detail["unit_id"] == ids["unit"]
    assert (viewed.detail["from"], viewed.detail["to"]) == ("2025-12-22", "2026-01-18")
    assert exported.action is AuditAction.DASHBOARD_EXPORTED
    assert (exported.detail["from"], exported.detail["granularity"]) == ("2026-01-05", "day")


async def test_roles_and_organizations_bound_what_is_seen(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    ids = await seed(client, office, clock)
    assert (await client.get("/api/admin/dashboards")).status == 401
    await sign_in(client, "alice@acme.example")  # a member
    for path in ("/api/admin/dashboards", "/api/admin/dashboards/active"):
        response = await client.get(path)
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "forbidden"
    await make_lead(client, office.alice, ids["g1"])
    lead = await client.get("/api/admin/dashboards/active")
    assert lead.status == 200 and (await lead.json())["scope"] == f"group:{ids['g1']}"
    for scope in (f"group:{ids['g2']}", f"unit:{ids['unit']}", "org"):
        response = await client.get(f"/api/admin/dashboards/active?scope={scope}")
        assert response.status == 403, scope
    await sign_in(client, "eve@other.example")
    async with client.app[DB]() as session:
        eve = await session.get(User, office.outsider.id)
        assert eve is not None
        await accounts.grant(session, eve, Role.ORG_ADMIN)
        await session.commit()
    for scope in (f"group:{ids['g1']}", f"unit:{ids['unit']}"):
        response = await client.get(f"/api/admin/dashboards/active?scope={scope}")
        assert response.status == 404, scope
    async with client.app[DB]() as session:
        logged = await entries(session, office.org.id)
    # Only the lead's own view was shown, so only it was logged; refusals show nothing.
    assert [(e.actor_id, e.detail["scope"]) for e in logged] == [
        (office.alice.id, f"group:{ids['g1']}")
    ]


async def test_bad_queries_are_refused(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    await seed(client, office, clock)
    await sign_in(client, "admin@acme.example")
    for query, status in (
        ("/dashboards/nothing", 404),
        ("/dashboards/people", 404),
        ("/dashboards/active?scope=everything", 400),
        ("/dashboards/active?colour=blue", 400),
        ("/dashboards/active?from=2026-01-05&to=2026-01-01", 400),
        ("/dashboards/active?from=2024-01-01&to=2026-01-01", 400),
        ("/dashboards/active?granularity=year", 400),
        ("/dashboards/active?from=yesterday", 400),
    ):
        response = await client.get("/api/admin" + query)
        assert response.status == status, (query, await response.text())


async def test_per_person_activity_only_with_the_policy(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    ids = await seed(client, office, clock)
    csrf = await sign_in(client, "alice@acme.example")
    refused = await client.put(
        "/api/org/analytics-policy",
        json={"per_person_activity": True},
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status == 403
    csrf = await sign_in(client, "admin@acme.example")
    assert (await client.get(f"/api/admin/people?scope=group:{ids['g1']}")).status == 403
    assert (await (await client.get("/api/org/analytics-policy")).json()) == {
        "per_person_activity": False
    }
    turned_on = await client.put(
        "/api/org/analytics-policy",
        json={"per_person_activity": True},
        headers={"X-CSRF-Token": csrf},
    )
    assert turned_on.status == 200, await turned_on.text()
    people = await client.get(f"/api/admin/people?scope=group:{ids['g1']}")
    assert people.status == 200
    rows = (await people.json())["people"]
    assert len(rows) == 6
    alice = next(r for r in rows if r["user_id"] == office.alice.id)
    assert alice == {
        "user_id": office.alice.id,
        "display_name": "Alice",
        "events": 1,
        "messages": 1,
        "meetings": 0,
        "last_active": "2026-01-05",
    }
    assert sum(1 for r in rows if r["user_id"] is None) == 5  # pseudonyms nobody holds
    export = await client.get(f"/api/admin/people/csv?scope=group:{ids['g1']}")
    assert export.status == 200
    assert (await export.text()).splitlines()[0] == (
        "user_id,display_name,events,messages,meetings,last_active"
    )
    async with client.app[DB]() as session:
        logged = await entries(session, office.org.id)
    assert [e.action for e in logged] == [
        AuditAction.DASHBOARD_EXPORTED,
        AuditAction.DASHBOARD_VIEWED,
        AuditAction.POLICY_CHANGED,
    ]
    assert logged[1].detail["dashboard"] == "people"


async def test_what_admins_can_see_about_me(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    ids = await seed(client, office, clock)
    await sign_in(client, "admin@acme.example")
    assert (await client.get(f"/api/admin/dashboards/messages?scope=group:{ids['g1']}")).ok
    assert (await client.get(f"/api/admin/dashboards/active?scope=group:{ids['g2']}")).ok
    clock.advance(60)
    assert (await client.get("/api/admin/dashboards/messages/csv?scope=org")).ok

    await sign_in(client, "alice@acme.example")
    response = await client.get("/api/me/analytics")
    assert response.status == 200
    report = await response.json()
    scopes = sorted(["org", f"unit:{ids['unit']}", f"group:{ids['g1']}"])
    assert report["figures"] == [
        {"dashboard": "active", "week": "2026-01-05", "scopes": scopes},
        {"dashboard": "messages", "week": "2026-01-05", "scopes": scopes},
    ]
    looks = [(x["action"], x["dashboard"], x["scope"]) for x in report["looks"]]
    # Alice sent messages in group 1: the group's and the organization's messages figures
    # include her; the active figure of group 2 does not.
    assert looks == [
        ("viewed", "messages", f"group:{ids['g1']}"),
        ("exported", "messages", "org"),
    ]
    assert report["looks"][0]["admin"] == {"id": office.admin.id, "display_name": "Ada Admin"}

    await sign_in(client, "bob@acme.example")
    bob = await (await client.get("/api/me/analytics")).json()
    assert [x["dashboard"] for x in bob["figures"]] == ["active"]
    assert [(x["dashboard"], x["scope"]) for x in bob["looks"]] == [
        ("active", f"group:{ids['g2']}")
    ]


async def test_me_lists_figures_only_once_published(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    """What happened today is in no figure an admin can read yet, so /me does not list it."""
    g1, g2 = office.group_ids
    async with client.app[DB]() as session:
        unit = await session.scalar(select(Group.unit_id).where(Group.id == g1))
        for group, people in (
            (g1, [office.alice.analytics_id, *(uuid.uuid4() for _ in range(5))]),
            (g2, [uuid.uuid4() for _ in range(7)]),
        ):
            for person in people:
                await record(
                    session,
                    Metric.MESSAGE_SENT,
                    Subject(office.org.id, unit, group, person),
                    at=clock.now(),
                    channel=Channel.ROOM,
                )
        await session.commit()
    await fold_pending(client.app[DB], secret=client.app[SETTINGS].secret_key)
    await publish_due(client.app[DB], clock.now(), 5)
    await sign_in(client, "alice@acme.example")
    assert (await (await client.get("/api/me/analytics")).json())["figures"] == []
    clock.advance(7 * 86400)
    await fold_pending(client.app[DB], secret=client.app[SETTINGS].secret_key)
    await publish_due(client.app[DB], clock.now(), 5)
    figures = (await (await client.get("/api/me/analytics")).json())["figures"]
    assert [f["dashboard"] for f in figures] == ["active", "messages"]
