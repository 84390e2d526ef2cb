"""Issue 16, the mentoring stream: pair rooms belong to the pair, pairings stay out of the
floor plan, ratings cannot be differenced, suggestions show only what mentors chose to show,
guests read a room's chat only from their admission, and managers' reads are audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from server.audit.actions import AuditAction
from server.audit.log import entries, verify
from server.db.models import Room, User
from server.http.keys import DB
from server.infra.clock import FakeClock
from server.mentoring.tables import (
    Enrolment,
    EnrolmentRole,
    EnrolmentState,
    MatchMode,
    MentoringSession,
    Pair,
    PairState,
)
from server.people import accounts
from server.people.identity import Role
from server.people.passwords import hash_password
from tests.conftest import ORIGIN, PASSWORD, sign_in
from tests.people import Person, rooms_by_name
from tests.test_guests import guest_joins, make_link
from tests.test_mentoring import Api, Cast, cast, enrol, matched_pair, new_program

__all__ = ["cast"]  # the fixture, used by name


async def office_call(
    client: TestClient[Any, Any], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    csrf = (await (await client.get("/api/auth/session")).json())["csrf_token"]
    response = await client.request(
        method, path, json=body, headers={"X-CSRF-Token": csrf, "Origin": ORIGIN}
    )
    text = await response.text()
    return response.status, (json.loads(text) if text else None)


async def pair_room(client: TestClient[Any, Any], pair_id: int) -> int:
    async with client.app[DB]() as session:
        pair = await session.get(Pair, pair_id)
        assert pair is not None and pair.room_id is not None
        return pair.room_id


async def audit_log(client: TestClient[Any, Any], org_id: int) -> list[Any]:
    async with client.app[DB]() as session:
        assert await verify(session, org_id) is None
        return list(reversed(await entries(session, org_id, limit=500)))


# -- finding 2: pair rooms and their chat belong to the pair --------------------------------


async def test_finding_2_admin_cannot_open_reown_or_enter_a_pair_room(
    client: TestClient[Any, Any], cast: Cast, join: Any
) -> None:
    _, _, pair_id = await matched_pair(client, cast)
    room = await pair_room(client, pair_id)
    # The pair talk in their room.
    alice = await join("alice@acme.example")
    assert (await alice.call("room:enter", {"room_id": room}))["outcome"] == "entered"
    chat = await alice.call("chat:room", {"room_id": room})
    sent = await alice.call(
        "chat:send",
        {"conversation_id": chat["conversation"]["id"], "client_id": "p1", "body": "pair-secret"},
    )
    assert sent["ok"] is True
    assert (await alice.call("room:leave", {}))["ok"] is True

    admin = await join("admin@acme.example")
    # Every way to open the room up is refused, and changes nothing.
    for body in (
        {"door": "open"},
        {"door": "closed"},
        {"name": "Admin's room"},
        {"kind": "meeting_room"},
        {"capacity": 10},
    ):
        status, answer = await office_call(client, "PATCH", f"/api/office/rooms/{room}", body)
        assert status == 403, (body, answer)
    status, _ = await office_call(
        client,
        "PUT",
        f"/api/office/rooms/{room}/owners",
        {"user_ids": [cast.office.admin.id, cast.office.alice.id, cast.office.bob.id]},
    )
    assert status == 403
    status, _ = await office_call(client, "POST", f"/api/office/rooms/{room}/guest-links", {})
    assert status == 403
    async with client.app[DB]() as session:
        stored = await session.get(Room, room)
        assert stored is not None and stored.door.value == "locked"
        assert stored.name == f"Mentoring pair {pair_id}"

    # Even with the door opened by another path (the pair's own choice, or the database),
    # nobody but the pair walks in, and so nobody else reads the room's chat.
    async with client.app[DB]() as session:
        await session.execute(update(Room).where(Room.id == room).values(door="open"))
        await session.commit()
    refused = await admin.call("room:enter", {"room_id": room})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden", refused
    read = await admin.call("chat:room", {"room_id": room})
    assert read["ok"] is False and "pair-secret" not in str(read)
    carol = await join("carol@acme.example")
    assert (await carol.call("room:enter", {"room_id": room}))["error"]["code"] == "forbidden"
    # The pair themselves still go in.
    assert (await alice.call("room:enter", {"room_id": room}))["outcome"] == "entered"
    # Nor can someone inside "get" a third person into it.
    got = await alice.call("person:get", {"user_id": cast.office.admin.id})
    assert got["ok"] is False and got["error"]["code"] == "forbidden", got
    await alice.call("room:leave", {})

    # What an admin may do: move it, and archive it once it is empty.
    await sign_in(client, "admin@acme.example")
    status, _ = await office_call(client, "PATCH", f"/api/office/rooms/{room}", {"x": 30})
    assert status == 200
    status, _ = await office_call(client, "DELETE", f"/api/office/rooms/{room}")
    assert status == 204


async def test_finding_2_layout_and_guest_link_changes_are_audited(
    client: TestClient[Any, Any], cast: Cast, join: Any
) -> None:
    office = cast.office
    rooms = await rooms_by_name(client, office.org.id)
    await sign_in(client, "admin@acme.example")
    status, floor = await office_call(
        client, "POST", "/api/office/floors", {"name": "Roof-name-7Q", "width": 20, "height": 20}
    )
    assert status == 201
    status, room = await office_call(
        client,
        "POST",
        f"/api/office/floors/{floor['id']}/rooms",
        {
            "name": "Deck-name-7Q",
            "kind": "meeting_room",
            "x": 0,
            "y": 0,
            "w": 4,
            "h": 4,
            "capacity": 4,
        },
    )
    assert status == 201
    status, _ = await office_call(
        client,
        "PATCH",
        f"/api/office/rooms/{room['id']}",
        {"door": "locked", "name": "Deck-renamed-7Q"},
    )
    assert status == 200
    status, _ = await office_call(
        client, "PUT", f"/api/office/rooms/{room['id']}/owners", {"user_ids": [office.bob.id]}
    )
    assert status == 200
    status, _ = await office_call(client, "DELETE", f"/api/office/rooms/{room['id']}")
    assert status == 204
    link = await make_link(client, rooms["Lobby"], valid_minutes=60)
    status, _ = await office_call(client, "DELETE", f"/api/office/guest-links/{link['id']}")
    assert status == 204

    log = await audit_log(client, office.org.id)
    layout = [e for e in log if e.action is AuditAction.LAYOUT_CHANGED]
    assert [(e.target_kind.value, e.target_id, e.detail["op"]) for e in layout] == [
        ("floor", floor["id"], "floor_added"),
        ("room", room["id"], "room_added"),
        ("room", room["id"], "room_changed"),
        ("room", room["id"], "owners_set"),
        ("room", room["id"], "room_archived"),
    ]
    assert all(e.actor_id == office.admin.id for e in layout)
    assert layout[2].detail["door"] == "locked" and layout[3].detail["owners"] == [office.bob.id]
    links = [e for e in log if e.action.value.startswith("guest_link.")]
    assert [(e.action, e.target_id) for e in links] == [
        (AuditAction.GUEST_LINK_CREATED, link["id"]),
        (AuditAction.GUEST_LINK_REVOKED, link["id"]),
    ]
    assert links[0].detail["room_id"] == rooms["Lobby"]
    # Ids, never names or tokens.
    written = str([(e.detail, e.target_id) for e in log])
    assert "7Q" not in written and link["token"] not in written


# -- finding 5: the floor plan does not say who is paired with whom -------------------------


async def test_finding_5_layout_shows_a_pair_rooms_owners_to_the_pair_only(
    client: TestClient[Any, Any], cast: Cast, join: Any
) -> None:
    _, _, pair_id = await matched_pair(client, cast)
    room = await pair_room(client, pair_id)
    pair_people = sorted([cast.office.alice.id, cast.office.bob.id])

    async def owners_seen_by(email: str) -> list[int]:
        await sign_in(client, email)
        layout = await (await client.get("/api/office/layout")).json()
        (shown,) = [r for r in layout["rooms"] if r["id"] == room]
        return list(shown["owners"])

    assert await owners_seen_by("carol@acme.example") == []
    assert await owners_seen_by("admin@acme.example") == []
    assert await owners_seen_by("pm@acme.example") == []
    assert await owners_seen_by("alice@acme.example") == pair_people
    carol = await join("carol@acme.example")
    snapshot = await carol.call("office:snapshot", {})
    (shown,) = [r for r in snapshot["rooms"] if r["id"] == room]
    assert shown["owners"] == []
    # A layout change tells everyone the new plan: without the pairing either.
    await sign_in(client, "admin@acme.example")
    status, _ = await office_call(client, "PATCH", f"/api/office/rooms/{room}", {"x": 30})
    assert status == 200
    layouts = await carol.wait_for(lambda: carol.received("office:layout"))
    (broadcast,) = [r for r in layouts[-1]["rooms"] if r["id"] == room]
    assert broadcast["owners"] == []
    # Ordinary rooms keep showing their owners.
    rooms = await rooms_by_name(client, cast.office.org.id)
    status, _ = await office_call(
        client,
        "PUT",
        f"/api/office/rooms/{rooms['Office 1']}/owners",
        {"user_ids": [cast.office.bob.id]},
    )
    assert status == 200
    assert [
        r["owners"]
        for r in (await carol.call("office:snapshot", {}))["rooms"]
        if r["id"] == rooms["Office 1"]
    ] == [[cast.office.bob.id]]


# -- finding 3: one person's rating cannot be learned ---------------------------------------


async def rated_program(client: TestClient[Any, Any], cast: Cast, clock: FakeClock) -> int:
    """A program of three pairs (six people), each with one session that took place."""
    api = Api(client)
    pid = await new_program(api)
    password_hash = await hash_password(PASSWORD)
    async with client.app[DB]() as session:
        people = []
        for i in range(8):
            user = await accounts.create_user(
                session,
                cast.office.org.id,
                email=f"rater{i}@acme.example",
                display_name=f"Rater {i}",
                password_hash=password_hash,
                now=clock.now(),
            )
            await accounts.grant(session, user, Role.MEMBER, group_id=cast.office.group_ids[0])
            people.append(user)
        await session.flush()
        for mentor, mentee in zip(people[::2], people[1::2], strict=True):
            enrolments = []
            for user, role in ((mentor, EnrolmentRole.MENTOR), (mentee, EnrolmentRole.MENTEE)):
                enrolment = Enrolment(
                    program_id=pid,
                    user_id=user.id,
                    role=role,
                    state=EnrolmentState.ACTIVE,
                    display_name=user.display_name,
                    invited_at=clock.now(),
                    accepted_at=clock.now(),
                )
                session.add(enrolment)
                enrolments.append(enrolment)
            await session.flush()
            pair = Pair(
                program_id=pid,
                mentor_enrolment_id=enrolments[0].id,
                mentee_enrolment_id=enrolments[1].id,
                mentor_id=mentor.id,
                mentee_id=mentee.id,
                state=PairState.ACTIVE,
                mode=MatchMode.MANAGER,
                matched_at=clock.now(),
            )
            session.add(pair)
            await session.flush()
            session.add(
                MentoringSession(
                    pair_id=pair.id,
                    uid=f"s{pair.id}",
                    starts_at=clock.now() - timedelta(days=30),
                    ends_at=clock.now() - timedelta(days=30, minutes=-30),
                )
            )
        await session.commit()
    return pid


async def rate(client: TestClient[Any, Any], email: str, rating: int) -> None:
    async with client.app[DB]() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        pair = await session.scalar(
            select(Pair).where((Pair.mentor_id == user.id) | (Pair.mentee_id == user.id))
        )
        assert pair is not None
        meeting = await session.scalar(
            select(MentoringSession.id).where(MentoringSession.pair_id == pair.id)
        )
    api = Api(client)
    await api.as_(email)
    await api.call("POST", f"/sessions/{meeting}/feedback", {"rating": rating}, 201)


async def test_finding_3_one_rating_cannot_be_read_off_program_health(
    client: TestClient[Any, Any], cast: Cast, clock: FakeClock
) -> None:
    pid = await rated_program(client, cast, clock)
    api = Api(client)
    for i, rating in enumerate((5, 4, 4, 3, 5)):
        await rate(client, f"rater{i}@acme.example", rating)
    await api.as_("pm@acme.example")
    # Feedback of a week that has not ended counts nowhere yet.
    fresh = await api.call("GET", f"/programs/{pid}/health")
    assert fresh["rating"]["suppressed"] is True and fresh["feedback_given"] == 0
    clock.advance(7 * 86400)
    await api.as_("pm@acme.example")  # sessions end with the days: sign in again
    before = await api.call("GET", f"/programs/{pid}/health")
    assert before["rating"]["people"] == 5 and before["rating"]["average"] == 4.2
    assert "distribution" not in before["rating"]  # a bucket is too often one person

    # One more person rates: no reading afterwards differs from the one before, in this
    # week, the next, or the one after.
    await rate(client, "rater5@acme.example", 1)
    await api.as_("pm@acme.example")
    for _ in range(3):
        await api.as_("pm@acme.example")
        after = await api.call("GET", f"/programs/{pid}/health")
        assert after["rating"] == before["rating"]
        clock.advance(7 * 86400)
    # Only once enough new people have rated is a new figure published.
    await rate(client, "rater6@acme.example", 2)
    await rate(client, "rater7@acme.example", 2)
    clock.advance(7 * 86400)
    await api.as_("pm@acme.example")
    still = await api.call("GET", f"/programs/{pid}/health")
    assert still["rating"] == before["rating"]  # 8 raters: fewer than 5 new ones


async def test_finding_3_nobody_but_the_pair_learns_who_gave_feedback(
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
    clock.advance(3600)
    await api.call("POST", f"/sessions/{made['id']}/feedback", {"rating": 2}, 201)
    for email in ("pm@acme.example", "admin@acme.example", "carol@acme.example"):
        await api.as_(email)
        response = await client.get(f"/api/mentoring/sessions/{made['id']}/feedback")
        assert response.status == 403, email
        assert "mentee" not in await response.text()
    # The pair keep what they had: their own and each other's feedback on their session.
    await api.as_("bob@acme.example")
    seen = await api.call("GET", f"/sessions/{made['id']}/feedback")
    assert seen["given_by"] == ["mentee"] and seen["feedback"][0]["rating"] == 2


# -- finding 9: suggestions reveal only what a mentor agreed to show -------------------------

MENTOR_PROFILE = {
    "skills": ["python", "kubernetes"],
    "goals": ["career-change"],
    "interests": ["chess", "sailing"],
    "languages": ["English"],
    "availability": [30, 31, 32, 100],
    "timezone": "Asia/Tokyo",
}


async def test_finding_9_mentee_cannot_read_a_mentors_private_profile_by_probing(
    client: TestClient[Any, Any], cast: Cast
) -> None:
    api = Api(client)
    pid = await new_program(api)
    await enrol(api, pid, cast.office.bob, "mentor", MENTOR_PROFILE)
    mentee = await enrol(
        api, pid, cast.office.alice, "mentee", {"skills": ["python"], "languages": ["English"]}
    )

    async def probe(**profile: Any) -> dict[str, Any]:
        await api.as_("alice@acme.example")
        await api.call("PATCH", f"/enrolments/{mentee}/profile", profile)
        (suggested,) = (
            await api.call("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={mentee}")
        )["suggestions"]
        return dict(suggested)

    # Alice copies what she guesses of Bob into her profile, one part at a time: whatever
    # Bob did not choose to show changes nothing she can see.
    baseline = await probe(goals=[], interests=[], availability=[], timezone="UTC")
    assert baseline["reasons"] == ["shares 1 skill: python", "speaks English"]
    for guess in (
        {"goals": ["career-change"]},
        {"interests": ["chess", "sailing"]},
        {"availability": [30]},
        {"availability": [30, 31, 32, 100]},
        {"timezone": "Asia/Tokyo"},
    ):
        seen = await probe(**guess)
        assert (seen["reasons"], seen["score"], seen["parts"]) == (
            baseline["reasons"],
            baseline["score"],
            baseline["parts"],
        ), guess
        await probe(goals=[], interests=[], availability=[], timezone="UTC")

    # When Bob shows his hours and time zone, Alice learns that they overlap, not when.
    await api.as_("bob@acme.example")
    bob_enrolment = (await api.call("GET", "/enrolments"))["enrolments"][0]["id"]
    await api.call(
        "PATCH",
        f"/enrolments/{bob_enrolment}/profile",
        {"shown_to_mentees": ["skills", "languages", "availability", "timezone"]},
    )
    one = await probe(availability=[30], timezone="Asia/Seoul")
    three = await probe(availability=[30, 31, 32])
    assert "your weekly hours overlap" in one["reasons"]
    assert "a similar time zone" in one["reasons"]
    assert (one["reasons"], one["score"]) == (three["reasons"], three["score"])
    assert not any(ch.isdigit() for r in one["reasons"] for ch in r if "hour" in r or "zone" in r)

    # The program manager still sees the whole picture (and that look is recorded).
    await api.as_("pm@acme.example")
    (managed,) = (
        await api.call("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={mentee}")
    )["suggestions"]
    assert "overlapping hours: 3/week" in managed["reasons"]


async def test_finding_9_the_pair_score_does_not_give_hidden_parts_away(
    client: TestClient[Any, Any], cast: Cast
) -> None:
    """The pair's score is computed from both whole profiles: with the program's weights
    (which members see), a mentee who picks a mentor could subtract what they were shown and
    read the mentor's hidden skills and time-zone gap out of it (found in review)."""
    api = Api(client)
    pid = await new_program(api)
    await enrol(api, pid, cast.office.bob, "mentor", MENTOR_PROFILE)
    mentee = await enrol(
        api, pid, cast.office.alice, "mentee", {"skills": ["python"], "languages": ["English"]}
    )
    await api.as_("alice@acme.example")
    (suggested,) = (
        await api.call("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={mentee}")
    )["suggestions"]
    picked = await api.call(
        "POST",
        f"/programs/{pid}/pick",
        {"mentor_enrolment_id": suggested["mentor_enrolment_id"]},
        status=201,
    )
    assert "score" not in picked
    (mine,) = (await api.call("GET", "/pairs"))["pairs"]
    assert mine["id"] == picked["id"] and "score" not in mine
    pair = await api.call("GET", f"/pairs/{picked['id']}")
    assert pair["id"] == picked["id"] and "score" not in pair
    await api.as_("pm@acme.example")
    (managed,) = (await api.call("GET", f"/programs/{pid}/pairs"))["pairs"]
    assert managed["score"] > suggested["score"]  # the whole profiles score higher


# -- finding 10: guests see a room's chat from their admission on ---------------------------


async def test_finding_10_a_guest_reads_room_chat_only_from_their_admission(
    client: TestClient[Any, Any], cast: Cast, join: Any, realtime: Any, clock: FakeClock
) -> None:
    rooms = await rooms_by_name(client, cast.office.org.id)
    room = rooms["Meeting room A"]
    alice = await join("alice@acme.example")
    await alice.call("room:enter", {"room_id": room})
    conversation = (await alice.call("chat:room", {"room_id": room}))["conversation"]["id"]

    async def say(person: Person, client_id: str, body: str) -> dict[str, Any]:
        sent = await person.call(
            "chat:send", {"conversation_id": conversation, "client_id": client_id, "body": body}
        )
        assert sent["ok"] is True, sent
        return dict(sent["message"])

    early = await say(alice, "a1", "staff-only-before-guest")
    clock.advance(60)
    link = await make_link(client, room, requires_admission=False)
    guest = await guest_joins(client, realtime, link["token"])
    assert (await guest.call("room:enter", {"room_id": room}))["outcome"] == "entered"
    clock.advance(1)

    joined = await guest.call("chat:room", {"room_id": room})
    assert joined["messages"] == []
    await say(alice, "a2", "hello guest")
    history = await guest.call("chat:history", {"conversation_id": conversation})
    assert [m["body"] for m in history["messages"]] == ["hello guest"]
    replay = await guest.call(
        "chat:sync", {"cursors": [{"conversation_id": conversation, "after_seq": 0}]}
    )
    assert [m["body"] for m in replay["conversations"][0]["messages"]] == ["hello guest"]
    # An edit of what was said before they came is not sent to them either.
    edited = await alice.call("chat:edit", {"message_id": early["id"], "body": "staff-edit-9"})
    assert edited["ok"] is True
    await say(alice, "a3", "after the edit")
    await guest.wait_for(
        lambda: any(m["body"] == "after the edit" for m in guest.received("chat:message"))
    )
    assert "staff" not in str(guest.events)
    # Members keep the whole history.
    mine = await alice.call("chat:history", {"conversation_id": conversation})
    assert [m["body"] for m in mine["messages"]] == [
        "staff-edit-9",
        "hello guest",
        "after the edit",
    ]


# -- finding 14 (first part): program managers' reads are audited ---------------------------


async def test_finding_14_manager_reads_audited(client: TestClient[Any, Any], cast: Cast) -> None:
    api = Api(client)
    pid = await new_program(api)
    await enrol(api, pid, cast.office.bob, "mentor", MENTOR_PROFILE)
    mentee = await enrol(api, pid, cast.office.alice, "mentee", {"skills": ["python"]})
    await api.as_("pm@acme.example")
    await api.call("GET", f"/programs/{pid}/health")
    await api.call("GET", f"/programs/{pid}/enrolments")
    await api.call("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={mentee}")
    await api.call("POST", f"/programs/{pid}/assign", {"apply": False})
    # The mentee's look at their own suggestions is theirs, not a manager's read.
    await api.as_("alice@acme.example")
    await api.call("GET", f"/programs/{pid}/suggestions?mentee_enrolment_id={mentee}")

    reads = ("program.health_viewed", "enrolment.profiles_viewed", "matching.")
    looks = [
        (e.action.value, e.actor_id, e.target_kind.value, e.target_id)
        for e in await audit_log(client, cast.office.org.id)
        if e.action.value.startswith(reads) and e.action.value != "matching.weights_changed"
    ]
    assert looks == [
        ("program.health_viewed", cast.pm.id, "program", pid),
        ("enrolment.profiles_viewed", cast.pm.id, "program", pid),
        ("matching.suggestions_viewed", cast.pm.id, "enrolment", mentee),
        ("matching.previewed", cast.pm.id, "program", pid),
    ]
