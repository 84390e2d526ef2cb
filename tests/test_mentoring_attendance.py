"""A mentoring session's length is measured from the meeting in the pair's room: the time
both of the pair were in its media, with the fake clock — nobody types it in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.db.models import User
from server.http.keys import DB, MENTORING
from server.infra.clock import FakeClock
from server.mentoring.tables import EnrolmentRole
from server.people import accounts
from server.people.identity import Principal
from tests.conftest import Office

pytestmark = pytest.mark.usefixtures("loopback_ice")


async def principal(client: TestClient[Any, Any], user: User) -> Principal:
    async with client.app[DB]() as session:
        grants = await accounts.grants_of(session, user.id)
    return Principal(user.id, user.org_id, user.display_name, grants, 0)


async def test_session_length_comes_from_the_pairs_time_together_in_the_room(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, join: Any
) -> None:
    mentoring = client.app[MENTORING]
    admin = await principal(client, office.admin)
    mentor, mentee = await principal(client, office.alice), await principal(client, office.bob)
    program = await mentoring.programs.create_program(admin, "Pilot")
    mentor_enrolment = await mentoring.enrolments.invite(
        admin, program["id"], mentor.user_id, EnrolmentRole.MENTOR
    )
    mentee_enrolment = await mentoring.enrolments.invite(
        admin, program["id"], mentee.user_id, EnrolmentRole.MENTEE
    )
    await mentoring.enrolments.respond(mentor, mentor_enrolment["id"], True)
    await mentoring.enrolments.respond(mentee, mentee_enrolment["id"], True)
    pair = await mentoring.pairing.match(
        admin, program["id"], mentor_enrolment["id"], mentee_enrolment["id"]
    )
    meeting = await mentoring.sessions.schedule(
        mentor, pair["id"], clock.now() + timedelta(minutes=5), 30
    )
    clock.advance(5 * 60)

    alice, bob = await join("alice@acme.example"), await join("bob@acme.example")
    for person in (alice, bob):
        assert (await person.call("room:enter", {"room_id": pair["room_id"]}))[
            "outcome"
        ] == "entered"
    assert (await alice.call("media:join"))["ok"]
    clock.advance(120)  # alone: does not count
    assert (await bob.call("media:join"))["ok"]
    clock.advance(25 * 60)  # together
    assert (await bob.call("media:leave"))["ok"]
    clock.advance(60)
    assert (await alice.call("media:leave"))["ok"]

    sessions = (await mentoring.pairs.get_pair(mentor, pair["id"]))["sessions"]
    (held,) = [s for s in sessions if s["id"] == meeting["id"]]
    assert held["met_seconds"] == pytest.approx(25 * 60, abs=1)
    for person in (alice, bob):
        await person.rt.close()
