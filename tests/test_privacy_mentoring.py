"""Data rights over mentoring: a person's export holds their mentoring data (never the other
person's private notes), an organization's export holds none of what a pair wrote, and
erasure leaves nothing that names the person while the partner keeps the shared history."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.db.models import RoomOwner
from server.http.keys import DB, MENTORING
from server.infra.clock import FakeClock
from server.mentoring.tables import CalendarFeed, Enrolment
from tests.browsers import Browser
from tests.conftest import ORIGIN, Backend, Office
from tests.test_mentoring import Api
from tests.test_privacy import admin_of, everything_stored, unzip

PROFILE_TAGS = {"skills": ["zanzibar-skill-4k"], "goals": ["lead-teams-8w"]}
AGREEMENT = "agreement-text-3r"
GOAL = "goal-title-5t"
MILESTONE = "milestone-title-6u"
SHARED = "shared-agenda-2m"
ALICE_PRIVATE = "mentee-private-7q"
BOB_PRIVATE = "mentor-private-9z"
ALICE_FEEDBACK = "mentee-feedback-1p"
BOB_FEEDBACK = "mentor-feedback-8c"
ALICE_WROTE_SHARED = (AGREEMENT, GOAL, MILESTONE, SHARED, ALICE_FEEDBACK)


@dataclass
class Traces:
    api: Api
    program_id: int
    pair_id: int
    session_id: int
    feed_url: str


async def enrol(
    api: Api, program_id: int, email: str, user_id: int, role: str, **profile: Any
) -> int:
    """The admin (who runs programs) invites; the person fills in a profile and accepts."""
    await api.as_("admin@acme.example")
    invitation = await api.call(
        "POST", f"/programs/{program_id}/enrolments", {"user_id": user_id, "role": role}, 201
    )
    await api.as_(email)
    body = {"languages": ["English"], "availability": [9, 10], **profile}
    await api.call("PATCH", f"/enrolments/{invitation['id']}/profile", body)
    await api.call("POST", f"/enrolments/{invitation['id']}/answer", {"accept": True})
    return int(invitation["id"])


async def alice_is_mentored_by_bob(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> Traces:
    """Bob mentors Alice: an agreement, a goal with a milestone, a session that took place
    with a shared note, private notes from both, feedback from both and Alice's calendar feed."""
    api = Api(client)
    await api.as_("admin@acme.example")
    program = await api.call("POST", "/programs", {"name": "Autumn mentoring"}, 201)
    pid = int(program["id"])
    mentor = await enrol(api, pid, "bob@acme.example", office.bob.id, "mentor")
    mentee = await enrol(api, pid, "alice@acme.example", office.alice.id, "mentee", **PROFILE_TAGS)
    await api.as_("admin@acme.example")
    pair = await api.call(
        "POST",
        f"/programs/{pid}/pairs",
        {"mentor_enrolment_id": mentor, "mentee_enrolment_id": mentee},
        201,
    )
    pair_id = int(pair["id"])

    await api.as_("alice@acme.example")
    await api.call("PUT", f"/pairs/{pair_id}/agreement", {"goals": AGREEMENT, "cadence": "weekly"})
    goal = await api.call("POST", f"/pairs/{pair_id}/goals", {"title": GOAL}, 201)
    await api.call("POST", f"/goals/{goal['id']}/milestones", {"title": MILESTONE}, 201)
    made = await api.call(
        "POST",
        f"/pairs/{pair_id}/sessions",
        {"starts_at": (clock.now() + timedelta(minutes=30)).isoformat()},
        201,
    )
    sid = int(made["id"])
    await api.call("PUT", f"/sessions/{sid}/notes/shared", {"body": SHARED})
    await api.call("PUT", f"/sessions/{sid}/notes/private", {"body": ALICE_PRIVATE})
    feed = await api.call("POST", "/calendar-feed", status=201)
    clock.advance(3600)
    await api.call("POST", f"/sessions/{sid}/feedback", {"rating": 4, "text": ALICE_FEEDBACK}, 201)
    await api.as_("bob@acme.example")
    await api.call("PUT", f"/sessions/{sid}/notes/private", {"body": BOB_PRIVATE})
    await api.call("POST", f"/sessions/{sid}/feedback", {"rating": 5, "text": BOB_FEEDBACK}, 201)
    return Traces(api, pid, pair_id, sid, str(feed["url"]))


async def test_a_person_exports_their_mentoring_but_not_the_other_persons_private_notes(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, browser: Callable[[], Browser]
) -> None:
    traces = await alice_is_mentored_by_bob(client, office, clock)
    alice = await browser().sign_in("alice@acme.example")
    response = await alice.request("GET", "/api/me/export")
    assert response.status == 200
    files = unzip(await response.read())
    assert "`mentoring/`" in files["README.md"]
    assert {n for n in files["manifest.json"]["files"] if n.startswith("mentoring/")} == {
        f"mentoring/{name}.json"
        for name in (
            "enrolments",
            "pairs",
            "goals",
            "milestones",
            "sessions",
            "shared_notes",
            "private_notes",
            "feedback",
            "calendar_feed",
        )
    }
    (enrolment,) = files["mentoring/enrolments.json"]
    assert enrolment["role"] == "mentee" and enrolment["state"] == "active"
    assert enrolment["skills"] == PROFILE_TAGS["skills"]
    assert enrolment["goals"] == PROFILE_TAGS["goals"]
    (pair,) = files["mentoring/pairs.json"]
    assert pair["id"] == traces.pair_id and pair["your_role"] == "mentee"
    assert pair["other_person"] == "Bob" and pair["agreement"] == AGREEMENT
    assert [g["title"] for g in files["mentoring/goals.json"]] == [GOAL]
    assert [m["title"] for m in files["mentoring/milestones.json"]] == [MILESTONE]
    assert [s["id"] for s in files["mentoring/sessions.json"]] == [traces.session_id]
    assert [(n["body"], n["last_edited_by_you"]) for n in files["mentoring/shared_notes.json"]] == [
        (SHARED, True)
    ]
    assert [n["body"] for n in files["mentoring/private_notes.json"]] == [ALICE_PRIVATE]
    assert {(f["from"], f["rating"], f["text"]) for f in files["mentoring/feedback.json"]} == {
        ("you", 4, ALICE_FEEDBACK),
        ("mentor", 5, BOB_FEEDBACK),  # Bob's feedback on her session, as she reads it
    }
    assert len(files["mentoring/calendar_feed.json"]) == 1
    everything = json.dumps(files)
    assert BOB_PRIVATE not in everything  # Bob's private note is Bob's
    token = traces.feed_url.rsplit("/", 1)[1]
    assert token not in everything and "token_hash" not in everything
    assert "bob@acme.example" not in everything

    # Bob's export: his private note, never Alice's; Alice by her program name only.
    bob = await browser().sign_in("bob@acme.example")
    bob_files = unzip(await (await bob.request("GET", "/api/me/export")).read())
    bob_everything = json.dumps(bob_files)
    assert BOB_PRIVATE in bob_everything and ALICE_PRIVATE not in bob_everything
    assert PROFILE_TAGS["skills"][0] not in bob_everything  # her profile is hers
    assert "alice@acme.example" not in bob_everything
    assert bob_files["mentoring/pairs.json"][0]["other_person"] == "Alice"
    assert bob_files["mentoring/calendar_feed.json"] == []


async def test_an_org_export_holds_mentoring_ids_counts_and_times_only(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, browser: Callable[[], Browser]
) -> None:
    traces = await alice_is_mentored_by_bob(client, office, clock)
    admin = await admin_of(browser)
    files = unzip(await (await admin.request("GET", "/api/org/export")).read())
    assert "`mentoring/`" in files["README.md"]
    assert [p["name"] for p in files["mentoring/programs.json"]] == ["Autumn mentoring"]
    assert {(e["user_id"], e["role"]) for e in files["mentoring/enrolments.json"]} == {
        (office.alice.id, "mentee"),
        (office.bob.id, "mentor"),
    }
    (pair,) = files["mentoring/pairs.json"]
    assert pair["id"] == traces.pair_id and pair["mentee_id"] == office.alice.id
    assert (pair["goals_open"], pair["goals_done"]) == (1, 0)
    (meeting,) = files["mentoring/sessions.json"]
    assert meeting["id"] == traces.session_id
    assert "feedback_given" not in meeting  # whether the pair gave feedback is theirs
    everything = json.dumps(files)
    for needle in (*ALICE_WROTE_SHARED, ALICE_PRIVATE, BOB_PRIVATE, BOB_FEEDBACK):
        assert needle not in everything, needle
    assert PROFILE_TAGS["skills"][0] not in everything
    assert '"rating"' not in everything


@pytest.mark.parametrize("content", ["anonymise", "delete"])
async def test_erasure_leaves_no_mentoring_trace_and_the_partner_keeps_the_shared_history(
    client: TestClient[Any, Any],
    office: Office,
    clock: FakeClock,
    backend: Backend,
    browser: Callable[[], Browser],
    content: str,
) -> None:
    admin = await admin_of(browser)
    changed = await admin.request(
        "PATCH", "/api/org/privacy-policy", json={"erased_content": content}
    )
    assert changed.status == 200
    traces = await alice_is_mentored_by_bob(client, office, clock)
    api, pair_id, sid = traces.api, traces.pair_id, traces.session_id
    haystack = "\n".join(await everything_stored(client, backend)).lower()
    for needle in ("alice", ALICE_PRIVATE, PROFILE_TAGS["skills"][0], *ALICE_WROTE_SHARED):
        assert needle in haystack, needle  # the search finds them before

    await api.as_("alice@acme.example")
    closed = await client.post(
        "/api/me/close-account",
        json={"confirm": True},
        headers={"X-CSRF-Token": api.csrf, "Origin": ORIGIN},
    )
    assert closed.status == 204

    haystack = "\n".join(await everything_stored(client, backend)).lower()
    gone = ["alice@acme.example", "alice", ALICE_PRIVATE, *PROFILE_TAGS["skills"]]
    gone += PROFILE_TAGS["goals"]
    kept = [BOB_PRIVATE, BOB_FEEDBACK]  # Bob's words are Bob's
    if content == "delete":
        gone += ALICE_WROTE_SHARED
    else:
        kept += ALICE_WROTE_SHARED
    for needle in gone:
        assert needle not in haystack, [v for v in haystack.splitlines() if needle in v]
    for needle in kept:
        assert needle in haystack, needle

    # Bob still reads the pair's history, from "Anonymous user"; the pair has ended.
    await api.as_("bob@acme.example")
    pair = await api.call("GET", f"/pairs/{pair_id}")
    assert pair["mentee_name"] == "Anonymous user" and pair["state"] == "ended"
    anonymise = content == "anonymise"
    assert pair["agreement"]["goals"] == (AGREEMENT if anonymise else "")
    (goal,) = pair["goals"]
    assert goal["title"] == (GOAL if anonymise else "")
    assert [m["title"] for m in goal["milestones"]] == [MILESTONE if anonymise else ""]
    notes = await api.call("GET", f"/sessions/{sid}/notes")
    assert notes["private"]["body"] == BOB_PRIVATE
    assert (notes["shared"] or {}).get("body") == (SHARED if anonymise else None)
    feedback = await api.call("GET", f"/sessions/{sid}/feedback")
    assert {(f["from"], f["rating"], f["text"]) for f in feedback["feedback"]} == {
        ("mentee", 4, ALICE_FEEDBACK if anonymise else ""),
        ("mentor", 5, BOB_FEEDBACK),
    }

    # Her calendar feed is revoked, her enrolment out of matching, the pair room closed.
    assert (await client.get(traces.feed_url.removeprefix(ORIGIN))).status == 404
    async with client.app[DB]() as session:
        assert not (
            await session.scalars(
                select(CalendarFeed).where(CalendarFeed.user_id == office.alice.id)
            )
        ).all()
        states = await session.scalars(
            select(Enrolment.state).where(Enrolment.user_id == office.alice.id)
        )
        assert [s.value for s in states] == ["removed"]
        room_id = pair["room_id"]
        assert room_id is not None
        assert not (
            await session.scalars(select(RoomOwner).where(RoomOwner.room_id == room_id))
        ).all()
    assert await client.app[MENTORING].rooms.archive_ended_rooms() == 1  # nobody was inside
    layout = await (await client.get("/api/office/layout")).json()
    assert room_id not in {r["id"] for r in layout["rooms"]}

    # Idempotent: erasing again changes nothing that Bob sees.
    again = await admin.request("POST", f"/api/org/people/{office.alice.id}/erase")
    assert again.status == 204
    await api.as_("bob@acme.example")
    assert await api.call("GET", f"/pairs/{pair_id}") == pair
