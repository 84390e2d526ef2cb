"""Schemas of every server → client event, and the one check every emit goes through.

docs/protocol.md describes these payloads in prose; the models here are the same description
in a form a test can hold the server to. ``check(event, payload)`` is called by every emit
path (``SocketBroadcaster``, ``sio.announce``, the namespace's own ``session:ended``). It does
nothing in production — emits are a hot path, fanned out to thousands — and validates in
strict mode, which the test suite turns on for every test (tests/conftest.py): a payload that
lacks a field, has one of the wrong type or one no model names, or an event name that has no
model at all, is then an ``OutboundMismatch`` raised at the emit and recorded, and the test
that made the server send it fails.

Models describe the wire exactly: no unknown keys (``extra="forbid"``, nested models too),
strict types (``1`` is not ``true``, ``"1"`` is not ``1``), and an optional field only where
the payload really varies (``mentoring:pair_changed``'s ids, by what changed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, ValidationError


class OutboundMismatch(Exception):
    """An emitted event whose name or payload does not match its model (strict mode only)."""


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _aware_iso(value: str) -> str:
    """An ISO 8601 time with its offset (what ``datetime.isoformat()`` gives for aware ones)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError("an ISO 8601 time without a UTC offset")
    return value


Id = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Time = Annotated[str, AfterValidator(_aware_iso)]
Text = Annotated[str, Field(min_length=1)]
Source = Literal["camera", "screen"]
AvatarUrl = Annotated[str, Field(pattern=r"^/api/avatars/[0-9a-f]{64}\.(png|jpg|webp)$")]


# -- shared shapes ------------------------------------------------------------------------------


class Person(Event):
    """A person entry (``office:delta``, ``guest:room``; also in acks)."""

    user_id: Id
    display_name: str
    status: Literal["available", "busy", "away", "do_not_disturb", "offline"]
    text: str
    room_id: Id | None  # null: in the hallway (or offline)
    position: Annotated[list[int], Field(min_length=2, max_length=2)] | None  # null: not placed
    guest: bool
    # null: no picture (draw initials); else where to fetch it, a new address per picture
    avatar_url: AvatarUrl | None
    rev: Count


class Floor(Event):
    id: Id
    name: str
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]


class Room(Event):
    """A room entry as everyone may see it (a pair room's ``owners`` empty)."""

    id: Id
    floor_id: Id
    name: str
    kind: Literal[
        "team_room", "private_office", "meeting_room", "mentoring_room", "lobby", "town_hall"
    ]
    x: Count
    y: Count
    w: Annotated[int, Field(ge=1)]
    h: Annotated[int, Field(ge=1)]
    capacity: Annotated[int, Field(ge=1)]
    door: Literal["open", "closed", "locked"]
    owners: list[Id]


class Message(Event):
    """A chat message as it is sent live (its author is always known: they just wrote it)."""

    id: Id
    conversation_id: Id
    seq: Annotated[int, Field(ge=1)]
    sender_id: Id
    sender_name: Text
    client_id: Text
    body: str | None  # null exactly when deleted
    created_at: Time
    edited_at: Time | None
    deleted: bool


class MediaMember(Event):
    connection: Text
    user_id: Id
    publishing: list[Source]
    muted: bool
    camera_off: bool


class ProgramStep(Event):
    id: Id
    title: str
    due_at: Time | None
    published_at: Time


# -- the office ---------------------------------------------------------------------------------


class OfficeDelta(Event):
    people: list[Person]


class OfficeLayout(Event):
    floors: list[Floor]
    rooms: list[Room]


class RequestPrompt(Event):
    request_id: Text
    kind: Literal["knock", "get"]
    room_id: Id
    room_name: str
    from_name: str
    expires_at: Time


class RequestResolved(Event):
    request_id: Text
    kind: Literal["knock", "get"]
    room_id: Id
    outcome: Literal["accepted", "declined", "expired", "cancelled"]


class RequestNotice(Event):
    """``request:withdrawn`` (to someone prompted who can no longer answer) and
    ``request:unattended`` (to a knocker: nobody inside may answer now)."""

    request_id: Text
    kind: Literal["knock", "get"]
    room_id: Id


class RoomWaiting(Event):
    """Guests knocking at a room, to members, after each change (empty: none waits)."""

    room_id: Id
    guests: list[Id]


class AccountEnded(Event):
    reason: Literal["suspended", "password_reset", "erased"]


class SessionEnded(Event):
    reason: Literal["signed_out", "signed_out_everywhere", "password_changed", "expired"]


class ServerRestarting(Event):
    grace_seconds: Count


class MembershipPending(Event):
    id: Id
    role: Literal["member", "group_lead"]  # the roles one is put in a group with
    unit_id: Id
    group_id: Id
    group_name: str
    created_at: Time


# -- chat ---------------------------------------------------------------------------------------


class ChatTyping(Event):
    conversation_id: Id
    user_id: Id
    display_name: str


# -- guests -------------------------------------------------------------------------------------


class GuestRoom(Event):
    room_id: Id
    people: list[Person]


class GuestEnded(Event):
    reason: Text  # a sentence the guest's page shows


# -- media --------------------------------------------------------------------------------------


class MediaOffer(Event):
    peer_id: Text
    publisher: Text
    user_id: Id
    source: Source
    sdp: Text


class MediaClosed(Event):
    peer_id: Text


class MediaMembers(Event):
    room_id: Id
    members: list[MediaMember]


class MediaSpeaker(Event):
    room_id: Id
    connection: Text | None  # null: nobody is speaking
    user_id: Id | None


class MediaRoom(Event):
    """``media:left`` and ``media:restart``."""

    room_id: Id


# -- mentoring ----------------------------------------------------------------------------------


class MentoringInvited(Event):
    enrolment_id: Id
    program_id: Id
    program_name: str
    role: Literal["mentor", "mentee"]


class MentoringMatched(Event):
    pair_id: Id
    program_id: Id
    room_id: Id


class MentoringUnmatched(Event):
    pair_id: Id
    program_id: Id


class AgreementChanged(Event):
    pair_id: Id
    what: Literal["agreement"]


class GoalChanged(Event):
    pair_id: Id
    what: Literal["goal"]
    goal_id: Id


class MilestoneChanged(Event):
    pair_id: Id
    what: Literal["milestone"]
    goal_id: Id
    milestone_id: Id


class SessionWritingChanged(Event):
    pair_id: Id
    what: Literal["notes", "feedback"]
    session_id: Id


class MentoringPairChanged(
    RootModel[
        Annotated[
            AgreementChanged | GoalChanged | MilestoneChanged | SessionWritingChanged,
            Field(discriminator="what"),
        ]
    ]
):
    """Which ids come with it depends on ``what`` changed."""


class MentoringSession(Event):
    pair_id: Id
    id: Id
    starts_at: Time
    ends_at: Time
    cancelled: bool
    met_seconds: Annotated[float, Field(ge=0)]


class MentoringReminder(Event):
    session_id: Id
    pair_id: Id
    room_id: Id
    starts_at: Time
    minutes_before: Count


class MentoringStep(Event):
    program_id: Id
    step: ProgramStep


# -- the table ----------------------------------------------------------------------------------

OUTBOUND: dict[str, type[BaseModel]] = {
    "office:delta": OfficeDelta,
    "office:layout": OfficeLayout,
    "request": RequestPrompt,
    "request:resolved": RequestResolved,
    "request:withdrawn": RequestNotice,
    "request:unattended": RequestNotice,
    "room:waiting": RoomWaiting,
    "account:ended": AccountEnded,
    "session:ended": SessionEnded,
    "server:restarting": ServerRestarting,
    "membership:pending": MembershipPending,
    "chat:message": Message,
    "chat:updated": Message,
    "chat:mention": Message,
    "chat:typing": ChatTyping,
    "guest:room": GuestRoom,
    "guest:ended": GuestEnded,
    "media:offer": MediaOffer,
    "media:closed": MediaClosed,
    "media:members": MediaMembers,
    "media:speaker": MediaSpeaker,
    "media:left": MediaRoom,
    "media:restart": MediaRoom,
    "mentoring:invited": MentoringInvited,
    "mentoring:matched": MentoringMatched,
    "mentoring:unmatched": MentoringUnmatched,
    "mentoring:pair_changed": MentoringPairChanged,
    "mentoring:session": MentoringSession,
    "mentoring:reminder": MentoringReminder,
    "mentoring:step": MentoringStep,
}


# -- the check ----------------------------------------------------------------------------------

_strict = False
_mismatches: list[str] = []


def set_strict(on: bool) -> None:
    """Validate every emitted event (the test suite) or none (production, the default)."""
    global _strict
    _strict = on


def is_strict() -> bool:
    return _strict


def validate(event: str, payload: Any) -> None:
    """Raise ``OutboundMismatch`` unless ``payload`` is what ``event`` is documented to carry."""
    model = OUTBOUND.get(event)
    if model is None:
        raise OutboundMismatch(
            f"{event!r} is not a server → client event: add its model to "
            "server/realtime/outbound.py and describe it in docs/protocol.md"
        )
    try:
        model.model_validate(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise OutboundMismatch(
            f"{event!r} payload does not match {model.__name__}: {problems}"
        ) from None


def check(event: str, payload: Any) -> None:
    """Every emit calls this. Off: nothing. Strict: validate, and both record and raise a
    mismatch (recorded, because an emit from a background task may have its exception logged
    rather than seen by a test)."""
    if not _strict:
        return
    try:
        validate(event, payload)
    except OutboundMismatch as mismatch:
        _mismatches.append(str(mismatch))
        raise


def take_mismatches() -> list[str]:
    """The mismatches recorded since the last call (strict mode), cleared."""
    found = _mismatches[:]
    _mismatches.clear()
    return found
