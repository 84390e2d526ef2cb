"""Request bodies of the HTTP API. Unknown fields and wrong types are refused."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from server.http.errors import MAX_ID
from server.infra.wire import is_ascii_id, visible_name

# Every name a person types (display names, floors, rooms, programs, guests): at least one
# character someone can see — not only zero-width, bidi-control or blank characters.
VISIBLE = AfterValidator(visible_name)


def _ascii_digits(value: Any) -> Any:
    if isinstance(value, str) and not is_ascii_id(value):
        raise ValueError("a number in ASCII digits is required")
    return value


# A number in a query string: ASCII digits only (full-width digits, "+1", "1_000", " 1" refused).
QueryInt = Annotated[int, BeforeValidator(_ascii_digits)]

# Dates a period may start or end on: far enough from date.min and date.max that whole weeks
# and the default periods around them can always be computed.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9000, 12, 31)
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SignInBody(Body):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class ChangePasswordBody(Body):
    # Not needed in the session a reset credential opened (that credential was the proof).
    current_password: str | None = Field(default=None, min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class JoinBody(Body):
    code: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=254)
    display_name: Annotated[str, VISIBLE] = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=256)


class InviteCodeBody(Body):
    group_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    valid_days: int | None = Field(default=None, ge=1, le=90)
    max_uses: int | None = Field(default=None, ge=1, le=10_000)


RoomKindName = Literal[
    "team_room", "private_office", "meeting_room", "mentoring_room", "lobby", "town_hall"
]
DoorName = Literal["open", "closed", "locked"]
Coordinate = Annotated[int, Field(ge=0, le=1000)]
Size = Annotated[int, Field(ge=2, le=1000)]


class NewFloorBody(Body):
    name: Annotated[str, VISIBLE] = Field(min_length=1, max_length=80)
    width: Annotated[int, Field(ge=10, le=1000)]
    height: Annotated[int, Field(ge=10, le=1000)]


class NewRoomBody(Body):
    name: Annotated[str, VISIBLE] = Field(min_length=1, max_length=80)
    kind: RoomKindName
    x: Coordinate
    y: Coordinate
    w: Size
    h: Size
    capacity: Annotated[int, Field(ge=1, le=500)]
    door: DoorName = "open"


class RoomChangesBody(Body):
    name: Annotated[str, VISIBLE] | None = Field(default=None, min_length=1, max_length=80)
    kind: RoomKindName | None = None
    x: Coordinate | None = None
    y: Coordinate | None = None
    w: Size | None = None
    h: Size | None = None
    capacity: Annotated[int, Field(ge=1, le=500)] | None = None
    door: DoorName | None = None


class OwnersBody(Body):
    user_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(max_length=50)


class GuestLinkBody(Body):
    valid_minutes: Annotated[int, Field(ge=1, le=43_200)] = 24 * 60
    max_uses: Annotated[int, Field(ge=1, le=1000)] | None = None
    requires_admission: bool = True


class GuestJoinBody(Body):
    display_name: Annotated[str, VISIBLE] = Field(min_length=1, max_length=60)


class Query(BaseModel):
    """Query-string parameters: strings converted to their types, unknown names refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DashboardQuery(Query):
    scope: str | None = Field(default=None, pattern=r"^(org|unit:[0-9]{1,9}|group:[0-9]{1,9})$")
    start: Day | None = Field(default=None, alias="from")
    end: Day | None = Field(default=None, alias="to")
    granularity: Literal["day", "week"] = "week"


class PeriodQuery(Query):
    start: Day | None = Field(default=None, alias="from")
    end: Day | None = Field(default=None, alias="to")


class SeenHeadQuery(Query):
    """A head of the audit chain seen earlier (entries and MAC): verifying against it tells
    whether the log was cut back or rewritten since."""

    seen_entries: Annotated[QueryInt, Field(ge=0, le=MAX_ID)] | None = None
    seen_head: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    def checkpoint(self) -> tuple[int, str] | None:
        if self.seen_entries is None or self.seen_head is None or self.seen_entries == 0:
            return None
        return (self.seen_entries, self.seen_head)


class AboutMeQuery(PeriodQuery, SeenHeadQuery):
    pass


class AnalyticsPolicyBody(Body):
    per_person_activity: bool


class CloseAccountBody(Body):
    # Closing an account cannot be undone: the client must say so explicitly.
    confirm: Literal[True]


class PolicyBody(Body):
    chat_days: Annotated[int, Field(ge=1, le=36_500)] | None = None
    inactive_account_days: Annotated[int, Field(ge=30, le=36_500)] | None = None
    analytics_raw_days: Annotated[int, Field(ge=1, le=36_500)] | None = None
    erased_content: Literal["anonymise", "delete"] | None = None


class NotificationSettingsBody(Body):
    """The whole choice at once (PUT replaces it): every field, true or false."""

    knocks: bool = Field(description="someone knocks on a room I am in, or asks me over")
    direct_messages: bool = Field(description="a message in a direct, group or pair chat")
    mentions: bool = Field(description="someone writes @ and my name in a room's chat")
    guests_waiting: bool = Field(description="a guest waits at a room I may let them into")
    mentoring_sessions: bool = Field(description="one of my mentoring sessions is about to start")
    sound: bool = Field(description="a short sound with each notification")


class GroupMemberBody(Body):
    user_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    role: Literal["member", "group_lead"] = "member"


class AuditQuery(Body):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    before_seq: Annotated[QueryInt, Field(ge=1, le=MAX_ID)] | None = None
    limit: Annotated[QueryInt, Field(ge=1, le=200)] = 50
