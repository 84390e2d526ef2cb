"""Mentoring programs over the real HTTP API (and Socket.IO notifications), on every backend."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import icalendar
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.analytics.metrics import Metric
from server.analytics.tables import AnalyticsEvent
from server.audit.actions import AuditAction
from server.audit.log import entries, verify
from server.db.models import User
from server.http.keys import DB, MENTORING
from server.infra.clock import FakeClock
from server.mentoring.tables import CalendarFeed
from server.people import accounts
from server.people.identity import Role
from server.people.passwords import hash_password
from tests.conftest import ORIGIN, PASSWORD, Office, sign_in


class Api:
    """One browser: sign in as someone, then call the API with their CSRF token."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.csrf = ""

    async def as_(self, email: str) -> Api:
        self.client.session.cookie_jar.clear()
        self.csrf = await sign_in(self.client, email)
        return self

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, status: int = 200
    ) -> Any:
        response = await self.client.request(
            method,
            f"/api/mentoring{path}",
            json=body,
            headers={"X-CSRF-Token": self.csrf, "Origin": ORIGIN},
        )
        text = await response.text()
        assert response.status == status, f"{method} {path}: {response.status} {text}"
        if response.content_type == "application/json" and text:
            return await response.json()
        return text

    async def status(self, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        response = await self.client.request(
            method,
            f"/api/mentoring{path}",
            json=body,
            headers={"X-CSRF-Token": self.csrf, "Origin": ORIGIN},
        )
        return response.status


@dataclass
class Cast:
    """acme's admin, alice and bob, plus a program manager and two more members."""

    office: Office
    pm: User
    carol: User
    dan: User


@pytest.fixture
async def cast(client: TestClient[Any, Any], office: Office, clock: FakeClock) -> Cast:
    password_hash = await hash_password(PASSWORD)
    async with client.app[DB]() as session:
        made = []
        for email, name, role in (
            ("pm@acme.example", "Pat Manager", Role.PROGRAM_MANAGER),
            ("carol@acme.example", "Carol", Role.MEMBER),
            ("dan@acme.example", "D.N.", Role.MEMBER),
        ):
            user = await accounts.create_user(
                session,
                office.org.id,
                email=email,
                display_name=name,
                password_hash=password_hash,
                now=clock.now(),
            )
            await accounts.grant(
                session,
                user,
                role,
                group_id=office.group_ids[0] if role is Role.MEMBER else None,
            )
            made.append(user)
        await session.commit()
    return Cast(office, *made)


async def audit_actions(client: TestClient[Any, Any], org_id: int) -> list[AuditAction]:
    async with client.app[DB]() as session:
        assert await verify(session, org_id) is None  # the chain holds
        return [e.action for e in reversed(await entries(session, org_id))]


async def enrol(
    api: Api, program_id: int, user: User, role: str, profile: dict[str, Any], **extra: Any
) -> int:
    """Manager invites; the person fills in the profile and accepts. Returns the enrolment."""
    await api.as_("pm@acme.example")
    invitation = await api.call(
        "POST",
        f"/programs/{program_id}/enrolments",
        {"user_id": user.id, "role": role, **extra},
        201,
    )
    assert user.email is not None
    await api.as_(user.email)
    await api.call("PATCH", f"/enrolments/{invitation['id']}/profile", profile)
    await api.call("POST", f"/enrolments/{invitation['id']}/answer", {"accept": True})
    return int(invitation["id"])


async def new_program(api: Api, **weights: float) -> int:
    await api.as_("pm@acme.example")
    program = await api.call(
        "POST", "/programs", {"name": "Spring mentoring", "weights": weights}, 201
    )
    return int(program["id"])


async def test_a_profile_reaches_the_program_only_after_the_person_accepts(
    client: TestClient[Any, Any], cast: Cast, join: Any
) -> None:
    office = cast.office
    api = Api(client)
    alice_tab = await join("alice@acme.example")
    pid = await new_program(api)
    # Members may not run programs; the other organization does not see this one.
    await api.as_("bob@acme.example")
    assert await api.status("POST", "/programs", {"name": "Mine"}) == 403
    assert await api.status("GET", f"/programs/{pid}") == 403
    await api.as_("eve@other.example")
    assert await api.status("GET", f"/programs/{pid}") == 404

    await api.as_("pm@acme.example")
    invited = await api.call(
        "POST",
        f"/programs/{pid}/enrolments",
        {"user_id": office.alice.id, "role": "mentee", "display_name": "A.L."},
        201,
    )
    assert invited["state"] == "invited" and invited["display_name"] == "A.L."
    assert "profile" not in invited
    note = await alice_tab.wait_for(lambda: alice_tab.received("mentoring:invited"))
    assert note[0] == {
        "enrolment_id": invited["id"],
        "program_id": pid,
        "program_name": "Spring mentoring",
        "role": "mentee",
    }
    again = await api.status(
        "POST", f"/programs/{pid}/enrolments", {"user_id": office.alice.id, "role": "mentee"}
    )
    assert again == 409
    assert (
        await api.status(
            "POST",
            f"/programs/{pid}/enrolments",
            {"user_id": office.outsider.id, "role": "mentee"},
        )
        == 400
    )

    # Alice prepares her profile before deciding: the program sees none of it.
    await api.as_("alice@acme.example")
    await api.call(
        "PATCH",
        f"/enrolments/{invited['id']}/profile",
        {"skills": ["Python", "public speaking"], "timezone": "Europe/Berlin"},
    )
    assert (
        await api.status("PATCH", f"/enrolments/{invited['id']}/profile", {"timezone": "Mars/Base"})
        == 400
    )
    assert (
        await api.status("PATCH", f"/enrolments/{invited['id']}/profile", {"favourite": "x"}) == 400
    )
    await api.as_("pm@acme.example")
    (listed,) = (await api.call("GET", f"/programs/{pid}/enrolments"))["enrolments"]
    assert listed["state"] == "invited" and "profile" not in listed
    assert (
        await api.status("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={invited['id']}")
        == 404
    )
    # Nobody but Alice answers her invitation.
    assert await api.status("POST", f"/enrolments/{invited['id']}/answer", {"accept": True}) == 403

    await api.as_("alice@acme.example")
    mine = await api.call("GET", "/enrolments")
    assert mine["enrolments"][0]["program_name"] == "Spring mentoring"
    accepted = await api.call("POST", f"/enrolments/{invited['id']}/answer", {"accept": True})
    assert accepted["state"] == "active"
    await api.as_("pm@acme.example")
    (listed,) = (await api.call("GET", f"/programs/{pid}/enrolments"))["enrolments"]
    assert listed["profile"]["skills"] == ["python", "public speaking"]
    assert listed["profile"]["timezone"] == "Europe/Berlin"

    # Declining shares nothing, ever.
    bob_invite = await api.call(
        "POST", f"/programs/{pid}/enrolments", {"user_id": office.bob.id, "role": "mentor"}, 201
    )
    await api.as_("bob@acme.example")
    await api.call("PATCH", f"/enrolments/{bob_invite['id']}/profile", {"skills": ["go"]})
    await api.call("POST", f"/enrolments/{bob_invite['id']}/answer", {"accept": False})
    await api.as_("pm@acme.example")
    listed = (await api.call("GET", f"/programs/{pid}/enrolments"))["enrolments"]
    assert [e["state"] for e in listed] == ["active", "declined"] and "profile" not in listed[1]

    assert await audit_actions(client, office.org.id) == [
        AuditAction.PROGRAM_CREATED,
        AuditAction.ENROLMENT_INVITED,
        AuditAction.ENROLMENTS_VIEWED,  # each look at the enrolments is recorded
        AuditAction.ENROLMENTS_VIEWED,
        AuditAction.ENROLMENT_INVITED,
        AuditAction.ENROLMENTS_VIEWED,
    ]


MENTEE = {
    "skills": ["python", "sql", "testing"],
    "goals": ["leadership"],
    "languages": ["English"],
    "availability": [9, 10, 11, 12, 13],
    "timezone": "UTC",
}


async def test_suggestions_with_reasons_mentee_pick_capacity_and_the_pair_room(
    client: TestClient[Any, Any], cast: Cast, join: Any
) -> None:
    office = cast.office
    api = Api(client)
    pid = await new_program(api)
    bob = await enrol(
        api,
        pid,
        office.bob,
        "mentor",
        {
            **MENTEE,
            "skills": ["python", "sql", "testing", "go"],
            "capacity": 1,
            # Bob lets mentees' suggestions use all of his profile (in coarse terms).
            "shown_to_mentees": ["skills", "goals", "languages", "availability", "timezone"],
        },
    )
    carol = await enrol(
        api, pid, cast.carol, "mentor", {"skills": ["python"], "languages": ["German"]}
    )
    alice = await enrol(api, pid, office.alice, "mentee", MENTEE)
    dan = await enrol(api, pid, cast.dan, "mentee", MENTEE)

    await api.as_("alice@acme.example")
    offered = await api.call("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={alice}")
    assert offered["weights"]["skills"] == 3.0
    best, second = offered["suggestions"][:2]
    assert best["mentor_enrolment_id"] == bob and second["mentor_enrolment_id"] == carol
    assert best["reasons"] == [
        "shares 3 skills: python, sql, testing",
        "1 common goal: leadership",
        "speaks English",
        "your weekly hours overlap",  # a mentee learns that, not when
        "a similar time zone",
    ]
    assert best["score"] == 16.0 and best["score"] > second["score"]
    # Another mentee's suggestions are not Alice's to see.
    assert await api.status("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={dan}") == 403

    dan_tab = await join("dan@acme.example")
    await api.as_("alice@acme.example")
    pair = await api.call("POST", f"/programs/{pid}/pick", {"mentor_enrolment_id": bob}, 201)
    assert pair["mode"] == "mentee_pick" and "score" not in pair  # the score is for managers
    assert await api.status("POST", f"/programs/{pid}/pick", {"mentor_enrolment_id": carol}) == 409

    # Bob is full: he is no longer offered, and a manager cannot exceed his capacity.
    await api.as_("dan@acme.example")
    offered = await api.call("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={dan}")
    assert [s["mentor_enrolment_id"] for s in offered["suggestions"]] == [carol]
    assert await api.status("POST", f"/programs/{pid}/pick", {"mentor_enrolment_id": bob}) == 403
    await api.as_("pm@acme.example")
    full = await api.call(
        "POST",
        f"/programs/{pid}/pairs",
        {"mentor_enrolment_id": bob, "mentee_enrolment_id": dan},
        409,
    )
    assert full["error"]["message"] == "this mentor has no capacity left"
    made = await api.call(
        "POST",
        f"/programs/{pid}/pairs",
        {"mentor_enrolment_id": carol, "mentee_enrolment_id": dan},
        201,
    )
    matched = await dan_tab.wait_for(lambda: dan_tab.received("mentoring:matched"))
    assert matched[0]["pair_id"] == made["id"] and matched[0]["room_id"] == made["room_id"]

    # Each pair has its own locked mentoring room, owned by the two of them.
    layout = await (await client.get("/api/office/layout")).json()
    rooms = {r["id"]: r for r in layout["rooms"]}
    room = rooms[pair["room_id"]]
    assert room["kind"] == "mentoring_room" and room["door"] == "locked"
    # Who owns a pair's room is the pairing: shown to the pair only (not to the manager).
    assert room["owners"] == [] and rooms[made["room_id"]]["owners"] == []
    await api.as_("alice@acme.example")
    layout = await (await client.get("/api/office/layout")).json()
    rooms = {r["id"]: r for r in layout["rooms"]}
    assert rooms[pair["room_id"]]["owners"] == sorted([office.alice.id, office.bob.id])
    assert rooms[made["room_id"]]["owners"] == []
    await api.as_("pm@acme.example")

    # A manager ends a pair: audited, room closed, people told.
    await api.call("DELETE", f"/pairs/{made['id']}", status=204)
    assert await api.status("DELETE", f"/pairs/{made['id']}") == 409
    await dan_tab.wait_for(lambda: dan_tab.received("mentoring:unmatched"))
    layout = await (await client.get("/api/office/layout")).json()
    assert made["room_id"] not in {r["id"] for r in layout["rooms"]}
    actions = await audit_actions(client, office.org.id)
    assert actions.count(AuditAction.MATCH_MADE) == 2
    assert actions[-1] is AuditAction.MATCH_ENDED


async def test_whole_program_assignment_is_optimal_and_audited(
    client: TestClient[Any, Any], cast: Cast
) -> None:
    office = cast.office
    api = Api(client)
    pid = await new_program(
        api, goals=0, interests=0, languages=0, availability=0, timezone=0, skills=1
    )
    a_tags = [f"a{i}" for i in range(10)]
    y_tags = [f"y{i}" for i in range(9)]
    mentor_a = await enrol(
        api, pid, office.bob, "mentor", {"skills": a_tags + y_tags, "capacity": 1}
    )
    mentor_b = await enrol(api, pid, cast.carol, "mentor", {"skills": a_tags[:8], "capacity": 1})
    mentee_x = await enrol(api, pid, office.alice, "mentee", {"skills": a_tags})
    mentee_y = await enrol(api, pid, cast.dan, "mentee", {"skills": y_tags})

    await api.as_("pm@acme.example")
    proposal = await api.call("POST", f"/programs/{pid}/assign", {})
    assert proposal["applied"] is False
    assert proposal["total_score"] == 17.0 and proposal["greedy_total_score"] == 10.0
    assert {(p["mentor_enrolment_id"], p["mentee_enrolment_id"]) for p in proposal["pairs"]} == {
        (mentor_a, mentee_y),
        (mentor_b, mentee_x),
    }
    assert proposal["pairs"][0]["reasons"][0].startswith("shares ")
    assert (await api.call("GET", f"/programs/{pid}/pairs"))["pairs"] == []  # nothing made yet

    applied = await api.call("POST", f"/programs/{pid}/assign", {"apply": True})
    assert applied["applied"] is True
    pairs = (await api.call("GET", f"/programs/{pid}/pairs"))["pairs"]
    assert {p["mode"] for p in pairs} == {"optimal"} and len(pairs) == 2
    # Everyone is matched now: a second run proposes nothing.
    assert (await api.call("POST", f"/programs/{pid}/assign", {"apply": True}))["pairs"] == []
    actions = await audit_actions(client, office.org.id)
    assert actions[-3:] == [
        AuditAction.MATCHING_RUN,
        AuditAction.MATCH_MADE,
        AuditAction.MATCH_MADE,
    ]

    # Weights are visible and editable, and the change is audited.
    await api.call("PATCH", f"/programs/{pid}", {"weights": {"languages": 5}})
    program = await api.call("GET", f"/programs/{pid}")
    assert program["weights"]["languages"] == 5.0 and program["weights"]["skills"] == 1.0
    assert (await audit_actions(client, office.org.id))[-1] is AuditAction.WEIGHTS_CHANGED
    assert await api.status("PATCH", f"/programs/{pid}", {"weights": {"skills": -1}}) == 400


async def matched_pair(client: TestClient[Any, Any], cast: Cast) -> tuple[Api, int, int]:
    """Bob mentors Alice. Returns (api, program id, pair id)."""
    api = Api(client)
    pid = await new_program(api)
    mentor = await enrol(api, pid, cast.office.bob, "mentor", MENTEE)
    mentee = await enrol(api, pid, cast.office.alice, "mentee", MENTEE)
    await api.as_("pm@acme.example")
    pair = await api.call(
        "POST",
        f"/programs/{pid}/pairs",
        {"mentor_enrolment_id": mentor, "mentee_enrolment_id": mentee},
        201,
    )
    return api, pid, int(pair["id"])


async def test_agreement_goals_and_milestones_lifecycle(
    client: TestClient[Any, Any], cast: Cast
) -> None:
    api, _, pair_id = await matched_pair(client, cast)
    await api.as_("alice@acme.example")
    agreement = await api.call(
        "PUT", f"/pairs/{pair_id}/agreement", {"goals": "Ship a talk", "cadence": "fortnightly"}
    )
    assert agreement["cadence"] == "fortnightly"
    goal = await api.call(
        "POST", f"/pairs/{pair_id}/goals", {"title": "Give a conference talk"}, 201
    )
    assert goal["status"] == "open"
    first = await api.call(
        "POST", f"/goals/{goal['id']}/milestones", {"title": "Submit a proposal"}, 201
    )
    await api.as_("bob@acme.example")
    second = await api.call(
        "POST",
        f"/goals/{goal['id']}/milestones",
        {"title": "Rehearse", "due_on": "2026-02-01T00:00:00Z"},
        201,
    )
    await api.call("PATCH", f"/milestones/{first['id']}", {"status": "done"})
    view = await api.call("GET", f"/pairs/{pair_id}")
    assert view["agreement"]["goals"] == "Ship a talk"
    (g,) = view["goals"]
    assert g["title"] == "Give a conference talk"
    assert [(m["title"], m["status"]) for m in g["milestones"]] == [
        ("Submit a proposal", "done"),
        ("Rehearse", "open"),
    ]
    assert g["milestones"][1]["due_on"].startswith("2026-02-01")
    await api.call("PATCH", f"/milestones/{second['id']}", {"status": "done"})
    done = await api.call("PATCH", f"/goals/{goal['id']}", {"status": "done"})
    assert done["status"] == "done" and done["done_at"] is not None

    # Managers see that goals exist and are done, never what they say; others nothing.
    await api.as_("pm@acme.example")
    managed = await api.call("GET", f"/pairs/{pair_id}")
    assert managed["goals"] == {"open": 0, "done": 1} and "agreement" not in managed
    assert "conference" not in str(managed)
    await api.as_("carol@acme.example")
    assert await api.status("GET", f"/pairs/{pair_id}") == 403
    assert await api.status("POST", f"/pairs/{pair_id}/goals", {"title": "x"}) == 403
    await api.as_("eve@other.example")
    assert await api.status("GET", f"/pairs/{pair_id}") == 404

    async with client.app[DB]() as session:
        completed = (
            await session.scalars(
                select(AnalyticsEvent).where(AnalyticsEvent.metric == Metric.GOAL_COMPLETED)
            )
        ).all()
    assert len(completed) == 1

    # An ended pair's goals are closed for edits.
    await api.as_("pm@acme.example")
    await api.call("DELETE", f"/pairs/{pair_id}", status=204)
    await api.as_("alice@acme.example")
    assert await api.status("PATCH", f"/goals/{goal['id']}", {"status": "open"}) == 409


async def test_sessions_calendar_file_and_secret_feed(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock
) -> None:
    api, _, pair_id = await matched_pair(client, cast)
    await api.as_("alice@acme.example")
    starts = clock.now() + timedelta(days=1)
    assert (
        await api.status(
            "POST",
            f"/pairs/{pair_id}/sessions",
            {"starts_at": (clock.now() - timedelta(hours=1)).isoformat()},
        )
        == 400
    )
    made = await api.call(
        "POST", f"/pairs/{pair_id}/sessions", {"starts_at": starts.isoformat(), "minutes": 45}, 201
    )
    response = await client.get(f"/api/mentoring/sessions/{made['id']}/calendar.ics")
    assert response.status == 200 and response.content_type == "text/calendar"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = await response.read()
    assert b"\r\n" in raw and all(len(line) <= 75 for line in raw.split(b"\r\n"))
    (event,) = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    assert event.decoded("DTSTART") == starts
    assert event.decoded("DTEND") == starts + timedelta(minutes=45)
    assert str(event["SUMMARY"]) == "Mentoring with Bob"
    assert str(event["UID"]).endswith("@officehours")

    feed = await api.call("POST", "/calendar-feed", status=201)
    client.session.cookie_jar.clear()  # a calendar app has no session
    from_feed = await client.get(feed["url"].removeprefix(ORIGIN))
    assert from_feed.status == 200
    (same,) = icalendar.Calendar.from_ical(await from_feed.read()).walk("VEVENT")
    assert str(same["UID"]) == str(event["UID"])
    assert (await client.get("/api/mentoring/calendar/not-a-token")).status == 404
    async with client.app[DB]() as session:
        stored = (await session.scalars(select(CalendarFeed))).all()
    assert feed["token"] not in {f.token_hash for f in stored}  # only a keyed hash is kept

    # A new feed URL retires the old one; a cancelled session shows as cancelled.
    await api.as_("alice@acme.example")
    newer = await api.call("POST", "/calendar-feed", status=201)
    await api.call("DELETE", f"/sessions/{made['id']}")
    client.session.cookie_jar.clear()
    assert (await client.get(feed["url"].removeprefix(ORIGIN))).status == 404
    text = await (await client.get(newer["url"].removeprefix(ORIGIN))).read()
    (cancelled,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(str(cancelled["SEQUENCE"])) == 1

    # The pair only.
    await api.as_("carol@acme.example")
    assert await api.status("GET", f"/sessions/{made['id']}/calendar.ics") == 403


async def test_session_length_is_time_both_were_present(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock
) -> None:
    api, pid, pair_id = await matched_pair(client, cast)
    await api.as_("bob@acme.example")
    made = await api.call(
        "POST",
        f"/pairs/{pair_id}/sessions",
        {"starts_at": (clock.now() + timedelta(minutes=5)).isoformat()},
        201,
    )
    attendance = client.app[MENTORING].attendance
    alice, bob, carol = cast.office.alice.id, cast.office.bob.id, cast.carol.id
    clock.advance(300)
    await attendance.participant_joined(made["id"], bob, clock.now())
    clock.advance(120)  # alone: does not count
    await attendance.participant_joined(made["id"], alice, clock.now())
    await attendance.participant_joined(made["id"], carol, clock.now())  # not in the pair
    clock.advance(600)
    await attendance.participant_left(made["id"], alice, clock.now())  # a dropped connection
    clock.advance(30)
    await attendance.participant_joined(made["id"], alice, clock.now())
    clock.advance(900)
    await attendance.participant_left(made["id"], bob, clock.now())
    clock.advance(60)
    await attendance.participant_left(made["id"], alice, clock.now())

    view = await api.call("GET", f"/pairs/{pair_id}")
    assert view["sessions"][0]["met_seconds"] == 1500.0
    async with client.app[DB]() as session:
        events = (
            await session.scalars(
                select(AnalyticsEvent)
                .where(AnalyticsEvent.metric == Metric.MENTORING_SESSION)
                .order_by(AnalyticsEvent.id)
            )
        ).all()
    assert [(e.count, e.seconds) for e in events] == [(1, 600.0), (0, 900.0)]
    await api.as_("pm@acme.example")
    health = await api.call("GET", f"/programs/{pid}/health")
    assert health["sessions_held"] == 1 and health["median_session_seconds"] == 1500.0
    assert health["pairs_met_last_30_days"] == 1 and health["pairs_matched"] == 1


async def test_reminders_go_to_both_once_before_the_session(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock, join: Any
) -> None:
    api, _, pair_id = await matched_pair(client, cast)
    alice_tab = await join("alice@acme.example")
    bob_tab = await join("bob@acme.example")
    await api.as_("alice@acme.example")
    made = await api.call(
        "POST",
        f"/pairs/{pair_id}/sessions",
        {"starts_at": (clock.now() + timedelta(hours=1)).isoformat()},
        201,
    )
    sessions = client.app[MENTORING].sessions
    assert await sessions.send_reminders() == 0  # an hour ahead: too early
    clock.advance(46 * 60)
    assert await sessions.send_reminders() == 1
    assert await sessions.send_reminders() == 0  # once only
    for tab in (alice_tab, bob_tab):
        (reminder,) = await tab.wait_for(lambda tab=tab: tab.received("mentoring:reminder"))
        assert reminder["session_id"] == made["id"] and reminder["minutes_before"] == 14
    clock.advance(30 * 60)
    assert await sessions.send_reminders() == 0


async def test_notes_are_read_only_by_the_right_people(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock
) -> None:
    api, _, pair_id = await matched_pair(client, cast)
    await api.as_("alice@acme.example")
    made = await api.call(
        "POST",
        f"/pairs/{pair_id}/sessions",
        {"starts_at": (clock.now() + timedelta(minutes=30)).isoformat()},
        201,
    )
    sid = made["id"]
    await api.call("PUT", f"/sessions/{sid}/notes/shared", {"body": "We agreed on slides"})
    await api.call("PUT", f"/sessions/{sid}/notes/private", {"body": "alice-secret-7Q"})
    await api.as_("bob@acme.example")
    await api.call("PUT", f"/sessions/{sid}/notes/private", {"body": "bob-secret-9Z"})

    seen: dict[str, Any] = {}
    for who in ("alice", "bob"):
        await api.as_(f"{who}@acme.example")
        seen[who] = await api.call("GET", f"/sessions/{sid}/notes")
    assert seen["alice"]["shared"]["body"] == seen["bob"]["shared"]["body"] == "We agreed on slides"
    assert seen["alice"]["private"]["body"] == "alice-secret-7Q"
    assert seen["bob"]["private"]["body"] == "bob-secret-9Z"
    assert "bob-secret" not in str(seen["alice"]) and "alice-secret" not in str(seen["bob"])

    for email, status in (
        ("carol@acme.example", 403),  # another member
        ("pm@acme.example", 403),  # the program manager
        ("admin@acme.example", 403),  # the organization admin
        ("eve@other.example", 404),  # another organization
    ):
        await api.as_(email)
        assert await api.status("GET", f"/sessions/{sid}/notes") == status, email
        assert await api.status("PUT", f"/sessions/{sid}/notes/shared", {"body": "x"}) == status, (
            email
        )
    await api.as_("alice@acme.example")
    assert (await api.call("GET", f"/sessions/{sid}/notes"))["shared"]["body"] == (
        "We agreed on slides"
    )


async def test_feedback_is_for_the_pair_and_managers_see_only_aggregates(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock
) -> None:
    api, pid, pair_id = await matched_pair(client, cast)
    await api.as_("alice@acme.example")
    made = await api.call(
        "POST",
        f"/pairs/{pair_id}/sessions",
        {"starts_at": (clock.now() + timedelta(minutes=30)).isoformat()},
        201,
    )
    sid = made["id"]
    early = await api.call("POST", f"/sessions/{sid}/feedback", {"rating": 5}, 409)
    assert "after a session" in early["error"]["message"]
    clock.advance(3600)
    assert await api.status("POST", f"/sessions/{sid}/feedback", {"rating": 6}) == 400
    await api.call(
        "POST", f"/sessions/{sid}/feedback", {"rating": 4, "text": "feedback-text-3K"}, 201
    )
    assert await api.status("POST", f"/sessions/{sid}/feedback", {"rating": 4}) == 409
    await api.as_("bob@acme.example")
    await api.call("POST", f"/sessions/{sid}/feedback", {"rating": 5}, 201)
    both = await api.call("GET", f"/sessions/{sid}/feedback")
    assert both["given_by"] == ["mentee", "mentor"]
    assert {(f["from"], f["rating"], f["text"]) for f in both["feedback"]} == {
        ("mentee", 4, "feedback-text-3K"),
        ("mentor", 5, ""),
    }

    clock.advance(7 * 86400)  # health counts feedback of weeks that have ended
    for email in ("pm@acme.example", "admin@acme.example"):
        await api.as_(email)
        # Not even who gave feedback: that is the pair's.
        assert await api.status("GET", f"/sessions/{sid}/feedback") == 403
        health = await api.call("GET", f"/programs/{pid}/health")
        assert health["feedback_given"] == 2
        # Two raters are fewer than the minimum group size: no rating is shown.
        assert health["rating"] == {
            "suppressed": True,
            "people": None,
            "average": None,
            "as_of": None,
        }
        assert "feedback-text" not in str(health)
    await api.as_("carol@acme.example")
    assert await api.status("GET", f"/sessions/{sid}/feedback") == 403
    assert await api.status("GET", f"/programs/{pid}/health") == 403
    async with client.app[DB]() as session:
        given = (
            await session.scalars(
                select(AnalyticsEvent).where(AnalyticsEvent.metric == Metric.FEEDBACK_GIVEN)
            )
        ).all()
    assert len(given) == 2


async def test_published_steps_reach_participants_and_are_audited(
    client: TestClient[Any, Any], cast: Cast, join: Any
) -> None:
    api, pid, _ = await matched_pair(client, cast)
    alice_tab = await join("alice@acme.example")
    await api.as_("pm@acme.example")
    step = await api.call("POST", f"/programs/{pid}/steps", {"title": "Kick-off"}, 201)
    await api.as_("alice@acme.example")
    assert (await api.call("GET", f"/programs/{pid}"))["steps"] == []  # not yet published
    await api.as_("pm@acme.example")
    await api.call("POST", f"/steps/{step['id']}/publish")
    assert await api.status("POST", f"/steps/{step['id']}/publish") == 409
    announced = await alice_tab.wait_for(lambda: alice_tab.received("mentoring:step"))
    assert announced[0]["step"]["title"] == "Kick-off"
    await api.as_("alice@acme.example")
    assert [s["title"] for s in (await api.call("GET", f"/programs/{pid}"))["steps"]] == [
        "Kick-off"
    ]
    assert (await audit_actions(client, cast.office.org.id))[-1] is (
        AuditAction.PROGRAM_STEP_PUBLISHED
    )


async def test_a_canary_written_by_the_pair_never_reaches_managers_analytics_audit_or_logs(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="officehours")
    canary = "canary-mentoring-5f1e9"
    api, pid, pair_id = await matched_pair(client, cast)
    await api.as_("alice@acme.example")
    await api.call("PUT", f"/pairs/{pair_id}/agreement", {"goals": canary, "cadence": "weekly"})
    goal = await api.call("POST", f"/pairs/{pair_id}/goals", {"title": canary}, 201)
    await api.call("POST", f"/goals/{goal['id']}/milestones", {"title": canary}, 201)
    await api.call("PATCH", f"/goals/{goal['id']}", {"status": "done"})
    made = await api.call(
        "POST",
        f"/pairs/{pair_id}/sessions",
        {"starts_at": (clock.now() + timedelta(minutes=20)).isoformat()},
        201,
    )
    sid = made["id"]
    await api.call("PUT", f"/sessions/{sid}/notes/shared", {"body": canary})
    await api.call("PUT", f"/sessions/{sid}/notes/private", {"body": canary})
    clock.advance(3600)
    await api.call("POST", f"/sessions/{sid}/feedback", {"rating": 3, "text": canary}, 201)
    assert canary in str(await api.call("GET", f"/pairs/{pair_id}"))  # the pair sees it

    seen = []
    for email in ("pm@acme.example", "admin@acme.example"):
        await api.as_(email)
        for path in (
            f"/programs/{pid}",
            f"/programs/{pid}/enrolments",
            f"/programs/{pid}/pairs",
            f"/programs/{pid}/health",
            f"/pairs/{pair_id}",
        ):
            seen.append(await api.call("GET", path))
        seen.append(await api.call("GET", f"/sessions/{sid}/feedback", status=403))
    assert canary not in str(seen)
    async with client.app[DB]() as session:
        rows = (await session.scalars(select(AnalyticsEvent))).all()
        audit = await entries(session, cast.office.org.id, limit=1000)
    assert canary not in str([vars(r) for r in rows])
    assert canary not in str([(e.action, e.detail) for e in audit])
    ours = [r for r in caplog.records if r.name.startswith("officehours")]
    assert ours and canary not in str([(r.getMessage(), vars(r)) for r in ours])


async def test_withdrawing_ends_the_pair_and_rating_aggregates_show_from_the_minimum_group(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock
) -> None:
    client.app[MENTORING].programs.min_group_size = 2
    api, pid, pair_id = await matched_pair(client, cast)
    await api.as_("alice@acme.example")
    made = await api.call(
        "POST",
        f"/pairs/{pair_id}/sessions",
        {"starts_at": (clock.now() + timedelta(minutes=20)).isoformat()},
        201,
    )
    clock.advance(1800)
    await api.call("POST", f"/sessions/{made['id']}/feedback", {"rating": 4}, 201)
    await api.as_("pm@acme.example")
    assert (await api.call("GET", f"/programs/{pid}/health"))["rating"]["suppressed"] is True
    await api.as_("bob@acme.example")
    await api.call("POST", f"/sessions/{made['id']}/feedback", {"rating": 5}, 201)
    await api.as_("pm@acme.example")
    # Not while the week is still open: nothing moves with each new feedback.
    assert (await api.call("GET", f"/programs/{pid}/health"))["rating"]["suppressed"] is True
    clock.advance(7 * 86400)
    await api.as_("pm@acme.example")
    health = await api.call("GET", f"/programs/{pid}/health")
    assert health["rating"] == {
        "suppressed": False,
        "people": 2,
        "average": 4.5,
        "as_of": health["feedback_until"],
    }

    # Alice leaves the program herself: her pair ends and the program is told so.
    await api.as_("alice@acme.example")
    (mine,) = [e for e in (await api.call("GET", "/enrolments"))["enrolments"]]
    await api.call("DELETE", f"/enrolments/{mine['id']}", status=204)
    assert (await api.call("GET", f"/pairs/{pair_id}"))["state"] == "ended"
    await api.as_("pm@acme.example")
    health = await api.call("GET", f"/programs/{pid}/health")
    assert health["pairs_matched"] == 0 and health["pairs_ended"] == 1 and health["mentees"] == 0
    actions = await audit_actions(client, cast.office.org.id)
    assert actions[-3:] == [
        AuditAction.MATCH_ENDED,
        AuditAction.ENROLMENT_REMOVED,
        AuditAction.PROGRAM_HEALTH_VIEWED,
    ]


async def test_protected_attributes_are_shared_and_used_only_after_opting_in(
    client: TestClient[Any, Any], cast: Cast
) -> None:
    api = Api(client)
    pid = await new_program(api, protected=10, skills=0, goals=0, languages=0, timezone=0)
    mentor = await enrol(
        api,
        pid,
        cast.office.bob,
        "mentor",
        # Bob uses it in matching and lets mentees' suggestions say so.
        {"protected": {"gender": "f"}, "use_protected": True, "shown_to_mentees": ["protected"]},
    )
    mentee = await enrol(api, pid, cast.office.alice, "mentee", {"protected": {"gender": "f"}})
    await api.as_("pm@acme.example")
    listed = {
        e["id"]: e for e in (await api.call("GET", f"/programs/{pid}/enrolments"))["enrolments"]
    }
    assert listed[mentor]["profile"]["protected"] == {"gender": "f"}
    assert listed[mentee]["profile"]["protected"] == {}  # not opted in: not shared
    url = f"/programs/{pid}/suggestions?mentee_enrolment_id={mentee}"
    (before,) = (await api.call("GET", url))["suggestions"]
    assert before["score"] == 0.0 and before["reasons"] == []

    await api.as_("alice@acme.example")
    (own,) = (await api.call("GET", "/enrolments"))["enrolments"]
    assert own["profile"]["protected"] == {"gender": "f"}  # she always sees her own
    await api.call("PATCH", f"/enrolments/{mentee}/profile", {"use_protected": True})
    (after,) = (await api.call("GET", url))["suggestions"]
    assert after["score"] == 10.0 and after["reasons"] == ["same gender (both opted in)"]
    assert (
        await api.status("PATCH", f"/enrolments/{mentee}/profile", {"protected": {"age": "30"}})
        == 400
    )


async def test_the_pair_is_told_of_sessions_and_changes_with_ids_only(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock, join: Any
) -> None:
    api, _, pair_id = await matched_pair(client, cast)
    bob_tab = await join("bob@acme.example")
    await api.as_("alice@acme.example")
    made = await api.call(
        "POST",
        f"/pairs/{pair_id}/sessions",
        {"starts_at": (clock.now() + timedelta(days=2)).isoformat()},
        201,
    )
    goal = await api.call("POST", f"/pairs/{pair_id}/goals", {"title": "Private words"}, 201)
    await api.call("PUT", f"/sessions/{made['id']}/notes/shared", {"body": "More words"})
    (session_event,) = await bob_tab.wait_for(lambda: bob_tab.received("mentoring:session"))
    assert session_event == {"pair_id": pair_id, **made}
    changes = await bob_tab.wait_for(
        lambda: (
            len(bob_tab.received("mentoring:pair_changed")) >= 2
            and bob_tab.received("mentoring:pair_changed")
        )
    )
    assert changes == [
        {"pair_id": pair_id, "what": "goal", "goal_id": goal["id"]},
        {"pair_id": pair_id, "what": "notes", "session_id": made["id"]},
    ]


def test_pair_rooms_take_the_first_free_cell_around_rooms_of_any_size() -> None:
    from rooms.layout import Rect
    from server.mentoring.pair_rooms import free_spot

    assert free_spot(30, 16, []) == Rect(0, 0, 10, 8)
    # An admin's big room covers the first two cells of the first row (and part of a third).
    big = Rect(0, 0, 21, 5)
    assert free_spot(40, 16, [big]) == Rect(30, 0, 10, 8)
    full = [Rect(0, 0, 30, 16)]
    assert free_spot(30, 16, full) is None


async def test_guests_take_no_part_in_mentoring(
    client: TestClient[Any, Any], cast: Cast, join: Any, realtime: Any
) -> None:
    from tests.people import rooms_by_name
    from tests.test_guests import guest_joins, make_link

    api, pid, pair_id = await matched_pair(client, cast)
    rooms = await rooms_by_name(client, cast.office.org.id)
    alice = await join("alice@acme.example")
    await alice.call("room:enter", {"room_id": rooms["Lobby"]})
    link = await make_link(client, rooms["Lobby"], requires_admission=False)
    await guest_joins(client, realtime, link["token"])
    csrf = (await (await client.get("/api/auth/session")).json())["csrf_token"]
    api.csrf = csrf
    for method, path in (
        ("GET", "/programs"),
        ("GET", f"/programs/{pid}"),
        ("GET", "/enrolments"),
        ("GET", f"/pairs/{pair_id}"),
    ):
        assert await api.status(method, path) == 403, path
    assert await api.status("POST", "/calendar-feed") == 403


async def test_an_ended_pairs_room_stays_while_occupied_and_goes_once_empty(
    client: TestClient[Any, Any], cast: Cast, join: Any
) -> None:
    from tests.people import rooms_by_name

    api, _, pair_id = await matched_pair(client, cast)
    await api.as_("alice@acme.example")
    room_id = (await api.call("GET", f"/pairs/{pair_id}"))["room_id"]
    alice = await join("alice@acme.example")
    assert (await alice.call("room:enter", {"room_id": room_id}))["ok"]
    await api.as_("pm@acme.example")
    await api.call("DELETE", f"/pairs/{pair_id}", status=204)

    async def room_ids() -> set[int]:
        layout = await (await client.get("/api/office/layout")).json()
        return {r["id"] for r in layout["rooms"]}

    pair_rooms = client.app[MENTORING].rooms
    assert await pair_rooms.archive_ended_rooms() == 0  # Alice is still inside
    assert room_id in await room_ids()
    lobby = (await rooms_by_name(client, cast.office.org.id))["Lobby"]
    assert (await alice.call("room:enter", {"room_id": lobby}))["ok"]
    assert await pair_rooms.archive_ended_rooms() == 1
    assert room_id not in await room_ids()
    assert (await alice.call("room:enter", {"room_id": room_id}))["error"]["code"] == "not_found"
    assert await pair_rooms.archive_ended_rooms() == 0  # done once
