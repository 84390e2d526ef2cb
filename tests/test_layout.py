"""Floor plans validate themselves; every new organization gets a usable default floor."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from rooms.layout import DoorState, FloorPlan, LayoutError, Rect, RoomKind, RoomPlan, default_floor
from server.http.keys import DB
from server.office.floorplans import load_floors
from tests.conftest import Office


def test_default_floor_has_every_kind_of_room() -> None:
    plan = default_floor(("Platform", "Design"))
    kinds = {room.kind for room in plan.rooms}
    assert kinds == set(RoomKind)
    assert {room.door for room in plan.rooms} == set(DoorState)
    assert [r.name for r in plan.rooms if r.kind is RoomKind.TEAM_ROOM] == ["Platform", "Design"]


@pytest.mark.parametrize(
    ("rooms", "message"),
    [
        (
            (
                RoomPlan("A", RoomKind.LOBBY, Rect(0, 0, 5, 5), 5),
                RoomPlan("B", RoomKind.LOBBY, Rect(4, 4, 5, 5), 5),
            ),
            "overlap",
        ),
        ((RoomPlan("A", RoomKind.LOBBY, Rect(15, 0, 10, 5), 5),), "beyond"),
        (
            (
                RoomPlan("A", RoomKind.LOBBY, Rect(0, 0, 5, 5), 5),
                RoomPlan("A", RoomKind.LOBBY, Rect(6, 0, 5, 5), 5),
            ),
            "two rooms",
        ),
    ],
)
def test_impossible_floors_are_refused(rooms: tuple[RoomPlan, ...], message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        FloorPlan("F", 20, 20, rooms)


def test_rooms_validate_their_own_values() -> None:
    with pytest.raises(LayoutError):
        Rect(-1, 0, 5, 5)
    with pytest.raises(LayoutError):
        RoomPlan("", RoomKind.LOBBY, Rect(0, 0, 5, 5), 5)
    with pytest.raises(LayoutError):
        RoomPlan("A", RoomKind.LOBBY, Rect(0, 0, 5, 5), 0)


async def test_new_organization_is_stored_with_its_default_floor(
    client: TestClient[Any, Any], office: Office
) -> None:
    async with client.app[DB]() as session:
        floors = await load_floors(session, office.org.id)
    assert len(floors) == 1
    assert floors[0][1] == default_floor()
