"""Every Socket.IO event, fed random and mutated payloads over a real connection.

The event list comes from the namespace's own tables, so a new event is fuzzed without
touching this file. Valid payloads are drawn from each event's JSON Schema (with the ids of a
small world mixed in, so handlers get past "not found"), then mutated: fields dropped, added,
retyped, pushed to boundaries. Every ack must be ``ok`` or a stable refusal (never
``internal``, never missing), the connection must stay up, and a refused event must leave the
database and the office exactly as they were.

Hypothesis runs in a worker thread and hands each call to the event loop that serves the app
and the client, so one signed-in connection serves every example.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from server.app import SOCKETIO
from server.db.models import Room
from server.http.keys import DB
from server.infra.settings import Settings
from tests.conftest import (
    IN_CI,
    Backend,
    Office,
    RealtimeClient,
    make_settings,
    session_cookie,
    sign_in,
)

T = TypeVar("T")
# A failing example with a near-cap string is large to print; print it anyway.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

STABLE_CODES = {
    "invalid",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "rate_limited",
    "too_large",
    "unavailable",
}
EXAMPLES_PER_EVENT = 30
# Boundary values for any integer field: just outside the schemas' bounds, past 2**53 (where
# JSON numbers stop being exact), past 64 bits (where databases overflow), and look-alikes.
EDGE_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    1000,
    1001,
    2**31,
    2**53,
    2**53 + 1,
    2**63,
    2**64 + 1,
    -(2**63) - 1,
    10**30,
    1.0,
    1.5,
    -0.0,
    True,
    "1",
]


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    """SQLite only: this is about the edge, not about storage."""
    return Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}", None)


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    # Hundreds of events go through one connection while the fake clock stands still; the
    # per-connection limit and chat's send limit have their own tests.
    return make_settings(
        tmp_path, backend, event_burst="100000", chat_burst="10000", chat_per_second="10000"
    )


# -- payload strategies -------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from(EDGE_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["", "\x00", "a\x00b", "\U0001f600" * 3, "\u202e", " ", "null", "{}"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)


@dataclass
class World:
    """Ids that exist, so a valid payload reaches the handler's rules, not just "not found"."""

    lobby: int = 0
    ids: list[int] = field(default_factory=list)


def from_schema(schema: dict[str, Any], defs: dict[str, Any], world: World, name: str = "") -> Any:
    """A strategy for values that satisfy a pydantic JSON Schema (the subset our payloads use)."""
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, world, name)
    if "anyOf" in schema:
        return st.one_of(*(from_schema(s, defs, world, name) for s in schema["anyOf"]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        numbers = st.integers(min_value=low, max_value=high)
        if name.endswith(("_id", "_ids", "mentions")) and world.ids:
            return st.one_of(st.sampled_from(world.ids), st.sampled_from(world.ids), numbers)
        return numbers
    if kind == "string":
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 60), 60)
        pattern = schema.get("pattern")
        if pattern is None:
            return st.text(min_size=low, max_size=high)
        repeated = re.fullmatch(r"\^(\[[^\]]+\])\+\$", pattern)
        if repeated:
            alphabet = st.from_regex(repeated.group(1), fullmatch=True)
            return st.text(alphabet=alphabet, min_size=max(low, 1), max_size=max(high, 1))
        return st.from_regex(pattern, fullmatch=True).filter(lambda s: low <= len(s) <= high)
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs, world, name)
        return st.lists(
            items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 5), 5)
        )
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v, defs, world, k) for k, v in props.items() if k in required},
            optional={
                k: from_schema(v, defs, world, k) for k, v in props.items() if k not in required
            },
        )
    return json_values


def mutate(valid: dict[str, Any]) -> Any:
    """Strategies for what a broken or hostile client might send instead of ``valid``."""
    keys = sorted(valid)
    options = [
        st.just({**valid, "unexpected": 1}),
        st.builds(lambda k, v: {**valid, k: v}, st.text(min_size=1, max_size=10), json_values),
        st.just([valid]),
        st.just(json.dumps(valid)),
    ]
    if keys:
        options += [
            st.sampled_from(keys).map(lambda k: {x: y for x, y in valid.items() if x != k}),
            st.builds(lambda k, v: {**valid, k: v}, st.sampled_from(keys), json_values),
            st.builds(
                lambda k, v: {**valid, k: v}, st.sampled_from(keys), st.sampled_from(EDGE_NUMBERS)
            ),
            st.builds(lambda k: {**valid, k: [valid[k]]}, st.sampled_from(keys)),
            # Long, but under the 64 KiB message cap (past it the connection closes: tested
            # in test_event_limits.py).
            st.builds(lambda k: {**valid, k: "x" * 20_001}, st.sampled_from(keys)),
            # 8,000 NULs travel as 48 KB of \u0000 escapes.
            st.builds(lambda k: {**valid, k: "\x00" * 8_000}, st.sampled_from(keys)),
        ]
    return st.one_of(options)


def payloads(schema: dict[str, Any], world: World) -> Any:
    valid = from_schema(schema, schema.get("$defs", {}), world)
    field_names = sorted(schema.get("properties", {}))
    random_objects = st.dictionaries(
        st.one_of(st.sampled_from(field_names), st.text(max_size=10))
        if field_names
        else st.text(max_size=10),
        json_values,
        max_size=6,
    )
    # Mostly well-formed (to reach the handlers' rules), then broken in every way.
    return st.integers(0, 9).flatmap(
        lambda i: (
            valid
            if i < 4
            else valid.flatmap(mutate)
            if i < 7
            else random_objects
            if i < 9
            else json_values
        )
    )


# -- the state a refused event must not touch ---------------------------------------------


def database_fingerprint(path: Path) -> dict[str, str]:
    """A digest of every table's rows (read through a separate SQLite connection)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        digests = {}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608
            digests[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return digests


def describe_ack(ack: Any) -> str | None:
    """None when ``ack`` is a well-formed answer that is not ``internal``; else what is wrong."""
    if not isinstance(ack, dict) or not isinstance(ack.get("ok"), bool):
        return f"not an ack object: {ack!r:.200}"
    if ack["ok"]:
        return None
    error = ack.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return f"malformed error: {ack!r:.200}"
    if error.get("code") not in STABLE_CODES:
        return f"error code {error.get('code')!r}: {error.get('message')}"
    return None


def outcome(ack: Any) -> str:
    if isinstance(ack, dict) and ack.get("ok") is True:
        return "ok"
    error = ack.get("error") if isinstance(ack, dict) else None
    return str(error.get("code")) if isinstance(error, dict) else "?"


# -- the test -----------------------------------------------------------------------------


async def connect(client: TestClient[Any, Any], email: str) -> RealtimeClient:
    await sign_in(client, email)
    rt = RealtimeClient()
    await rt.connect(client, cookie=session_cookie(client))
    return rt


async def build_world(client: TestClient[Any, Any], office: Office, admin: RealtimeClient) -> World:
    world = World()
    async with client.app[DB]() as session:
        found = await session.execute(
            select(Room.name, Room.id).where(Room.org_id == office.org.id)
        )
        rooms = {name: room_id for name, room_id in found}
    world.lobby = rooms["Lobby"]
    world.ids += list(rooms.values())
    opened = await admin.call("chat:open_direct", {"user_ids": [office.alice.id]})
    conversation = opened["conversation"]["id"]
    sent = await admin.call(
        "chat:send", {"conversation_id": conversation, "client_id": "seed-1", "body": "hi"}
    )
    world.ids += [
        conversation,
        sent["message"]["id"],
        office.admin.id,
        office.alice.id,
        office.bob.id,
        office.outsider.id,
        *office.group_ids,
    ]
    return world


def event_tables(client: TestClient[Any, Any]) -> dict[str, Any]:
    """Every event the live namespace answers, with its payload model."""
    namespace = client.app[SOCKETIO].namespace_handlers["/"]
    tables = {**namespace.events, **namespace.tab_events}
    return {name: model for name, (model, _) in tables.items()}


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    return run


async def test_every_event_survives_random_and_mutated_payloads(
    client: TestClient[Any, Any], office: Office, backend: Backend
) -> None:
    alice = await connect(client, "alice@acme.example")
    admin = await connect(client, "admin@acme.example")
    admin_cookie = session_cookie(client)
    try:
        world = await build_world(client, office, admin)
        events = event_tables(client)
        assert len(events) >= 20, "the namespace's tables were not found"
        assert backend.database_url is not None
        db_path = Path(backend.database_url.removeprefix("sqlite+aiosqlite:///"))
        run = on_loop(asyncio.get_running_loop())

        async def reconnect() -> None:
            await admin.close()
            await admin.connect(client, cookie=admin_cookie)

        problems: list[str] = []
        outcomes: dict[str, Counter[str]] = {event: Counter() for event in events}

        def fuzz(event: str, model: Any) -> None:
            schema = model.model_json_schema()

            @hypothesis_settings(
                max_examples=EXAMPLES_PER_EVENT,
                deadline=None,
                derandomize=IN_CI,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(payload=payloads(schema, world))
            def one(payload: Any) -> None:
                before_db = database_fingerprint(db_path)
                before_office = run(admin.call("office:snapshot", {}))
                try:
                    ack = run(admin.call(event, payload))
                except Exception as exc:  # a time-out or a dropped connection
                    problems.append(f"{event} {payload!r:.120}: no ack ({type(exc).__name__})")
                    run(reconnect())  # so that shrinking starts each example afresh
                    raise
                wrong = describe_ack(ack)
                outcomes[event][outcome(ack)] += 1
                if wrong is not None:
                    problems.append(f"{event} {payload!r:.120}: {wrong}")
                assert wrong is None
                assert admin.sio.connected, f"{event}: the connection dropped"
                if ack["ok"]:
                    return  # accepted calls may change things; the next check starts afresh
                after_office = run(admin.call("office:snapshot", {}))
                after_db = database_fingerprint(db_path)
                changed = [t for t in before_db if before_db[t] != after_db.get(t)]
                assert not changed, f"{event} refused ({ack['error']}) yet changed {changed}"
                assert after_office == before_office, f"{event} refused yet moved the office"

            # Each event starts from a person in a room with media joined, so room, chat and
            # media rules are reached rather than "you are in no room".
            run(admin.call("room:enter", {"room_id": world.lobby}))
            run(admin.call("media:join", {}))
            one()

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_EVENT,
            deadline=None,
            derandomize=IN_CI,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            name=st.one_of(
                st.text(max_size=40), st.sampled_from(["connect", "disconnect", "message"])
            ),
            payload=json_values,
        )
        def unknown_names(name: str, payload: Any) -> None:
            if name in events:
                return
            ack = run(admin.call(name, payload))
            assert outcome(ack) == "not_found", (name, ack)
            assert admin.sio.connected

        def fuzz_all() -> None:
            for event, model in sorted(events.items()):
                fuzz(event, model)
            unknown_names()

        await asyncio.to_thread(fuzz_all)
        assert not problems, "\n".join(problems)
        # The strategies reach the handlers' rules, not only the schemas: most events were
        # accepted at least once.
        accepted = {event for event, seen in outcomes.items() if seen["ok"]}
        assert len(accepted) >= len(events) * 2 // 3, {e: dict(c) for e, c in outcomes.items()}
        # Still a working connection for both people after all that.
        assert (await admin.call("whoami", {}))["ok"] is True
        assert (await alice.call("whoami", {}))["ok"] is True
    finally:
        await admin.close()
        await alice.close()


async def test_event_names_a_client_makes_up_are_unknown_events(
    client: TestClient[Any, Any], office: Office
) -> None:
    """Found while fuzzing names: a client's event called "disconnect" ran the server's own
    disconnect handler (the tab went offline yet stayed connected, every later event refused
    as "not signed in"), and one called "connect" re-ran authentication on its payload."""
    alice = await connect(client, "alice@acme.example")
    admin = await connect(client, "admin@acme.example")
    try:
        names = ["disconnect", "connect", "connect_error", "message", "", "x" * 300, "\x00", "媒体"]
        for name in names:
            for payload in ({}, {"HTTP_COOKIE": session_cookie(client)}, 5):
                ack = await alice.call(name, payload)
                assert ack == {
                    "ok": False,
                    "error": {"code": "not_found", "message": "unknown event"},
                }, (name, payload, ack)
        whoami = await alice.call("whoami", {})
        assert whoami["ok"] is True and whoami["user"]["id"] == office.alice.id  # still Alice
        seen = await admin.call("office:snapshot", {})
        me = next(p for p in seen["people"] if p["user_id"] == office.alice.id)
        assert me["status"] == "available"  # and still online
    finally:
        await admin.close()
        await alice.close()
