"""Issue #16, the audit stream: findings 6 (a keyed audit chain), 11 (erasure leaves nothing
that re-links), 13 (hostile input never answers 500) and 14 (export of the audit entries
about my enrolments and pairs; python-engineio's logs)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics.metrics import Metric
from server.analytics.record import Event, record_events
from server.analytics.rollup import fold, fold_pending
from server.analytics.tables import AnalyticsEvent, PairTie, PersonDay, PersonWeek
from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append, verify
from server.audit.tables import GENESIS, AuditEntry, AuditHead
from server.content.messages import Message
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.db.models import Conversation
from server.http.keys import DB, RETENTION, SETTINGS
from server.infra.clock import FakeClock
from server.infra.log import configure
from server.infra.settings import Settings
from server.mentoring.tables import Enrolment, Goal
from server.people.accounts import analytics_subject
from tests.browsers import Browser
from tests.conftest import (
    ORIGIN,
    Backend,
    Office,
    RealtimeClient,
    empty_database,
    session_cookie,
    sign_in,
)
from tests.people import rooms_by_name
from tests.test_privacy import everything_stored, unzip
from tests.test_privacy_mentoring import alice_is_mentored_by_bob

# -- finding 6: the audit chain is keyed -------------------------------------------------------


async def _some_history(client: TestClient[Any, Any], office: Office, clock: FakeClock) -> None:
    """Policy changes and dashboard looks, as an admin's day would leave them."""
    async with client.app[DB]() as session:
        for i in range(6):
            looked = i % 2 == 1
            await append(
                session,
                org_id=office.org.id,
                actor_id=office.admin.id,
                action=AuditAction.DASHBOARD_VIEWED if looked else AuditAction.POLICY_CHANGED,
                at=clock.now(),
                target_kind=TargetKind.DASHBOARD if looked else TargetKind.POLICY,
                target_id=office.org.id,
                detail={"dashboard": "messages", "scope": "org"} if looked else {"chat_days": i},
            )
            clock.advance(30)
        await session.commit()


def _unkeyed_hash(prev: str, entry: AuditEntry) -> str:
    """What the old code computed: anyone with the database can compute it too."""
    body = {
        "org_id": entry.org_id,
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "action": str(entry.action),
        "target_kind": None if entry.target_kind is None else str(entry.target_kind),
        "target_id": entry.target_id,
        "detail": entry.detail,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev + canonical).encode()).hexdigest()


async def _lift_append_only(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # The attacker owns the table: the trigger goes, the chain must still tell.
        await session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))


async def _rechain_unkeyed(session: AsyncSession, org_id: int) -> None:
    """Renumber what is left, recompute every link with plain SHA-256, fix the head."""
    rows = list(
        (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.org_id == org_id).order_by(AuditEntry.seq)
            )
        ).all()
    )
    prev = GENESIS
    for seq, entry in enumerate(rows, start=1):
        entry.seq = seq
        entry.prev_hash = prev
        entry.hash = _unkeyed_hash(prev, entry)
        prev = entry.hash
        await session.flush()
    await session.execute(
        update(AuditHead).where(AuditHead.org_id == org_id).values(seq=len(rows), hash=prev)
    )
    await session.commit()


async def test_finding_6_deleting_looks_and_rechaining_is_detected(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    await _some_history(client, office, clock)
    await sign_in(client, "admin@acme.example")
    before = await (await client.get("/api/org/audit/verify")).json()
    assert before["intact"] is True

    async with client.app[DB]() as session:  # the attack of the finding
        await _lift_append_only(session)
        await session.execute(
            delete(AuditEntry).where(
                AuditEntry.org_id == office.org.id,
                AuditEntry.action == AuditAction.DASHBOARD_VIEWED,
            )
        )
        await session.flush()
        await _rechain_unkeyed(session, office.org.id)

    after = await (await client.get("/api/org/audit/verify")).json()
    assert after["intact"] is False
    assert after["first_broken_seq"] == 1
    page = await (await client.get("/api/org/audit")).json()
    assert (before["head"]["entries"], page["head"]["entries"]) == (6, 3)  # the head moved

    await sign_in(client, "alice@acme.example")
    me = await (await client.get("/api/me/analytics")).json()
    assert me["looks"] == []
    assert me["audit"]["intact"] is False  # /me says its list of looks cannot be trusted


async def test_finding_6_editing_one_entry_and_rechaining_is_detected(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    await _some_history(client, office, clock)
    async with client.app[DB]() as session:
        await _lift_append_only(session)
        await session.execute(
            update(AuditEntry)
            .where(AuditEntry.org_id == office.org.id, AuditEntry.seq == 4)
            .values(actor_id=office.alice.id)
        )
        await session.flush()
        await _rechain_unkeyed(session, office.org.id)
    await sign_in(client, "admin@acme.example")
    verdict = await (await client.get("/api/org/audit/verify")).json()
    assert (verdict["intact"], verdict["first_broken_seq"]) == (False, 1)


async def test_finding_6_a_tail_cut_back_shows_against_the_head_people_saw(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    """Dropping the newest entries and moving the head back leaves a chain that holds on its
    own; the head Alice's /me showed her earlier no longer matches."""
    await _some_history(client, office, clock)
    await sign_in(client, "alice@acme.example")
    seen = (await (await client.get("/api/me/analytics")).json())["audit"]["head"]
    assert seen["entries"] == 6

    async with client.app[DB]() as session:
        await _lift_append_only(session)
        await session.execute(
            delete(AuditEntry).where(AuditEntry.org_id == office.org.id, AuditEntry.seq > 4)
        )
        fourth = await session.scalar(
            select(AuditEntry.hash).where(AuditEntry.org_id == office.org.id, AuditEntry.seq == 4)
        )
        await session.execute(
            update(AuditHead).where(AuditHead.org_id == office.org.id).values(seq=4, hash=fourth)
        )
        await session.commit()

    query = f"seen_entries={seen['entries']}&seen_head={seen['mac']}"
    me = await (await client.get(f"/api/me/analytics?{query}")).json()
    assert me["audit"]["intact"] is False
    assert me["audit"]["head"]["entries"] == 4
    await sign_in(client, "admin@acme.example")
    verdict = await (await client.get(f"/api/org/audit/verify?{query}")).json()
    assert (verdict["intact"], verdict["first_broken_seq"]) == (False, 5)


@empty_database
async def test_finding_6_an_existing_unkeyed_chain_is_rekeyed_on_upgrade(
    settings: Settings, clock: FakeClock
) -> None:
    """An office upgrading keeps its history: the unkeyed chain becomes a keyed one that
    verifies, and a link that was already broken stays broken."""
    engine = create_engine(settings)
    try:
        # The schema as it was just before the keyed chain (the revision 0011 follows).
        keyed = importlib.import_module("migrations.versions.0011_audit_keyed_chain")
        await upgrade(engine, keyed.down_revision)
        for org_id, tampered in ((1, False), (2, True)):
            prev = GENESIS
            async with session_factory(engine)() as session:
                for seq in range(1, 4):
                    entry = AuditEntry(
                        org_id=org_id,
                        seq=seq,
                        at=clock.now(),
                        actor_id=7,
                        action=AuditAction.DASHBOARD_VIEWED,
                        target_kind=TargetKind.DASHBOARD,
                        target_id=org_id,
                        detail={"scope": "org"},
                        prev_hash=prev,
                    )
                    entry.hash = _unkeyed_hash(prev, entry)
                    if tampered and seq == 2:
                        entry.actor_id = 8  # changed after it was hashed
                    session.add(entry)
                    prev = entry.hash
                session.add(AuditHead(org_id=org_id, seq=3, hash=prev))
                await session.commit()
        keys = settings.audit_chain_keys
        with pytest.raises(RuntimeError, match="audit"):
            await upgrade(engine)  # without the key it cannot re-chain, and says so
        await upgrade(engine, audit_keys=keys)
        async with session_factory(engine, audit_keys=keys)() as session:
            assert await verify(session, 1) is None
            assert await verify(session, 2) == 2
        if engine.dialect.name == "postgresql":  # the append-only trigger is back on
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as connection:
                    await connection.execute(text("UPDATE audit_entries SET actor_id = 1"))
        other = Settings.from_env(
            {
                "OFFICEHOURS_DATA_DIR": str(settings.data_dir),
                "OFFICEHOURS_DATABASE_URL": settings.database_url,
                "OFFICEHOURS_SECRET_KEY": "another secret key, at least 32 characters",
            }
        )
        async with session_factory(engine, audit_keys=other.audit_chain_keys)() as session:
            assert await verify(session, 1) == 1  # under another key nothing holds
    finally:
        await engine.dispose()


# -- finding 13: hostile input never answers 500 -----------------------------------------------

DEEP = 5000  # far past Python's recursion limit, well inside the 64 KiB body limit


def _full_width(number: int) -> str:
    return "".join(chr(0xFF10 + int(digit)) for digit in str(number))


async def test_finding_13_deeply_nested_json_body_is_invalid(
    client: TestClient[Any, Any], office: Office
) -> None:
    body = '{"email": ' + "[" * DEEP + "]" * DEEP + ', "password": "x"}'
    response = await client.post(
        "/api/auth/sign-in",
        data=body,
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "invalid"
    shallow = await client.post(  # nesting a schema would refuse anyway still gets its answer
        "/api/auth/sign-in",
        data='{"email": [[1]], "password": "x"}',
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
    )
    assert shallow.status == 400


async def test_finding_13_deeply_nested_socketio_arguments_get_an_error_ack(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    await sign_in(client, "alice@acme.example")
    rt: RealtimeClient = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    assert (await rt.call("whoami", {}))["ok"] is True  # sets up the client's ack table
    rt.sio.callbacks["/"][4242] = acked.set_result
    # Written by hand: the client library's own encoder could not nest this deep either.
    await rt.sio.eio.send('24242["whoami",' + "[" * DEEP + "]" * DEEP + "]")
    ack = await asyncio.wait_for(acked, 5)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    assert (await rt.call("whoami", {}))["ok"] is True  # the connection is still fine


async def test_finding_13_dates_whose_week_arithmetic_overflows_are_invalid(
    client: TestClient[Any, Any], office: Office
) -> None:
    await sign_in(client, "admin@acme.example")
    for url in (
        "/api/admin/dashboards/active?granularity=week&from=9999-12-01",
        "/api/admin/dashboards/active?granularity=week&from=9999-12-01&to=9999-12-31",
        "/api/admin/dashboards/active?granularity=day&to=9999-12-31&from=9999-12-30",
        "/api/admin/dashboards/active/csv?granularity=week&from=9999-12-20",
        "/api/admin/dashboards/active?to=0001-01-02",
        "/api/me/analytics?to=0001-01-01",
        "/api/me/analytics?from=9999-12-31",
    ):
        response = await client.get(url)
        assert response.status == 400, (url, response.status)
        assert (await response.json())["error"]["code"] == "invalid"


async def test_finding_13_ids_are_ascii_digits_only(
    client: TestClient[Any, Any], office: Office
) -> None:
    await sign_in(client, "admin@acme.example")
    lobby = (await rooms_by_name(client, office.org.id))["Team room"]
    assert (await client.get(f"/api/office/rooms/{lobby}/guest-links")).status == 200
    for room in (_full_width(lobby), "\u0661" * len(str(lobby))):  # full-width, Arabic-Indic
        response = await client.get(f"/api/office/rooms/{room}/guest-links")
        assert response.status == 404, (room, response.status)
    assert (await client.get("/api/mentoring/pairs/\uff11")).status == 404
    for limit in ("\uff15", "+5", "1_0", " 5"):
        response = await client.get("/api/org/audit", params={"limit": limit})
        assert response.status == 400, (limit, response.status)


INVISIBLE_NAMES = (
    "\u200b\u200c\u200d",  # zero-width space, non-joiner, joiner
    "\u202e\u202d\u2066\u2069",  # bidi overrides and isolates
    "\ufeff \u2060",  # byte-order mark, space, word joiner
    "\u3164\u115f",  # Hangul fillers (letters that show nothing)
)


async def test_finding_13_names_made_of_invisible_characters_are_refused(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    csrf = await sign_in(client, "admin@acme.example")
    headers = {"X-CSRF-Token": csrf}
    layout = await (await client.get("/api/office/layout")).json()
    floor_id = layout["floors"][0]["id"]
    room_id = (await rooms_by_name(client, office.org.id))["Team room"]
    program = await client.post("/api/mentoring/programs", json={"name": "Spring"}, headers=headers)
    assert program.status == 201, await program.text()
    program_id = (await program.json())["id"]
    link = await client.post(f"/api/office/rooms/{room_id}/guest-links", json={}, headers=headers)
    token = (await link.json())["token"]
    for name in INVISIBLE_NAMES:
        attempts = {
            "floor": await client.post(
                "/api/office/floors",
                json={"name": name, "width": 100, "height": 100},
                headers=headers,
            ),
            "room": await client.post(
                f"/api/office/floors/{floor_id}/rooms",
                json={
                    "name": name,
                    "kind": "meeting_room",
                    "x": 900,
                    "y": 900,
                    "w": 20,
                    "h": 20,
                    "capacity": 4,
                },
                headers=headers,
            ),
            "room rename": await client.patch(
                f"/api/office/rooms/{room_id}", json={"name": name}, headers=headers
            ),
            "program": await client.post(
                "/api/mentoring/programs", json={"name": name}, headers=headers
            ),
            "program step": await client.post(
                f"/api/mentoring/programs/{program_id}/steps",
                json={"title": name},
                headers=headers,
            ),
            "enrolment name": await client.post(
                f"/api/mentoring/programs/{program_id}/enrolments",
                json={"user_id": office.alice.id, "role": "mentee", "display_name": name},
                headers=headers,
            ),
        }
        for what, response in attempts.items():
            assert response.status == 400, (what, repr(name), response.status)
            assert (await response.json())["error"]["code"] == "invalid"
    # A name with an invisible character in it, but something to see, is still a name.
    shown = await client.post(
        "/api/office/floors",
        json={"name": "\u200bAnnex", "width": 100, "height": 100},
        headers=headers,
    )
    assert shown.status == 201, await shown.text()
    client.session.cookie_jar.clear()  # a guest comes without an account
    for name in INVISIBLE_NAMES:
        guest = await client.post(
            f"/api/guest-links/{token}/join",
            json={"display_name": name},
            headers={"Origin": ORIGIN},
        )
        assert guest.status == 400, (repr(name), guest.status)
    guest = await client.post(
        f"/api/guest-links/{token}/join", json={"display_name": "Grace"}, headers={"Origin": ORIGIN}
    )
    assert guest.status == 201


async def test_finding_13_names_shown_in_another_order_are_refused(
    client: TestClient[Any, Any], office: Office
) -> None:
    """ "\u202eecilA" shows as "Alice": a name with direction overrides could pass for
    someone else's, in the office and in chat."""
    csrf = await sign_in(client, "admin@acme.example")
    room_id = (await rooms_by_name(client, office.org.id))["Team room"]
    link = await client.post(
        f"/api/office/rooms/{room_id}/guest-links", json={}, headers={"X-CSRF-Token": csrf}
    )
    token = (await link.json())["token"]
    floor = await client.post(
        "/api/office/floors",
        json={"name": "\u202eexennA", "width": 100, "height": 100},
        headers={"X-CSRF-Token": csrf},
    )
    assert floor.status == 400, await floor.text()
    client.session.cookie_jar.clear()
    for name in ("\u202eecilA", "Al\u2066ice\u2069"):
        guest = await client.post(
            f"/api/guest-links/{token}/join",
            json={"display_name": name},
            headers={"Origin": ORIGIN},
        )
        assert guest.status == 400, (repr(name), guest.status)
        assert "direction" in (await guest.json())["error"]["message"]


async def test_finding_13_ids_past_the_columns_range_are_not_found(
    client: TestClient[Any, Any], office: Office, realtime: Callable[[], RealtimeClient]
) -> None:
    """Ids are 32-bit columns on PostgreSQL: a larger id must be "not found" or "invalid",
    never an overflow inside the database (500 / internal)."""
    csrf = await sign_in(client, "admin@acme.example")
    for huge in (2**31, 2**53):
        for path in (
            f"/api/mentoring/pairs/{huge}",
            f"/api/office/rooms/{huge}/guest-links",
            f"/api/mentoring/sessions/{huge}/notes",
        ):
            response = await client.get(path)
            assert response.status == 404, (path, response.status, await response.text())
        body = await client.post(
            "/api/org/invite-codes", json={"group_id": huge}, headers={"X-CSRF-Token": csrf}
        )
        assert body.status == 400, await body.text()
    socket = realtime()
    await socket.connect(client, cookie=session_cookie(client))
    for event, payload in (
        ("room:enter", {"room_id": 2**31}),
        ("chat:history", {"conversation_id": 2**31}),
        ("chat:sync", {"cursors": [{"conversation_id": 2**31, "after_seq": 0}]}),
    ):
        ack = await socket.call(event, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", (event, ack)


# -- finding 14: python-engineio's logs --------------------------------------------------------

FORGED = '{"level":"critical","logger":"officehours.auth","event":"forged-entry"}'
HOSTILE_ORIGINS = (
    f"https://evil-origin-marker.example {FORGED}".encode() + b" \xff\xfe",
    b"https://evil-origin-marker.example\x1b[2J\x1b[31m\n" + FORGED.encode(),
    b"https://evil-origin-marker.example\r\n" + FORGED.encode(),
)


async def _raw_request(client: TestClient[Any, Any], head: bytes, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request written byte for byte (a client library refuses these headers)."""
    url = client.make_url("/")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The server's logging as ``serve`` sets it up (JSON lines), its one stream kept here."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    configure("json", "INFO")
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    root.handlers[:] = saved
    root.setLevel(level)


def _handlers_reached(name: str) -> list[logging.Handler]:
    """Every handler a record of logger ``name`` reaches (its own, then its parents')."""
    reached: list[logging.Handler] = []
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        reached += logger.handlers
        logger = logger.parent if logger.propagate else None
    return reached


async def test_finding_14_engineio_logs_are_one_json_object_a_line_without_client_values(
    client: TestClient[Any, Any], office: Office, json_logs: io.StringIO
) -> None:
    polling = "/socket.io/?EIO=4&transport=polling"
    # Unauthenticated: an engine.io session, then a Socket.IO CONNECT_ERROR packet ("44"),
    # which no server ever receives — python-engineio used to log its traceback in plain text.
    handshake = await client.get(polling, headers={"Origin": ORIGIN})
    assert handshake.status == 200
    sid = json.loads((await handshake.text())[1:])["sid"]
    posted = await client.post(
        f"{polling}&sid={sid}",
        data='44{"message":"evil-origin-marker"}',
        headers={"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert posted.status == 200
    for origin in HOSTILE_ORIGINS:
        answer = await _raw_request(
            client,
            b"GET " + polling.encode() + b" HTTP/1.1\r\nHost: x\r\nOrigin: " + origin + b"\r\n",
        )
        assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.0 400")), answer[:40]
    assert (await client.get("/api/health")).status < 500  # the server carries on

    # Nothing of python-engineio's or python-socketio's is written past the structured handler
    # (python-engineio used to add one of its own, printing plain-text tracebacks).
    structured = logging.getLogger().handlers
    for library in ("engineio.server", "socketio.server", "aiohttp.server"):
        assert _handlers_reached(library) == structured, library
    err = json_logs.getvalue()
    lines = [line for line in err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(record, dict) for record in records)
    assert {"logger": "engineio.server", "event": "origin not accepted"} in [
        {"logger": r["logger"], "event": r["event"]} for r in records
    ], lines  # the refusal is logged, without the Origin
    assert "Traceback" not in err
    assert "evil-origin-marker" not in err
    assert "forged-entry" not in err


# -- finding 14: a person's export holds the audit entries about their mentoring -----------------


async def test_finding_14_export_includes_audit_about_my_pairs(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, browser: Callable[[], Browser]
) -> None:
    traces = await alice_is_mentored_by_bob(client, office, clock)
    async with client.app[DB]() as session:
        alice_enrolment = await session.scalar(
            select(Enrolment.id).where(Enrolment.user_id == office.alice.id)
        )
        goal = await session.scalar(select(Goal.id).where(Goal.pair_id == traces.pair_id))
        # Entries a manager's look at the pair's session and goal would leave, and one about
        # somebody else's pair.
        for kind, target in (
            (TargetKind.SESSION, traces.session_id),
            (TargetKind.GOAL, goal),
            (TargetKind.PAIR, traces.pair_id + 1000),
        ):
            await append(
                session,
                org_id=office.org.id,
                actor_id=office.admin.id,
                action=AuditAction.PROGRAM_CHANGED,
                at=clock.now(),
                target_kind=kind,
                target_id=target,
            )
        await session.commit()
    alice = await browser().sign_in("alice@acme.example")
    files = unzip(await (await alice.request("GET", "/api/me/export")).read())
    about = {(e["action"], e["target_kind"], e["target_id"]) for e in files["audit/entries.json"]}
    assert ("enrolment.invited", "enrolment", alice_enrolment) in about
    assert ("match.made", "pair", traces.pair_id) in about
    assert ("program.changed", "session", traces.session_id) in about
    assert ("program.changed", "goal", goal) in about
    assert ("program.changed", "pair", traces.pair_id + 1000) not in about
    bob_enrolment_invited = [
        e
        for e in files["audit/entries.json"]
        if e["action"] == "enrolment.invited" and e["target_id"] != alice_enrolment
    ]
    assert bob_enrolment_invited == []  # Bob's enrolment is about Bob


# -- finding 11: erasure leaves nothing that re-links ------------------------------------------


async def _together(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, seconds: float
) -> None:
    """Alice (group 1) and Bob (group 2) spend time in a room, each recording their side,
    and Alice sends two messages."""
    async with client.app[DB]() as session:
        alice = await analytics_subject(session, office.org.id, office.alice.id)
        bob = await analytics_subject(session, office.org.id, office.bob.id)
        together = Metric.ROOM_TOGETHER_SECONDS
        await record_events(
            session,
            [
                Event(together, alice, clock.now(), 1, seconds, None, bob.group_id, bob.person),
                Event(together, bob, clock.now(), 1, seconds, None, alice.group_id, alice.person),
                Event(Metric.MESSAGE_SENT, alice, clock.now(), 2),
            ],
        )
        await session.commit()


async def _figures(session: AsyncSession, org_id: int) -> dict[str, Any]:
    """What the dashboards are built from: people and messages per day and group, people per
    week and group, and the cross-group pairs."""
    days = await session.execute(
        select(PersonDay.day, PersonDay.group_id, func.count(), func.sum(PersonDay.messages))
        .where(PersonDay.org_id == org_id)
        .group_by(PersonDay.day, PersonDay.group_id)
        .order_by(PersonDay.day, PersonDay.group_id)
    )
    weeks = await session.execute(
        select(PersonWeek.week, PersonWeek.group_id, func.count())
        .where(PersonWeek.org_id == org_id)
        .group_by(PersonWeek.week, PersonWeek.group_id)
        .order_by(PersonWeek.week, PersonWeek.group_id)
    )
    pairs = await session.execute(
        select(PairTie.first_day, PairTie.seconds).where(PairTie.org_id == org_id)
    )
    return {
        "days": [tuple(r) for r in days.all()],
        "weeks": [tuple(r) for r in weeks.all()],
        "pairs": [tuple(r) for r in pairs.all()],
    }


async def _close_account(client: TestClient[Any, Any], email: str) -> None:
    csrf = await sign_in(client, email)
    closed = await client.post(
        "/api/me/close-account", json={"confirm": True}, headers={"X-CSRF-Token": csrf}
    )
    assert closed.status == 204, await closed.text()


async def test_finding_11_the_erased_pseudonym_is_in_no_analytics_table_and_counts_hold(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, backend: Backend
) -> None:
    secret = client.app[SETTINGS].secret_key
    pseudonym = office.alice.analytics_id
    assert pseudonym is not None
    await _together(client, office, clock, 600)
    await fold_pending(client.app[DB], secret=secret)
    clock.advance(3600)
    await _together(client, office, clock, 300)  # still unfolded when she leaves
    async with client.app[DB]() as session:  # the figures, had she stayed
        await fold(session, secret=secret)
        expected = await _figures(session, office.org.id)
        await session.rollback()
    assert len(expected["pairs"]) == 1

    await _close_account(client, "alice@acme.example")
    await fold_pending(client.app[DB], secret=secret)
    async with client.app[DB]() as session:
        assert await _figures(session, office.org.id) == expected  # nobody counted twice
    stored = "\n".join(await everything_stored(client, backend)).lower()
    for needle in (str(pseudonym), pseudonym.hex):  # PostgreSQL's and SQLite's spelling
        assert needle not in stored, [v for v in stored.splitlines() if needle in v]


async def test_finding_11_conversation_keys_forget_the_erased_id(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    await sign_in(client, "alice@acme.example")
    rt: RealtimeClient = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    opened = await rt.call("chat:open_direct", {"user_ids": [office.bob.id]})
    conversation = opened["conversation"]["id"]
    async with client.app[DB]() as session:
        key = await session.scalar(
            select(Conversation.member_key).where(Conversation.id == conversation)
        )
    assert key is not None and str(office.alice.id) in key.split(",")  # the check can fail
    await rt.close()
    await _close_account(client, "alice@acme.example")
    async with client.app[DB]() as session:
        keys = (await session.scalars(select(Conversation.member_key))).all()
    assert all(str(office.alice.id) not in (k or "").split(",") for k in keys), keys


async def test_finding_11_no_analytics_time_joins_an_anonymised_message(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, realtime: Any
) -> None:
    """Alice's words stay (the policy is "anonymise"); no engagement time equals the time of
    one of them, so no event can be joined to the message it counted."""
    await sign_in(client, "alice@acme.example")
    rt: RealtimeClient = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    opened = await rt.call("chat:open_direct", {"user_ids": [office.bob.id]})
    for i in range(3):
        clock.advance(61.123456)
        sent = await rt.call(
            "chat:send",
            {"conversation_id": opened["conversation"]["id"], "client_id": f"m{i}", "body": "hi"},
        )
        assert sent["ok"], sent
    await rt.close()
    await fold_pending(client.app[DB], secret=client.app[SETTINGS].secret_key)
    await _close_account(client, "alice@acme.example")
    async with client.app[DB]() as session:
        written = set(
            (
                await session.scalars(select(Message.created_at).where(Message.sender_id.is_(None)))
            ).all()
        )
        assert len(written) == 3  # her words, kept without her name
        event_times = set((await session.scalars(select(AnalyticsEvent.at))).all())
        day_times = set((await session.scalars(select(PersonDay.last_at))).all())
    assert written.isdisjoint(event_times)
    assert written.isdisjoint(day_times)
    # Times in analytics are whole hours: nothing finer to join on.
    assert all(t.minute == t.second == t.microsecond == 0 for t in event_times | day_times - {None})


async def test_finding_6_the_daily_run_logs_the_audit_head_outside_the_database(
    client: TestClient[Any, Any], office: Office, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint the database cannot take back: the retention run's log line carries the
    head the log had then."""
    with caplog.at_level(logging.INFO, logger="officehours.retention"):
        await client.app[RETENTION].run(office.org.id)
    (line,) = [r for r in caplog.records if r.getMessage() == "retention.ran"]
    logged = vars(line)
    assert {"audit_entries", "audit_head"} <= set(logged)
    async with client.app[DB]() as session:
        head = await session.get(AuditHead, office.org.id)
    assert head is not None and head.seq == 1  # the run's own entry
    assert (logged["audit_entries"], logged["audit_head"]) == (head.seq, head.hash)
