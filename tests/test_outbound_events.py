"""Server → client events are held to their models (server/realtime/outbound.py).

The suite runs in strict mode (tests/conftest.py): every event any test makes the server emit
is validated, and a test fails if one does not match. These tests check the check itself, that
the models and docs/protocol.md describe the same events and fields, and that every emit path
goes through ``outbound.check``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, RootModel

from rooms.layout import DoorState, RoomKind
from rooms.presence import Status
from server.chat import service as chat_service
from server.http.keys import MEETINGS
from server.meetings.service import room_key
from server.realtime import outbound
from server.realtime.outbound import OUTBOUND, OutboundMismatch
from tests.conftest import Office
from tests.people import rooms_by_name

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "docs" / "protocol.md"

MESSAGE = {
    "id": 91,
    "conversation_id": 4,
    "seq": 17,
    "sender_id": 7,
    "sender_name": "Alice",
    "client_id": "b2c1-9",
    "body": "See you at 3",
    "created_at": "2026-11-23T10:00:00+00:00",
    "edited_at": None,
    "deleted": False,
}


# -- the check ----------------------------------------------------------------------------------


def mismatch(event: str, payload: Any) -> str:
    with pytest.raises(OutboundMismatch) as caught:
        outbound.validate(event, payload)
    return str(caught.value)


def test_a_matching_payload_passes() -> None:
    outbound.validate("chat:message", MESSAGE)
    outbound.validate("chat:updated", MESSAGE | {"body": None, "deleted": True})
    outbound.validate("session:ended", {"reason": "expired"})
    outbound.validate("mentoring:pair_changed", {"pair_id": 3, "what": "agreement"})
    outbound.validate(
        "mentoring:pair_changed",
        {"pair_id": 3, "what": "milestone", "goal_id": 1, "milestone_id": 2},
    )


def test_a_missing_field_fails_naming_the_event_and_the_field() -> None:
    message = mismatch("chat:message", {k: v for k, v in MESSAGE.items() if k != "seq"})
    assert "'chat:message'" in message
    assert "seq: Field required" in message


def test_a_wrong_type_fails() -> None:
    assert "seq:" in mismatch("chat:message", MESSAGE | {"seq": "17"})
    assert "deleted:" in mismatch("chat:message", MESSAGE | {"deleted": 0})
    assert "created_at:" in mismatch("chat:message", MESSAGE | {"created_at": "yesterday"})
    # A time must say its offset: a naive one is read differently by every client.
    assert "created_at:" in mismatch("chat:message", MESSAGE | {"created_at": "2026-11-23T10:00"})
    assert "reason:" in mismatch("session:ended", {"reason": "bored"})
    assert "people.0.status:" in mismatch(
        "office:delta",
        {
            "people": [
                {
                    "user_id": 7,
                    "display_name": "Alice",
                    "status": "online",
                    "text": "",
                    "room_id": None,
                    "position": None,
                    "guest": False,
                    "rev": 1,
                }
            ]
        },
    )


def test_an_unexpected_key_fails() -> None:
    assert "extra: Extra inputs are not permitted" in mismatch(
        "chat:message", MESSAGE | {"extra": 1}
    )
    # Nested models too, and the ids of a mentoring change must fit what changed.
    assert "step.body:" in mismatch(
        "mentoring:step",
        {
            "program_id": 1,
            "step": {
                "id": 2,
                "title": "Kick-off",
                "due_at": None,
                "published_at": "2026-11-23T10:00:00+00:00",
                "body": "secret",
            },
        },
    )
    assert "session_id:" in mismatch(
        "mentoring:pair_changed", {"pair_id": 3, "what": "goal", "goal_id": 1, "session_id": 2}
    )


def test_an_unknown_event_name_fails() -> None:
    assert "'chat:mesage' is not a server → client event" in mismatch("chat:mesage", MESSAGE)


def test_check_raises_and_records_in_strict_mode_only() -> None:
    assert outbound.is_strict()  # tests/conftest.py turns it on for the whole suite
    with pytest.raises(OutboundMismatch):
        outbound.check("no:such", {})
    assert outbound.take_mismatches() == [
        "'no:such' is not a server → client event: add its model to "
        "server/realtime/outbound.py and describe it in docs/protocol.md"
    ]
    outbound.set_strict(False)
    try:
        outbound.check("no:such", {})  # production: nothing is validated
    finally:
        outbound.set_strict(True)
    assert outbound.take_mismatches() == []


def test_strict_mode_is_off_unless_turned_on() -> None:
    """Production never pays for validation: a fresh process starts with it off."""
    code = "from server.realtime import outbound; print(outbound.is_strict())"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_enumerations_follow_the_domain() -> None:
    def literal(model: type[BaseModel], field: str) -> set[str]:
        return set(typing.get_args(model.model_fields[field].annotation))

    assert literal(outbound.Person, "status") == {s.value for s in Status}
    assert literal(outbound.Room, "kind") == {k.value for k in RoomKind}
    assert literal(outbound.Room, "door") == {d.value for d in DoorState}


# -- models and docs/protocol.md describe the same events ----------------------------------------


def _split_row(row: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", row.strip().strip("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def documented_events() -> dict[str, str]:
    """Every server → client event of docs/protocol.md with the text that gives its payload:
    the ``###`` headings of "Server → client events", and the rows of every table whose first
    column is ``event`` (chat, guest, media and mentoring events)."""
    events: dict[str, str] = {}
    lines = PROTOCOL.read_text().splitlines()
    section = ""
    heading: str | None = None
    table_of_events = False
    for line in lines:
        if line.startswith("## "):
            section, heading = line[3:].strip(), None
            continue
        if line.startswith("### "):
            name = re.fullmatch(r"### `([a-z:_]+)`", line.strip())
            heading = name.group(1) if name and section == "Server → client events" else None
            if heading is not None:
                events[heading] = ""
            continue
        if line.startswith("|"):
            cells = _split_row(line)
            if cells[0] == "event":
                table_of_events = True
            elif table_of_events and cells[0].startswith("`"):
                events[cells[0].strip("`")] = cells[-1]
            continue
        table_of_events = False
        if heading is not None:
            events[heading] += line + "\n"
    return events


def documented_shape(name: str) -> str:
    """The JSON the doc gives for a shared shape (``A **message**:`` and the like)."""
    text = PROTOCOL.read_text()
    found = re.search(r"\*\*" + name + r"\*\*[^{]{0,40}(\{.*?\})", text, re.S)
    if found is None:
        found = re.search(r"`" + name + r"` = `(\{.*?\})`", text, re.S)
    assert found is not None, name
    return found.group(1)


def top_level_keys(text: str) -> dict[str, tuple[bool, set[str]]]:
    """The keys of the first ``{...}`` in ``text``: key → (optional, the values listed for it
    as ``"key": "a" | "b"``, if any; a lone ``"key": "k3J…"`` is an example, not a list)."""
    start = text.index("{")
    keys: dict[str, tuple[bool, set[str]]] = {}
    depth, i, last_key, before = 0, start, None, ""
    while i < len(text):
        char = text[i]
        if char in "{[":
            depth += 1
            before = char
        elif char in "}]":
            depth -= 1
            if depth == 0:
                break
            before = char
        elif char == '"':
            end = text.index('"', i + 1)
            word = text[i + 1 : end]
            i = end
            if depth == 1 and before in "{,":
                optional = text[end + 1 : end + 2] == "?"
                keys[word] = (optional, set())
                last_key = word
            elif depth == 1 and before in ":|" and last_key is not None:
                keys[last_key][1].add(word)
            before = '"'
        elif char in ",:|" and depth == 1:
            before = char
        elif not char.isspace() and depth == 1:
            before = char if char in "{," else "v"  # a bare value (str, int, null...)
        i += 1
    return {
        key: (optional, values if len(values) > 1 else set())
        for key, (optional, values) in keys.items()
    }


def model_fields(model: type[BaseModel]) -> dict[str, tuple[bool, set[str]]]:
    """Field → (optional, the Literal values it allows, if it is a Literal of strings)."""
    members: list[type[BaseModel]] = [model]
    if issubclass(model, RootModel):
        union = model.model_fields["root"].annotation
        if typing.get_origin(union) is typing.Annotated:
            union = typing.get_args(union)[0]
        members = list(typing.get_args(union))
    fields: dict[str, tuple[bool, set[str]]] = {}
    for member in members:
        for name, info in member.model_fields.items():
            values = set()
            annotation = info.annotation
            if typing.get_origin(annotation) in (typing.Union, types.UnionType):
                annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
            if typing.get_origin(annotation) is typing.Literal:
                values = set(typing.get_args(annotation))
            optional, seen = fields.get(name, (False, set()))
            fields[name] = (optional, seen | values)
    for name in fields:
        everywhere = all(name in m.model_fields for m in members)
        fields[name] = (not everywhere, fields[name][1])
    return fields


SHAPES = {"message": outbound.Message}


def test_the_doc_lists_at_least_the_events_we_know() -> None:
    events = documented_events()
    assert {"office:delta", "request", "membership:pending"} <= events.keys()  # headings
    assert {"chat:typing", "guest:ended", "media:restart", "mentoring:step"} <= events.keys()


def test_every_model_is_documented_and_every_documented_event_has_a_model() -> None:
    documented = documented_events().keys()
    assert sorted(OUTBOUND.keys() - documented) == [], "models missing from docs/protocol.md"
    assert sorted(documented - OUTBOUND.keys()) == [], "documented events without a model"


@pytest.mark.parametrize("event", sorted(OUTBOUND))
def test_the_doc_and_the_model_name_the_same_fields(event: str) -> None:
    text = documented_events()[event]
    model = OUTBOUND[event]
    if "{" not in text:  # a shared shape by name: "message (edited or deleted)"
        assert model is SHAPES[text.split()[0].strip(",.:")], event
        return
    documented = top_level_keys(text)
    fields = model_fields(model)
    assert sorted(documented) == sorted(fields), event
    for name, (optional, values) in documented.items():
        assert optional == fields[name][0], f"{event}.{name}: optional in one only"
        if values:
            assert values == fields[name][1], f"{event}.{name}: listed values differ"


@pytest.mark.parametrize(
    ("shape", "model"),
    [
        ("person", outbound.Person),
        ("message", outbound.Message),
        ("room", outbound.Room),
        ("member", outbound.MediaMember),
    ],
)
def test_shared_shapes_match_the_doc(shape: str, model: type[BaseModel]) -> None:
    assert sorted(top_level_keys(documented_shape(shape))) == sorted(model.model_fields)


def test_the_doc_says_where_the_payloads_are_defined() -> None:
    head = PROTOCOL.read_text()[:1000]
    assert "server/realtime/outbound.py" in head


# -- every emit goes through the check ----------------------------------------------------------

BROADCASTER_METHODS = {"to_user", "to_users", "to_org", "to_connection"}


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _method(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def test_every_event_the_services_emit_has_a_model() -> None:
    """Every Broadcaster call in server/ names its event with a literal that has a model, and
    every model is emitted somewhere (no model for an event nobody sends)."""
    emitted: set[str] = set()
    for path in sorted((ROOT / "server").rglob("*.py")):
        for call in _calls(ast.parse(path.read_text())):
            if _method(call) not in BROADCASTER_METHODS or len(call.args) < 2:
                continue
            if path.name == "broadcaster.py":
                continue  # the adapter passes its caller's event on
            event = call.args[1]
            assert isinstance(event, ast.Constant) and isinstance(event.value, str), (
                f"{path.relative_to(ROOT)}:{call.lineno}: name the event with a string literal"
            )
            assert event.value in OUTBOUND, f"{path.relative_to(ROOT)}:{call.lineno}"
            emitted.add(event.value)
    # Besides the Broadcaster: the SIGTERM announcement and ended sessions.
    emitted |= {"server:restarting", "session:ended"}
    assert sorted(OUTBOUND.keys() - emitted) == []


def test_every_direct_emit_in_the_realtime_package_is_checked() -> None:
    """A function of server/realtime that calls ``emit`` also calls ``outbound.check`` (the
    fan-out manager's own ``emit`` excepted: it is what the others call)."""
    for path in sorted((ROOT / "server" / "realtime").glob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            if function.name == "emit":
                continue
            names = [_method(c) for c in _calls(function)]
            if "emit" in names:
                checked = any(
                    _method(c) == "check"
                    and isinstance(c.func, ast.Attribute)
                    and isinstance(c.func.value, ast.Name)
                    and c.func.value.id == "outbound"
                    for c in _calls(function)
                )
                assert checked, f"{path.relative_to(ROOT)}: {function.name} emits unchecked"


# -- a real round trip --------------------------------------------------------------------------


async def test_events_received_over_a_real_connection_match_their_models(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    opened = await alice.call("chat:open_direct", {"user_ids": [office.bob.id]})
    conversation = opened["conversation"]["id"]
    ack = await alice.call(
        "chat:send",
        {
            "conversation_id": conversation,
            "client_id": "round-trip-1",
            "body": "Hello @Bob",
            "mentions": [office.bob.id],
        },
    )
    assert ack["ok"] is True, ack
    await bob.wait_for(lambda: bob.received("chat:mention"))
    [message] = bob.received("chat:message")
    assert message == ack["message"]
    # What arrived, after JSON, is what the model says (the emit was checked before it left).
    outbound.validate("chat:message", message)
    outbound.validate("chat:mention", bob.received("chat:mention")[0])
    for name, data in alice.events + bob.events:
        outbound.validate(name, data)


async def test_a_server_emitting_a_wrong_payload_is_caught(
    client: TestClient[Any, Any], office: Office, join: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = chat_service.message_json
    monkeypatch.setattr(
        chat_service, "message_json", lambda m, name: real(m, name) | {"html": "<b>hi</b>"}
    )
    alice = await join("alice@acme.example")
    opened = await alice.call("chat:open_direct", {"user_ids": [office.bob.id]})
    ack = await alice.call(
        "chat:send",
        {"conversation_id": opened["conversation"]["id"], "client_id": "bad-1", "body": "hi"},
    )
    assert ack["ok"] is False  # the emit raised: in tests, a wrong payload never goes out
    assert outbound.take_mismatches() == [
        "'chat:message' payload does not match Message: html: Extra inputs are not permitted"
    ]


async def test_the_active_speaker_event_matches_its_model(
    client: TestClient[Any, Any], office: Office, join: Any
) -> None:
    """``media:speaker`` comes from RTP audio levels, which no other in-process test makes:
    emitted here through the real meetings service, to real tabs."""
    lobby = (await rooms_by_name(client, office.org.id))["Lobby"]
    alice = await join("alice@acme.example")
    bob = await join("bob@acme.example")
    for tab in (alice, bob):
        assert (await tab.call("room:enter", {"room_id": lobby}))["outcome"] == "entered"
    assert (await alice.call("media:join"))["ok"]
    joined = await bob.call("media:join")
    [alice_tab] = [m["connection"] for m in joined["members"] if m["user_id"] == office.alice.id]
    meetings = client.app[MEETINGS]
    await meetings.speaker(room_key(office.org.id, lobby), alice_tab)
    await meetings.speaker(room_key(office.org.id, lobby), None)
    await bob.wait_for(lambda: len(bob.received("media:speaker")) == 2)
    assert bob.received("media:speaker") == [
        {"room_id": lobby, "connection": alice_tab, "user_id": office.alice.id},
        {"room_id": lobby, "connection": None, "user_id": None},
    ]
    for name, data in alice.events + bob.events:
        outbound.validate(name, data)
