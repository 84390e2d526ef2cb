"""The HTTP API in one table: registration and the OpenAPI document both read it, so the
document cannot drift from what the server serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from aiohttp import web
from pydantic import BaseModel

from server.http import (
    admin_app,
    analytics_views,
    auth_views,
    avatar_views,
    guest_views,
    mentoring_views,
    notification_views,
    office_views,
    ops_views,
    privacy_views,
)
from server.http import mentoring_responses as mr
from server.http import mentoring_schemas as ms
from server.http import responses as r
from server.http.enforce import enforced
from server.http.openapi import OPENAPI_DOC, build_document, serve_document
from server.http.schemas import (
    AboutMeQuery,
    AnalyticsPolicyBody,
    AuditQuery,
    ChangePasswordBody,
    CloseAccountBody,
    DashboardQuery,
    GroupMemberBody,
    GuestJoinBody,
    GuestLinkBody,
    InviteCodeBody,
    JoinBody,
    NewFloorBody,
    NewRoomBody,
    NotificationSettingsBody,
    OwnersBody,
    PolicyBody,
    RoomChangesBody,
    SeenHeadQuery,
    SignInBody,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    # Status code -> description.
    responses: dict[int, str] = field(default_factory=dict)
    # What a 2xx JSON answer holds: a response model (server/http/responses.py), or the
    # name of a schema written out in server/http/openapi.py.
    response_schema: str | type[BaseModel] | None = None
    signed_in: bool = False
    content_type: str = "application/json"
    # The query-string model the handler parses, documented as query parameters.
    query: type[BaseModel] | None = None
    # A raw (not JSON) request body: the content types it may have (a picture's).
    upload: tuple[str, ...] = ()


def _mentoring(
    method: str,
    path: str,
    handler: Handler,
    summary: str,
    body: type[BaseModel] | None = None,
    ok: tuple[int, str] = (200, "done"),
    conflict: str | None = None,
    content_type: str = "application/json",
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
) -> Route:
    """A signed-in mentoring route with the answers every one of them can give; ``response``:
    the model of its 2xx JSON answer (server/http/mentoring_responses.py)."""
    responses = {
        ok[0]: ok[1],
        401: "not signed in",
        403: "not allowed (managers run programs; only the pair sees its own), or no CSRF token",
        404: "no such program, enrolment, pair, goal or session in this organization",
    }
    if body is not None or query is not None or "{" in path:
        responses[400] = "malformed body or parameter"
    if conflict:
        responses[409] = conflict
    return Route(
        method,
        f"/api/mentoring{path}",
        handler,
        summary,
        "mentoring",
        body=body,
        responses=responses,
        signed_in=True,
        content_type=content_type,
        query=query,
        response_schema=response,
    )


P = "/programs/{program_id:\\d+}"
MENTORING_ROUTES: tuple[Route, ...] = (
    _mentoring(
        "POST",
        "/programs",
        mentoring_views.create_program,
        "Create a program (program managers, org admins)",
        ms.NewProgramBody,
        (201, "the program"),
        response=mr.MentoringProgram,
    ),
    _mentoring(
        "GET",
        "/programs",
        mentoring_views.list_programs,
        "Programs I run or am invited to",
        response=mr.MentoringPrograms,
    ),
    _mentoring(
        "GET",
        P,
        mentoring_views.get_program,
        "A program: weights, steps, my enrolments",
        response=mr.MentoringProgram,
    ),
    _mentoring(
        "PATCH",
        P,
        mentoring_views.change_program,
        "Change the matching weights and how many suggestions mentees see",
        ms.ProgramSettingsBody,
        response=mr.MentoringProgram,
    ),
    _mentoring(
        "POST",
        f"{P}/steps",
        mentoring_views.add_step,
        "Add a program step (unpublished)",
        ms.StepBody,
        (201, "the step"),
        response=mr.MentoringStep,
    ),
    _mentoring(
        "POST",
        "/steps/{step_id:\\d+}/publish",
        mentoring_views.publish_step,
        "Publish a step to everyone enrolled (audited)",
        conflict="already published",
        response=mr.MentoringStep,
    ),
    _mentoring(
        "POST",
        f"{P}/enrolments",
        mentoring_views.invite,
        "Invite a member as mentor or mentee (a display name of initials is fine)",
        ms.InviteBody,
        (201, "the invitation"),
        conflict="already invited or enrolled in that role",
        response=mr.Invitation,
    ),
    _mentoring(
        "GET",
        f"{P}/enrolments",
        mentoring_views.program_enrolments,
        "Everyone invited; profiles only of those who accepted (managers; each look audited)",
        response=mr.ProgramEnrolments,
    ),
    _mentoring(
        "GET",
        "/enrolments",
        mentoring_views.my_enrolments,
        "My invitations and enrolments",
        response=mr.MyEnrolments,
    ),
    _mentoring(
        "POST",
        "/enrolments/{enrolment_id:\\d+}/answer",
        mentoring_views.answer,
        "Accept (share my profile with the program) or decline an invitation",
        ms.AnswerBody,
        conflict="the invitation is not open",
        response=mr.MyEnrolment,
    ),
    _mentoring(
        "PATCH",
        "/enrolments/{enrolment_id:\\d+}/profile",
        mentoring_views.profile,
        "Edit my profile: skills, goals, interests, languages, time zone, hours, capacity, "
        "and (mentors) which parts mentees' suggestions may use",
        ms.ProfileBody,
        conflict="the enrolment has ended",
        response=mr.MyEnrolment,
    ),
    _mentoring(
        "DELETE",
        "/enrolments/{enrolment_id:\\d+}",
        mentoring_views.remove_enrolment,
        "Remove someone (managers) or withdraw (oneself); their pairs end",
        ok=(204, "removed"),
        conflict="already ended",
    ),
    _mentoring(
        "GET",
        f"{P}/suggestions",
        mentoring_views.suggestions,
        "Ranked mentors for a mentee (?mentee_enrolment_id=) with score parts and reasons; "
        "the mentee's own view uses only what mentors show, in coarse terms; managers see "
        "everything (each look audited)",
        query=ms.SuggestionsQuery,
        response=mr.MentorSuggestions,
    ),
    _mentoring(
        "POST",
        f"{P}/pairs",
        mentoring_views.match,
        "Pair a mentor with a mentee (managers; audited)",
        ms.MatchBody,
        (201, "the pair"),
        conflict="the mentee has a mentor or the mentor has no capacity left",
        response=mr.ScoredPair,
    ),
    _mentoring(
        "POST",
        f"{P}/pick",
        mentoring_views.pick,
        "A mentee picks a mentor from their top suggestions",
        ms.PickBody,
        (201, "the pair"),
        conflict="already matched or no capacity left",
        response=mr.MentoringPair,
    ),
    _mentoring(
        "POST",
        f"{P}/assign",
        mentoring_views.assign,
        "Whole-program optimal assignment within capacity (greedy total beside it); "
        "apply=true makes the pairs (audited, and so is each preview)",
        ms.AssignBody,
        response=mr.ProgramAssignment,
    ),
    _mentoring(
        "GET",
        f"{P}/pairs",
        mentoring_views.program_pairs,
        "A program's pairs (managers)",
        response=mr.ProgramPairs,
    ),
    _mentoring(
        "GET",
        f"{P}/health",
        mentoring_views.health,
        "Program health: content-free counts, medians; feedback of closed weeks only and a "
        "rating published anew only after enough new raters (each look audited)",
        response=mr.ProgramHealth,
    ),
    _mentoring("GET", "/pairs", mentoring_views.my_pairs, "My pairs", response=mr.MyPairs),
    _mentoring(
        "GET",
        "/pairs/{pair_id:\\d+}",
        mentoring_views.get_pair,
        "A pair: agreement, goals, milestones, sessions (managers: metadata only)",
        response=mr.MentoringPairView,
    ),
    _mentoring(
        "DELETE",
        "/pairs/{pair_id:\\d+}",
        mentoring_views.unmatch,
        "End a pair (managers; audited); its room closes",
        ok=(204, "ended"),
        conflict="already ended",
    ),
    _mentoring(
        "PUT",
        "/pairs/{pair_id:\\d+}/agreement",
        mentoring_views.agreement,
        "The pair's agreement: goals and meeting cadence",
        ms.AgreementBody,
        conflict="the pair has ended",
        response=mr.AgreementWritten,
    ),
    _mentoring(
        "POST",
        "/pairs/{pair_id:\\d+}/goals",
        mentoring_views.add_goal,
        "Add a goal",
        ms.GoalBody,
        (201, "the goal"),
        conflict="the pair has ended",
        response=mr.PairGoal,
    ),
    _mentoring(
        "PATCH",
        "/goals/{goal_id:\\d+}",
        mentoring_views.change_goal,
        "Rename a goal or mark it open or done",
        ms.GoalChangesBody,
        conflict="the pair has ended",
        response=mr.ItemState,
    ),
    _mentoring(
        "POST",
        "/goals/{goal_id:\\d+}/milestones",
        mentoring_views.add_milestone,
        "Add a milestone to a goal",
        ms.MilestoneBody,
        (201, "the milestone"),
        conflict="the pair has ended",
        response=mr.PairMilestone,
    ),
    _mentoring(
        "PATCH",
        "/milestones/{milestone_id:\\d+}",
        mentoring_views.change_milestone,
        "Mark a milestone open or done",
        ms.MilestoneChangesBody,
        conflict="the pair has ended",
        response=mr.ItemState,
    ),
    _mentoring(
        "POST",
        "/pairs/{pair_id:\\d+}/sessions",
        mentoring_views.schedule,
        "Schedule a session",
        ms.SessionBody,
        (201, "the session"),
        conflict="the pair has ended",
        response=mr.MentoringSessionTimes,
    ),
    _mentoring(
        "DELETE",
        "/sessions/{session_id:\\d+}",
        mentoring_views.cancel_session,
        "Cancel a session (it stays in calendars as cancelled)",
        conflict="already cancelled",
        response=mr.MentoringSessionTimes,
    ),
    _mentoring(
        "GET",
        "/sessions/{session_id:\\d+}/calendar.ics",
        mentoring_views.session_ics,
        "The session as an iCalendar file",
        ok=(200, "text/calendar"),
        content_type="text/calendar",
    ),
    _mentoring(
        "POST",
        "/calendar-feed",
        mentoring_views.create_feed,
        "A new secret calendar feed URL for me (replaces the old one; shown once)",
        ok=(201, "the feed URL"),
        response=mr.CalendarFeedUrl,
    ),
    _mentoring(
        "GET",
        "/sessions/{session_id:\\d+}/notes",
        mentoring_views.notes,
        "The shared note (the pair) and my private note",
        response=mr.SessionNotes,
    ),
    _mentoring(
        "PUT",
        "/sessions/{session_id:\\d+}/notes/shared",
        mentoring_views.shared_note,
        "Write the pair's shared note",
        ms.NoteBody,
        response=mr.WrittenNote,
    ),
    _mentoring(
        "PUT",
        "/sessions/{session_id:\\d+}/notes/private",
        mentoring_views.private_note,
        "Write my private note (nobody else reads it)",
        ms.NoteBody,
        response=mr.WrittenNote,
    ),
    _mentoring(
        "POST",
        "/sessions/{session_id:\\d+}/feedback",
        mentoring_views.give_feedback,
        "Rate a session 1-5, with optional text for the pair",
        ms.FeedbackBody,
        (201, "the feedback"),
        conflict="already given, or the session has not taken place",
        response=mr.FeedbackGiven,
    ),
    _mentoring(
        "GET",
        "/sessions/{session_id:\\d+}/feedback",
        mentoring_views.feedback,
        "Feedback on a session: the pair only (managers see ratings only in program health)",
        response=mr.SessionFeedbackRead,
    ),
    Route(
        "GET",
        "/api/mentoring/calendar/{token}",
        mentoring_views.feed,
        "A person's mentoring calendar feed, by its secret token (no sign-in)",
        "mentoring",
        responses={200: "text/calendar", 404: "no such feed"},
        content_type="text/calendar",
    ),
)

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/healthz",
        ops_views.healthz,
        "Liveness: the process answers",
        "operations",
        responses={200: "alive"},
        response_schema=r.Health,
    ),
    Route(
        "GET",
        "/readyz",
        ops_views.readyz,
        "Readiness: database (and Redis) reachable",
        "operations",
        responses={200: "ready", 503: "a dependency is unreachable"},
        response_schema="Readiness",
    ),
    Route(
        "GET",
        "/metrics",
        ops_views.metrics,
        "Prometheus metrics in text format",
        "operations",
        responses={200: "metrics"},
        content_type="text/plain",
    ),
    Route(
        "GET",
        "/api/openapi.json",
        serve_document,
        "This document",
        "operations",
        responses={200: "the OpenAPI document"},
        response_schema=r.OpenApiDocument,
    ),
    Route(
        "POST",
        "/api/auth/sign-in",
        auth_views.sign_in,
        "Sign in with email and password; sets the session cookie and a device cookie (a "
        "browser that signed in before is spared the per-email back-off)",
        "auth",
        body=SignInBody,
        responses={
            200: "signed in",
            400: "malformed body",
            401: "wrong email or password",
            403: "cross-site request",
            429: "too many failed attempts",
        },
        response_schema="Session",
    ),
    Route(
        "POST",
        "/api/auth/join",
        auth_views.join,
        "Create an account with an organization invite code; sets the session cookie",
        "auth",
        body=JoinBody,
        responses={
            201: "account created and signed in",
            400: "malformed body, weak password or unknown code",
            403: "code revoked, expired or used up, or cross-site request",
            409: "an account with that email exists",
            429: "too many failed attempts",
        },
        response_schema="Session",
    ),
    Route(
        "GET",
        "/api/auth/session",
        auth_views.current_session,
        "The signed-in person, their roles and the CSRF token",
        "auth",
        responses={200: "signed in", 401: "not signed in"},
        response_schema="Session",
        signed_in=True,
    ),
    Route(
        "POST",
        "/api/auth/sign-out",
        auth_views.sign_out,
        "End this session and clear the cookie",
        "auth",
        responses={204: "signed out", 401: "not signed in", 403: "missing or wrong CSRF token"},
        signed_in=True,
    ),
    Route(
        "POST",
        "/api/auth/sign-out-everywhere",
        auth_views.sign_out_everywhere,
        "End every session of mine (this one too) and close their live connections",
        "auth",
        responses={204: "signed out everywhere", 401: "not signed in", 403: "missing CSRF token"},
        signed_in=True,
    ),
    Route(
        "GET",
        "/api/me/sessions",
        auth_views.my_sessions,
        "My live sessions: when and how each was opened, until when, which one is this",
        "auth",
        responses={200: "the sessions", 401: "not signed in"},
        signed_in=True,
        response_schema=r.MySessions,
    ),
    Route(
        "DELETE",
        "/api/me/sessions/{session_id:\\d+}",
        auth_views.end_my_session,
        "End one of my sessions and close its live connections",
        "auth",
        responses={
            204: "ended",
            401: "not signed in",
            403: "missing CSRF token",
            404: "no such live session of mine",
        },
        signed_in=True,
    ),
    Route(
        "POST",
        "/api/me/password",
        auth_views.change_password,
        "Change my password (the current one is required, except right after an admin's "
        "reset); my other sessions end",
        "auth",
        body=ChangePasswordBody,
        responses={
            204: "changed",
            400: "malformed body, missing current password, or a weak new password",
            401: "not signed in",
            403: "wrong current password, a guest, or missing CSRF token",
            429: "too many wrong current passwords",
        },
        signed_in=True,
    ),
    Route(
        "GET",
        "/api/me/security",
        auth_views.account_security,
        "My latest password reset by an admin (when, by whom) and my recent sign-ins (when, "
        "how; never from where)",
        "auth",
        responses={200: "the reset and the sign-ins", 401: "not signed in"},
        signed_in=True,
        response_schema=r.AccountSecurity,
    ),
    Route(
        "GET",
        "/api/me/notifications",
        notification_views.my_settings,
        "My notification settings: which kinds of event notify me while the office is in the "
        "background, and whether a sound plays (everything on until I change it)",
        "auth",
        responses={200: "the settings", 401: "not signed in", 403: "guests have no account"},
        signed_in=True,
        response_schema=r.NotificationSettings,
    ),
    Route(
        "PUT",
        "/api/me/notifications",
        notification_views.replace_settings,
        "Replace my notification settings (every field, true or false)",
        "auth",
        body=NotificationSettingsBody,
        responses={
            200: "the settings now",
            400: "malformed body: a field missing, unknown or not true/false",
            401: "not signed in",
            403: "guests have no account, or missing CSRF token",
        },
        signed_in=True,
        response_schema=r.NotificationSettings,
    ),
    Route(
        "POST",
        "/api/org/invite-codes",
        auth_views.create_invite_code,
        "Create an invite code to the organization or one of its groups (shown once)",
        "organization",
        body=InviteCodeBody,
        responses={
            201: "the code",
            400: "malformed body",
            401: "not signed in",
            403: "not an admin of that scope, or missing CSRF token",
            404: "no such group in this organization",
        },
        response_schema="InviteCode",
        signed_in=True,
    ),
    Route(
        "GET",
        "/api/office/layout",
        office_views.layout,
        "The organization's floors and rooms (a pair room's owners only to the pair)",
        "office",
        responses={200: "the floor plan", 401: "not signed in"},
        response_schema="Layout",
        signed_in=True,
    ),
    Route(
        "POST",
        "/api/office/floors",
        office_views.add_floor,
        "Add a floor (organization admins; audited)",
        "office",
        body=NewFloorBody,
        responses={
            201: "the new floor",
            400: "malformed body",
            401: "not signed in",
            403: "not an organization admin, or missing CSRF token",
            409: "a floor with that name exists",
        },
        signed_in=True,
        response_schema=r.Floor,
    ),
    Route(
        "POST",
        "/api/office/floors/{floor_id:\\d+}/rooms",
        office_views.add_room,
        "Add a room to a floor (organization admins; audited)",
        "office",
        body=NewRoomBody,
        responses={
            201: "the new room",
            400: "malformed body, or a room that overlaps another or leaves the floor",
            401: "not signed in",
            403: "not an organization admin, or missing CSRF token",
            404: "no such floor",
        },
        response_schema="Room",
        signed_in=True,
    ),
    Route(
        "PATCH",
        "/api/office/rooms/{room_id:\\d+}",
        office_views.change_room,
        "Change a room (admins; audited); owners may change only its door; a mentoring "
        "pair's room: admins may only move or resize it",
        "office",
        body=RoomChangesBody,
        responses={
            200: "the changed room",
            400: "malformed body, or a change that overlaps another room or leaves the floor",
            401: "not signed in",
            403: "not allowed, or missing CSRF token",
            404: "no such room",
        },
        response_schema="Room",
        signed_in=True,
    ),
    Route(
        "DELETE",
        "/api/office/rooms/{room_id:\\d+}",
        office_views.remove_room,
        "Remove an empty room, a pair's room included (organization admins; audited)",
        "office",
        responses={
            204: "removed",
            401: "not signed in",
            403: "not an organization admin, or missing CSRF token",
            404: "no such room",
            409: "people are in the room",
        },
        signed_in=True,
    ),
    Route(
        "PUT",
        "/api/office/rooms/{room_id:\\d+}/owners",
        office_views.set_owners,
        "Set a room's owners (organization admins; audited); not a mentoring pair's room",
        "office",
        body=OwnersBody,
        responses={
            200: "the room with its owners",
            400: "malformed body or an owner outside the organization",
            401: "not signed in",
            403: "not an organization admin, a mentoring pair's room, or missing CSRF token",
            404: "no such room",
        },
        response_schema="Room",
        signed_in=True,
    ),
    Route(
        "GET",
        "/api/guest-links/{token}",
        guest_views.guest_link,
        "What a guest link leads to: room, organization, whether the host admits guests",
        "guests",
        responses={
            200: "the link is usable",
            403: "revoked, expired or used up",
            404: "no such link",
            429: "too many invalid links from this address",
        },
        response_schema="GuestLink",
    ),
    Route(
        "POST",
        "/api/guest-links/{token}/join",
        guest_views.join,
        "Enter as a guest with a display name; sets a session cookie confined to the room",
        "guests",
        body=GuestJoinBody,
        responses={
            201: "a guest session",
            400: "malformed body",
            403: "revoked, expired or used up, or cross-site request",
            404: "no such link",
            429: "too many invalid links from this address",
        },
        response_schema="Session",
    ),
    Route(
        "POST",
        "/api/office/rooms/{room_id:\\d+}/guest-links",
        guest_views.create_link,
        "Create a guest link to a room (people in it, its owners, admins; audited); the token "
        "is shown once; never to a mentoring pair's room",
        "guests",
        body=GuestLinkBody,
        responses={
            201: "the link, with its token and URL",
            400: "malformed body",
            401: "not signed in",
            403: "not in the room, not its owner nor an admin, a mentoring pair's room, or "
            "missing CSRF token",
            404: "no such room",
        },
        response_schema="GuestLinkCreated",
        signed_in=True,
    ),
    Route(
        "GET",
        "/api/office/rooms/{room_id:\\d+}/guest-links",
        guest_views.list_links,
        "A room's guest links with their uses and state (no tokens)",
        "guests",
        responses={200: "the links", 401: "not signed in", 403: "not allowed", 404: "no such room"},
        response_schema="GuestLinks",
        signed_in=True,
    ),
    Route(
        "DELETE",
        "/api/office/guest-links/{link_id:\\d+}",
        guest_views.revoke_link,
        "Revoke a guest link (audited); its guests are disconnected at once",
        "guests",
        responses={204: "revoked", 401: "not signed in", 403: "not allowed", 404: "no such link"},
        signed_in=True,
    ),
    *MENTORING_ROUTES,
)

ADMIN_ONLY = "not an organization admin, or missing CSRF token"


def _person_action(verb: str, path: str, handler: Handler, summary: str, ok: str) -> Route:
    """An organization admin's action on one account (audit-logged)."""
    return Route(
        "POST",
        f"/api/org/people/{{user_id:\\d+}}/{path}",
        handler,
        summary,
        "privacy",
        responses={
            200 if verb == "reset" else 204: ok,
            401: "not signed in",
            403: ADMIN_ONLY,
            404: "no such person in this organization",
            409: "not possible in the account's state, or on your own account",
        },
        signed_in=True,
        response_schema=r.TemporaryPassword if verb == "reset" else None,
    )


PRIVACY_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/me/export",
        privacy_views.export_me,
        "Download everything held about you: a zip of JSON files with a README",
        "privacy",
        responses={200: "the archive", 401: "not signed in", 403: "guests have no account"},
        signed_in=True,
        content_type="application/zip",
    ),
    Route(
        "POST",
        "/api/me/close-account",
        privacy_views.close_account,
        "Close your account: name and email removed, sessions ended (cannot be undone)",
        "privacy",
        body=CloseAccountBody,
        responses={
            204: "closed",
            400: "malformed body (confirm must be true)",
            401: "not signed in",
            403: "guests have no account, or missing CSRF token",
        },
        signed_in=True,
    ),
    Route(
        "GET",
        "/api/me/pending-memberships",
        privacy_views.pending_memberships,
        "Groups someone put you in, waiting for your answer",
        "privacy",
        responses={200: "the invitations", 401: "not signed in", 403: "guests have no account"},
        signed_in=True,
        response_schema=r.PendingMemberships,
    ),
    Route(
        "POST",
        "/api/me/pending-memberships/{pending_id:\\d+}/accept",
        privacy_views.accept_membership,
        "Join the group: from now on it sees you",
        "privacy",
        responses={
            204: "joined",
            401: "not signed in",
            403: "guests have no account, or missing CSRF token",
            404: "no such invitation",
        },
        signed_in=True,
    ),
    Route(
        "POST",
        "/api/me/pending-memberships/{pending_id:\\d+}/decline",
        privacy_views.decline_membership,
        "Decline the invitation: nothing of yours is shared with the group",
        "privacy",
        responses={
            204: "declined",
            401: "not signed in",
            403: "guests have no account, or missing CSRF token",
            404: "no such invitation",
        },
        signed_in=True,
    ),
    Route(
        "POST",
        "/api/org/groups/{group_id:\\d+}/members",
        privacy_views.add_group_member,
        "Put someone in a group: they are asked first unless already in it",
        "privacy",
        body=GroupMemberBody,
        responses={
            200: "already in the group: the role is granted",
            201: "an invitation waiting for their answer",
            400: "malformed body",
            401: "not signed in",
            403: "not an admin of the group, its unit or the organization",
            404: "no such group or person",
            409: "they have that role, or an unanswered invitation",
        },
        signed_in=True,
        response_schema=r.GroupMemberAdded,
    ),
    Route(
        "GET",
        "/api/org/privacy-policy",
        privacy_views.policy,
        "How long the organization keeps chat, inactive accounts and raw analytics",
        "privacy",
        responses={200: "the policy", 401: "not signed in", 403: "guests have no account"},
        signed_in=True,
        response_schema=r.PrivacyPolicy,
    ),
    Route(
        "PATCH",
        "/api/org/privacy-policy",
        privacy_views.change_policy,
        "Change the lifecycle policy (organization admins; audit-logged)",
        "privacy",
        body=PolicyBody,
        responses={
            200: "the new policy",
            400: "malformed body or out-of-range value",
            401: "not signed in",
            403: ADMIN_ONLY,
        },
        signed_in=True,
        response_schema=r.PrivacyPolicy,
    ),
    Route(
        "GET",
        "/api/org/export",
        privacy_views.export_org,
        "Export the organization (structure and metadata, no content; audit-logged)",
        "privacy",
        responses={200: "the archive", 401: "not signed in", 403: ADMIN_ONLY},
        signed_in=True,
        content_type="application/zip",
    ),
    Route(
        "GET",
        "/api/org/audit",
        privacy_views.audit_log,
        "The audit log, newest first, paged with before_seq and limit (organization admins)",
        "privacy",
        responses={
            200: "a page of entries",
            400: "malformed query",
            401: "not signed in",
            403: ADMIN_ONLY,
        },
        signed_in=True,
        query=AuditQuery,
        response_schema=r.AuditPage,
    ),
    Route(
        "GET",
        "/api/org/audit/verify",
        privacy_views.audit_verify,
        "Check the audit log's keyed chain, and against a head seen earlier (organization admins)",
        "privacy",
        responses={
            200: "whether the chain holds, and its head",
            400: "malformed query",
            401: "not signed in",
            403: ADMIN_ONLY,
        },
        response_schema="AuditStatus",
        signed_in=True,
        query=SeenHeadQuery,
    ),
    _person_action(
        "suspend",
        "suspend",
        privacy_views.suspend,
        "Suspend an account: no sign-in, disconnected at once",
        "suspended",
    ),
    _person_action(
        "restore", "restore", privacy_views.restore, "Restore a suspended account", "restored"
    ),
    _person_action(
        "reset",
        "reset-password",
        privacy_views.reset_password,
        "Give a one-time credential (shown once; signs in once, within a day, only to set a "
        "new password), end the account's sessions; the person sees who and when",
        "the temporary password",
    ),
    _person_action(
        "erase",
        "erase",
        privacy_views.erase,
        "Erase an account (as closing it): name and email removed, sessions ended",
        "erased",
    ),
)

_PICTURE_TYPES = ("image/png", "image/jpeg", "image/webp")

AVATAR_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/me/avatar",
        avatar_views.mine,
        "My profile picture: where it is served, its type, size and when I set it (null: none)",
        "people",
        responses={200: "the picture or null", 401: "not signed in", 403: "guests have none"},
        signed_in=True,
        response_schema=r.MyAvatar,
    ),
    Route(
        "PUT",
        "/api/me/avatar",
        avatar_views.put_mine,
        "Set my profile picture: the image itself as the body (PNG, JPEG or WebP, at most "
        "512 KB, each side 1 to 4096 pixels); stored without metadata (EXIF, GPS, XMP, text, "
        "thumbnails; only the orientation is kept); colleagues see it at once",
        "people",
        responses={
            200: "the picture as stored",
            400: "a damaged file, an empty body, or a side of 0 or over 4096 pixels",
            401: "not signed in",
            403: "guests have none, or missing CSRF token",
            413: "over 512 KB",
            415: "not PNG, JPEG or WebP, or not the type the Content-Type header names",
        },
        signed_in=True,
        response_schema=r.MyAvatar,
        upload=_PICTURE_TYPES,
    ),
    Route(
        "DELETE",
        "/api/me/avatar",
        avatar_views.remove_mine,
        "Remove my profile picture (colleagues see my initials again)",
        "people",
        responses={
            204: "removed (or there was none)",
            401: "not signed in",
            403: "guests have none, or missing CSRF token",
        },
        signed_in=True,
    ),
    Route(
        "GET",
        "/api/avatars/{sha256:[0-9a-f]+}.{ext:png|jpg|webp}",
        avatar_views.picture,
        "A profile picture by its address (presence entries' avatar_url): for people of the "
        "same organization, and for a guest only while both are in the guest's room; cached "
        "for good (the address is the SHA-256 of the picture)",
        "people",
        responses={
            200: "the picture",
            304: "not modified (If-None-Match)",
            401: "not signed in",
            404: "no such picture, or not one you may see",
        },
        signed_in=True,
        content_type="image/*",
    ),
)

ROUTES = ROUTES + PRIVACY_ROUTES + AVATAR_ROUTES


ANALYTICS_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/api/org/analytics-policy",
        analytics_views.get_policy,
        "The organization's analytics policy",
        "analytics",
        responses={200: "the policy", 401: "not signed in"},
        response_schema="AnalyticsPolicy",
        signed_in=True,
    ),
    Route(
        "PUT",
        "/api/org/analytics-policy",
        analytics_views.set_policy,
        "Turn per-person activity on or off (organization admins; audited)",
        "analytics",
        body=AnalyticsPolicyBody,
        responses={
            200: "the policy",
            400: "malformed body",
            401: "not signed in",
            403: "not an organization admin, or missing CSRF token",
        },
        response_schema="AnalyticsPolicy",
        signed_in=True,
    ),
    Route(
        "GET",
        "/api/me/analytics",
        analytics_views.about_me,
        "What admins can see about me: the figures I am counted in, and who looked at them",
        "analytics",
        responses={200: "figures and looks", 400: "malformed period", 401: "not signed in"},
        response_schema="AboutMe",
        signed_in=True,
        query=AboutMeQuery,
    ),
)

_DASHBOARD_QUERY = (
    "query: scope (org, unit:ID, group:ID), from, to (YYYY-MM-DD), granularity (day, or week:"
    " whole ISO weeks, from its Monday to its Sunday)"
)
_DASHBOARD_ERRORS = {
    400: "malformed query",
    401: "not signed in",
    403: "not an admin or group lead, or the scope is outside yours",
    404: "no such dashboard, or a scope outside the organization",
}

# Served by the admin sub-application mounted at ADMIN_PREFIX (paths relative to it).
ADMIN_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/dashboards",
        admin_app.index,
        "The dashboards, the scopes I may open (with their names) and the minimum group size",
        "admin",
        responses={200: "the list", 401: "not signed in", 403: "not an admin or group lead"},
        signed_in=True,
        response_schema=r.DashboardIndex,
    ),
    Route(
        "GET",
        "/dashboards/{name}",
        admin_app.view_dashboard,
        "One dashboard table, read from the figures published for closed days and weeks "
        "(suppressed once over the whole organization; the current day or week is pending; "
        f"no totals down the periods; audited); {_DASHBOARD_QUERY}",
        "admin",
        responses={200: "the table", **_DASHBOARD_ERRORS},
        response_schema="DashboardTable",
        signed_in=True,
        query=DashboardQuery,
    ),
    Route(
        "GET",
        "/dashboards/{name}/csv",
        admin_app.export_dashboard,
        "One dashboard table as CSV: 'suppressed' or 'pending' where there is no figure, "
        f"text cells escaped against formulas (audited as an export); {_DASHBOARD_QUERY}",
        "admin",
        responses={200: "the CSV", **_DASHBOARD_ERRORS},
        signed_in=True,
        content_type="text/csv",
        query=DashboardQuery,
    ),
    Route(
        "GET",
        "/people",
        admin_app.people,
        "Per-person activity (counts, last active day) where the policy allows it (audited)",
        "admin",
        responses={200: "the people", **_DASHBOARD_ERRORS},
        signed_in=True,
        query=DashboardQuery,
        response_schema=r.PeopleActivity,
    ),
    Route(
        "GET",
        "/people/csv",
        admin_app.export_people,
        "Per-person activity as CSV (audited as an export)",
        "admin",
        responses={200: "the CSV", **_DASHBOARD_ERRORS},
        signed_in=True,
        content_type="text/csv",
        query=DashboardQuery,
    ),
)


def documented_routes() -> tuple[Route, ...]:
    """Every route the server answers, with full paths: the OpenAPI document's source."""
    admin = tuple(replace(r, path=admin_app.ADMIN_PREFIX + r.path) for r in ADMIN_ROUTES)
    return ROUTES + ANALYTICS_ROUTES + admin


def _served(route: Route) -> Handler:
    return enforced(route.handler, signed_in=route.signed_in, body=route.body, query=route.query)


def setup(app: web.Application, version: str) -> None:
    for route in ROUTES + ANALYTICS_ROUTES:
        app.router.add_route(route.method, route.path, _served(route))
    admin = admin_app.create_admin_app([(r.method, r.path, _served(r)) for r in ADMIN_ROUTES])
    app.add_subapp(admin_app.ADMIN_PREFIX + "/", admin)
    app[OPENAPI_DOC] = build_document(documented_routes(), version)
