"""Request bodies of the mentoring API. Unknown fields and wrong types are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from server.http.errors import MAX_ID
from server.http.schemas import FIRST_DAY, LAST_DAY, VISIBLE, Body, Query, QueryInt

Weight = Annotated[float, Field(ge=0, le=100)]
Tag = Annotated[str, VISIBLE, Field(min_length=1, max_length=40)]
Tags = list[Tag]
Shown = Annotated[int, Field(ge=1, le=10)]


def _within_calendar(value: datetime) -> datetime:
    """A moment whose day lies within the days a period may cover (so that adding a session's
    length, a reminder or a week can never leave the calendar: no OverflowError)."""
    day = value.astimezone(UTC).date() if value.tzinfo is not None else value.date()
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"a moment between {FIRST_DAY.year} and {LAST_DAY.year} is required")
    return value


# JSON has no datetime: an ISO 8601 string with a time zone is parsed (strict elsewhere).
Moment = Annotated[datetime, Field(strict=False), AfterValidator(_within_calendar)]


class WeightsBody(Body):
    skills: Weight | None = None
    goals: Weight | None = None
    interests: Weight | None = None
    languages: Weight | None = None
    availability: Weight | None = None
    timezone: Weight | None = None
    protected: Weight | None = None


class NewProgramBody(Body):
    name: Annotated[str, VISIBLE] = Field(min_length=1, max_length=120)
    weights: WeightsBody | None = None
    suggestions_shown: Shown = 3


class ProgramSettingsBody(Body):
    weights: WeightsBody = WeightsBody()
    suggestions_shown: Shown | None = None


class StepBody(Body):
    title: Annotated[str, VISIBLE] = Field(min_length=1, max_length=120)
    due_at: Moment | None = None


class InviteBody(Body):
    user_id: int = Field(ge=1, le=MAX_ID)
    role: Literal["mentor", "mentee"]
    display_name: Annotated[str, VISIBLE] | None = Field(default=None, min_length=1, max_length=80)
    capacity: Annotated[int, Field(ge=0, le=20)] | None = None


class AnswerBody(Body):
    accept: bool


class ProfileBody(Body):
    skills: Tags | None = Field(default=None, max_length=20)
    goals: Tags | None = Field(default=None, max_length=20)
    interests: Tags | None = Field(default=None, max_length=20)
    languages: Tags | None = Field(default=None, max_length=10)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    availability: list[Annotated[int, Field(ge=0, le=167)]] | None = Field(
        default=None, max_length=168
    )
    capacity: Annotated[int, Field(ge=0, le=20)] | None = None
    protected: dict[Literal["gender"], Annotated[str, Field(max_length=40)]] | None = None
    use_protected: bool | None = None
    shown_to_mentees: (
        list[
            Literal[
                "skills", "goals", "interests", "languages", "availability", "timezone", "protected"
            ]
        ]
        | None
    ) = Field(default=None, max_length=7)


class MatchBody(Body):
    mentor_enrolment_id: int = Field(ge=1, le=MAX_ID)
    mentee_enrolment_id: int = Field(ge=1, le=MAX_ID)


class PickBody(Body):
    mentor_enrolment_id: int = Field(ge=1, le=MAX_ID)


class AssignBody(Body):
    apply: bool = False


class AgreementBody(Body):
    goals: str = Field(max_length=20_000)
    cadence: Literal["weekly", "fortnightly", "monthly"]


class GoalBody(Body):
    title: Annotated[str, VISIBLE] = Field(min_length=1, max_length=300)


class GoalChangesBody(Body):
    title: Annotated[str, VISIBLE] | None = Field(default=None, min_length=1, max_length=300)
    status: Literal["open", "done"] | None = None


class MilestoneBody(Body):
    title: Annotated[str, VISIBLE] = Field(min_length=1, max_length=300)
    due_on: Moment | None = None


class MilestoneChangesBody(Body):
    status: Literal["open", "done"]


class SessionBody(Body):
    starts_at: Moment
    minutes: Annotated[int, Field(ge=15, le=240)] = 60


class NoteBody(Body):
    body: str = Field(max_length=20_000)


class FeedbackBody(Body):
    rating: Annotated[int, Field(ge=1, le=5)]
    text: str | None = Field(default=None, max_length=4000)


class SuggestionsQuery(Query):
    """Documents the query; the view reads it with ``query_id`` (ASCII digits only)."""

    mentee_enrolment_id: QueryInt = Field(ge=1, le=MAX_ID)
