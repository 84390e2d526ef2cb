"""The pure office domain in rooms/: who may enter, presence transitions, knocks and "get",
and the in-memory state store — without a server, database or socket."""

from __future__ import annotations

import pytest

from rooms.layout import DoorState
from rooms.occupancy import (
    Outcome,
    RoomRules,
    decide_entry,
    who_hears_a_knock,
    who_may_answer_a_knock,
)
from rooms.presence import (
    MAX_STATUS_TEXT,
    Person,
    Status,
    choose,
    connect,
    disconnect,
    go_offline,
    grace_over,
    set_idle,
)
from rooms.requests import Request, RequestKind
from rooms.store import MemoryStateStore

ALICE, BOB, CAROL = 1, 2, 3


def rules(door: DoorState, **kw: object) -> RoomRules:
    return RoomRules(room_id=7, capacity=kw.pop("capacity", 4), door=door, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("door", "occupants", "outcome"),
    [
        (DoorState.OPEN, {BOB}, Outcome.ENTER),
        (DoorState.CLOSED, set(), Outcome.ENTER),  # nobody inside to disturb
        (DoorState.CLOSED, {BOB}, Outcome.KNOCK),
        (DoorState.LOCKED, set(), Outcome.REFUSED_LOCKED),
        (DoorState.LOCKED, {BOB}, Outcome.REFUSED_LOCKED),
    ],
)
def test_the_door_decides_for_everyone_else(
    door: DoorState, occupants: set[int], outcome: Outcome
) -> None:
    assert decide_entry(rules(door), ALICE, occupants, invited=False) is outcome


def test_owners_and_invited_people_walk_through_any_door_but_not_past_capacity() -> None:
    locked = rules(DoorState.LOCKED, owners=frozenset({ALICE}), capacity=2)
    assert decide_entry(locked, ALICE, {BOB}, invited=False) is Outcome.ENTER
    assert decide_entry(locked, CAROL, {BOB}, invited=True) is Outcome.ENTER
    assert decide_entry(locked, ALICE, {BOB, CAROL}, invited=False) is Outcome.REFUSED_FULL
    # Already inside: entering again is not refused for being full.
    assert decide_entry(locked, BOB, {BOB, CAROL}, invited=False) is Outcome.ENTER


def test_a_reserved_room_admits_its_people_only_whatever_the_door_or_invitation() -> None:
    pair = rules(DoorState.OPEN, reserved_for=frozenset({ALICE, BOB}), owners=frozenset({CAROL}))
    assert decide_entry(pair, ALICE, set(), invited=False) is Outcome.ENTER
    assert decide_entry(pair, CAROL, set(), invited=True) is Outcome.REFUSED_PRIVATE


def test_do_not_disturb_occupants_are_not_prompted_by_a_knock() -> None:
    assert who_hears_a_knock([ALICE, BOB, CAROL], [BOB]) == [ALICE, CAROL]
    assert who_hears_a_knock([BOB], [BOB]) == []  # held silently


def test_guests_inside_never_answer_a_knock() -> None:
    assert who_may_answer_a_knock([ALICE, BOB, CAROL], guests=[CAROL]) == [ALICE, BOB]
    assert who_hears_a_knock([ALICE, BOB, CAROL], [BOB], guests=[CAROL]) == [ALICE]
    assert who_may_answer_a_knock([CAROL], guests=[CAROL]) == []  # the knocker is told


def person() -> Person:
    return Person(org_id=1, user_id=ALICE, display_name="Alice")


def test_a_person_is_online_while_any_tab_is_and_for_a_grace_period_after() -> None:
    two_tabs = connect(connect(person(), "tab-1", "Alice"), "tab-2", "Alice")
    assert two_tabs.online and two_tabs.status is Status.AVAILABLE
    one_tab = disconnect(two_tabs, "tab-1", now=10.0)
    assert one_tab.disconnected_at is None  # still a tab open
    none = disconnect(one_tab, "tab-2", now=20.0)
    assert none.online and none.disconnected_at == 20.0
    assert not grace_over(none, now=24.9, grace_seconds=5)
    assert grace_over(none, now=25.0, grace_seconds=5)
    back = connect(none, "tab-3", "Alice")
    assert back.disconnected_at is None and not grace_over(back, now=99.0, grace_seconds=5)
    assert disconnect(back, "unknown-tab", now=30.0) is back  # nothing to close


def test_going_offline_leaves_the_room_and_every_change_raises_the_revision() -> None:
    inside = connect(person(), "tab", "Alice").bump(room_id=5, entered_at=1.0, position=(3, 4))
    gone = go_offline(inside)
    assert gone.status is Status.OFFLINE
    assert (gone.room_id, gone.entered_at, gone.position) == (None, None, None)
    assert gone.rev > inside.rev


def test_what_others_see_do_not_disturb_survives_idling_and_away_follows_idle() -> None:
    online = connect(person(), "tab", "Alice")
    assert set_idle(online, True).status is Status.AWAY
    quiet = choose(online, Status.DO_NOT_DISTURB, "focus")
    assert set_idle(quiet, True).status is Status.DO_NOT_DISTURB
    assert set_idle(online, False) is online  # no change, no new revision
    with pytest.raises(ValueError, match="cannot be chosen"):
        choose(online, Status.OFFLINE, None)


def test_status_text_is_one_line_and_bounded_and_kept_when_not_given() -> None:
    online = connect(person(), "tab", "Alice")
    said = choose(online, Status.BUSY, "  in   a\nmeeting  " + "x" * 200)
    assert said.text.startswith("in a meeting ")
    assert len(said.text) == MAX_STATUS_TEXT
    assert choose(said, Status.AVAILABLE, None).text == said.text


def test_a_person_survives_the_trip_through_a_stored_document() -> None:
    original = choose(connect(person(), "tab", "Alice"), Status.BUSY, "x").bump(position=(1, 2))
    assert Person.from_doc(original.to_doc()) == original
    public = original.public()
    assert "connections" not in public and public["status"] == "busy"


def test_a_knock_is_answered_from_inside_and_a_get_by_the_person_asked() -> None:
    knock = Request("r1", RequestKind.KNOCK, 1, 7, ALICE, "Alice", None, 0.0, 30.0)
    assert knock.answerable_by(BOB, frozenset({BOB}))
    assert not knock.answerable_by(CAROL, frozenset({BOB}))
    get = Request("r2", RequestKind.GET, 1, 7, ALICE, "Alice", BOB, 0.0, 30.0)
    assert get.answerable_by(ALICE, frozenset({BOB}))
    assert not get.answerable_by(BOB, frozenset({BOB}))
    assert Request.from_doc(knock.to_doc()) == knock


async def test_the_memory_store_changes_several_documents_together() -> None:
    store = MemoryStateStore()

    def move(docs: list[dict[str, object] | None]) -> tuple[list[dict[str, object] | None], str]:
        assert docs == [None, None]
        return [{"room": 7}, {"people": [ALICE]}], "moved"

    assert await store.transact(["person:1", "room:7"], move) == "moved"
    assert await store.get_many(["person:1", "room:7", "nobody"]) == [
        {"room": 7},
        {"people": [ALICE]},
        None,
    ]
    with pytest.raises(ValueError, match="one document per key"):
        await store.transact(["person:1"], lambda docs: ([], None))
    assert await store.get_many(["person:1"]) == [{"room": 7}]  # a refused change changes nothing


async def test_the_memory_store_schedules_and_survives_export_and_load() -> None:
    store = MemoryStateStore()
    await store.add_member("online", "alice")
    await store.schedule("offline-at", "alice", 20.0)
    await store.schedule("offline-at", "bob", 10.0)
    assert await store.due("offline-at", now=15.0) == ["bob"]
    assert await store.due("offline-at", now=25.0) == ["bob", "alice"]
    await store.unschedule("offline-at", "bob")
    copy = MemoryStateStore()
    copy.load(store.export())
    assert await copy.members("online") == {"alice"}
    assert await copy.due("offline-at", now=25.0) == ["alice"]
