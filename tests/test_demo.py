"""The demo office as `officehours demo` seeds it: eight weeks of history that the
organization's dashboards show as figures, a small team's hidden, and a second seed that
changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server import demo
from server.analytics.tables import AnalyticsEvent, PublishedFigure
from server.http.keys import DB, SETTINGS
from server.infra.clock import FakeClock
from tests.conftest import sign_in

# Seeding publishes eight weeks (each week's disclosure check solves many linear programs).
pytestmark = pytest.mark.timeout(180)

WEEKS = "from=2025-11-10&to=2026-01-04&granularity=week"  # the 8 closed weeks before now


async def counts(client: TestClient[Any, Any]) -> tuple[int, int]:
    async with client.app[DB]() as session:
        events = await session.scalar(select(func.count()).select_from(AnalyticsEvent))
        figures = await session.scalar(select(func.count()).select_from(PublishedFigure))
    return int(events or 0), int(figures or 0)


async def test_the_demo_dashboards_show_eight_weeks_and_a_second_seed_changes_nothing(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    clock.advance(2 * 86400 + 3 * 3600)  # Wednesday 7 January 2026, noon
    office = await demo.seed(client.app[DB], client.app[SETTINGS], clock)
    assert office.people >= 40 and office.teams >= 4
    await sign_in(client, demo.demo_email("ada"), demo.DEMO_PASSWORD)

    response = await client.get(f"/api/admin/dashboards/active?scope=org&{WEEKS}")
    assert response.status == 200, await response.text()
    table = await response.json()
    assert [row["period"] for row in table["rows"]] == [
        "2025-11-10", "2025-11-17", "2025-11-24", "2025-12-01",
        "2025-12-08", "2025-12-15", "2025-12-22", "2025-12-29",
    ]  # fmt: skip
    for row in table["rows"]:
        assert isinstance(row["total"]["value"], (int, float)), row
        assert row["total"]["value"] >= 30, row
        shown = [c for c in row["cells"] if c["value"] is not None]
        assert len(shown) >= 3, row  # most teams have a figure
    # The team of three is below the minimum group size: hidden every week.
    names = (await (await client.get("/api/admin/dashboards")).json())["scope_names"]
    research = table["columns"].index(next(k for k, name in names.items() if name == "Research"))
    assert all(row["cells"][research]["suppressed"] for row in table["rows"])

    before = await counts(client)
    assert before[0] > 10_000
    again = await demo.seed(client.app[DB], client.app[SETTINGS], clock)
    assert again.org_id == office.org_id
    assert await counts(client) == before
    second = await client.get(f"/api/admin/dashboards/active?scope=org&{WEEKS}")
    assert (await second.json())["rows"] == table["rows"]
