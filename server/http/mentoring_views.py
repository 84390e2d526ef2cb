"""Mentoring over HTTP: parse, take the principal, one service call, reply."""

from __future__ import annotations

from aiohttp import web

from server.http.enforce import body_of
from server.http.errors import path_id, query_id
from server.http.keys import MENTORING
from server.http.mentoring_schemas import (
    AgreementBody,
    AnswerBody,
    AssignBody,
    FeedbackBody,
    GoalBody,
    GoalChangesBody,
    InviteBody,
    MatchBody,
    MilestoneBody,
    MilestoneChangesBody,
    NewProgramBody,
    NoteBody,
    PickBody,
    ProfileBody,
    ProgramSettingsBody,
    SessionBody,
    StepBody,
)
from server.http.middleware import require_session
from server.mentoring.enrolments import ProfileChanges
from server.mentoring.service import Mentoring
from server.mentoring.tables import Cadence, EnrolmentRole, ItemStatus
from server.people.identity import Principal

ICS = "text/calendar"


def _ctx(request: web.Request) -> tuple[Mentoring, Principal]:
    return request.app[MENTORING], require_session(request).principal


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def create_program(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, NewProgramBody)
    weights = body.weights.model_dump(exclude_none=True) if body.weights else {}
    return _json(
        await mentoring.programs.create_program(
            principal, body.name, weights, body.suggestions_shown
        ),
        201,
    )


async def list_programs(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json({"programs": await mentoring.programs.list_programs(principal)})


async def get_program(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(await mentoring.programs.get_program(principal, path_id(request, "program_id")))


async def change_program(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, ProgramSettingsBody)
    return _json(
        await mentoring.programs.set_weights(
            principal,
            path_id(request, "program_id"),
            body.weights.model_dump(exclude_none=True),
            body.suggestions_shown,
        )
    )


async def add_step(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, StepBody)
    return _json(
        await mentoring.programs.add_step(
            principal, path_id(request, "program_id"), body.title, body.due_at
        ),
        201,
    )


async def publish_step(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(await mentoring.programs.publish_step(principal, path_id(request, "step_id")))


async def invite(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, InviteBody)
    return _json(
        await mentoring.enrolments.invite(
            principal,
            path_id(request, "program_id"),
            body.user_id,
            EnrolmentRole(body.role),
            body.display_name,
            body.capacity,
        ),
        201,
    )


async def program_enrolments(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(
        {
            "enrolments": await mentoring.enrolments.program_enrolments(
                principal, path_id(request, "program_id")
            )
        }
    )


async def my_enrolments(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json({"enrolments": await mentoring.enrolments.my_enrolments(principal)})


async def answer(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, AnswerBody)
    return _json(
        await mentoring.enrolments.respond(principal, path_id(request, "enrolment_id"), body.accept)
    )


async def profile(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, ProfileBody)
    changes = ProfileChanges(**body.model_dump(exclude_unset=True))
    return _json(
        await mentoring.enrolments.update_profile(
            principal, path_id(request, "enrolment_id"), changes
        )
    )


async def remove_enrolment(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    await mentoring.enrolments.remove_enrolment(principal, path_id(request, "enrolment_id"))
    return web.Response(status=204)


async def suggestions(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    mentee = query_id(request, "mentee_enrolment_id")
    return _json(
        await mentoring.pairing.suggestions(principal, path_id(request, "program_id"), mentee)
    )


async def match(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, MatchBody)
    return _json(
        await mentoring.pairing.match(
            principal,
            path_id(request, "program_id"),
            body.mentor_enrolment_id,
            body.mentee_enrolment_id,
        ),
        201,
    )


async def pick(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, PickBody)
    return _json(
        await mentoring.pairing.pick(
            principal, path_id(request, "program_id"), body.mentor_enrolment_id
        ),
        201,
    )


async def assign(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, AssignBody)
    return _json(
        await mentoring.pairing.assign(principal, path_id(request, "program_id"), body.apply)
    )


async def program_pairs(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(
        {"pairs": await mentoring.pairs.program_pairs(principal, path_id(request, "program_id"))}
    )


async def health(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(await mentoring.programs.health(principal, path_id(request, "program_id")))


async def my_pairs(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json({"pairs": await mentoring.pairs.my_pairs(principal)})


async def get_pair(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(await mentoring.pairs.get_pair(principal, path_id(request, "pair_id")))


async def unmatch(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    await mentoring.pairing.unmatch(principal, path_id(request, "pair_id"))
    return web.Response(status=204)


async def agreement(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, AgreementBody)
    return _json(
        await mentoring.pairs.set_agreement(
            principal, path_id(request, "pair_id"), body.goals, Cadence(body.cadence)
        )
    )


async def add_goal(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, GoalBody)
    return _json(
        await mentoring.pairs.add_goal(principal, path_id(request, "pair_id"), body.title), 201
    )


async def change_goal(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, GoalChangesBody)
    status = ItemStatus(body.status) if body.status else None
    return _json(
        await mentoring.pairs.set_goal(principal, path_id(request, "goal_id"), status, body.title)
    )


async def add_milestone(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, MilestoneBody)
    return _json(
        await mentoring.pairs.add_milestone(
            principal, path_id(request, "goal_id"), body.title, body.due_on
        ),
        201,
    )


async def change_milestone(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, MilestoneChangesBody)
    return _json(
        await mentoring.pairs.set_milestone(
            principal, path_id(request, "milestone_id"), ItemStatus(body.status)
        )
    )


async def schedule(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, SessionBody)
    return _json(
        await mentoring.sessions.schedule(
            principal, path_id(request, "pair_id"), body.starts_at, body.minutes
        ),
        201,
    )


async def cancel_session(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(await mentoring.sessions.cancel_session(principal, path_id(request, "session_id")))


async def session_ics(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    session_id = path_id(request, "session_id")
    text = await mentoring.sessions.session_ics(principal, session_id)
    return web.Response(
        text=text,
        content_type=ICS,
        headers={
            "Content-Disposition": f'attachment; filename="mentoring-session-{session_id}.ics"',
            "Cache-Control": "no-store",
        },
    )


async def create_feed(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(await mentoring.sessions.create_feed(principal), 201)


async def feed(request: web.Request) -> web.Response:
    text = await request.app[MENTORING].sessions.feed(request.match_info["token"])
    return web.Response(
        text=text,
        content_type=ICS,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


async def notes(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(await mentoring.notes.read(principal, path_id(request, "session_id")))


async def shared_note(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, NoteBody)
    return _json(
        await mentoring.notes.write(
            principal, path_id(request, "session_id"), body.body, shared=True
        )
    )


async def private_note(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, NoteBody)
    return _json(
        await mentoring.notes.write(
            principal, path_id(request, "session_id"), body.body, shared=False
        )
    )


async def give_feedback(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    body = body_of(request, FeedbackBody)
    return _json(
        await mentoring.feedback.give(
            principal, path_id(request, "session_id"), body.rating, body.text
        ),
        201,
    )


async def feedback(request: web.Request) -> web.Response:
    mentoring, principal = _ctx(request)
    return _json(await mentoring.feedback.read(principal, path_id(request, "session_id")))
