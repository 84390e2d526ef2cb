"""What the mentoring API answers, as models (see ``server.http.responses``): the documents
``server.mentoring.replies`` and the mentoring services build, key for key. Moments are ISO 8601
strings. A key marked "left out" is absent, never null, when it does not apply."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from server.http.responses import Answer
from server.mentoring.tables import (
    Cadence,
    EnrolmentRole,
    EnrolmentState,
    ItemStatus,
    MatchMode,
    PairState,
)

# A key that is left out (not null) when it does not apply: ``x: T | Omitted = absent()``.
Omitted = SkipJsonSchema[None]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str | None = None) -> Any:
    return Field(default=None, description=description, json_schema_extra=_no_default)


ProfilePart = Literal[
    "skills", "goals", "interests", "languages", "availability", "timezone", "protected"
]


class MatchingWeights(Answer):
    """Points per shared skill, goal and interest, for a common language, for full
    availability overlap, for the same time zone, per shared protected attribute."""

    skills: float
    goals: float
    interests: float
    languages: float
    availability: float
    timezone: float
    protected: float


class ScoreParts(Answer):
    """The points each part of the profiles gave a score; a part that gave none is left out."""

    skills: float | Omitted = absent()
    goals: float | Omitted = absent()
    interests: float | Omitted = absent()
    languages: float | Omitted = absent()
    availability: float | Omitted = absent()
    timezone: float | Omitted = absent()
    protected: float | Omitted = absent()


class MentoringStep(Answer):
    """A step of a program; unpublished ones only managers see."""

    id: int
    title: str
    due_at: str | None
    published_at: str | None = Field(description="null: not published yet")


class ProtectedAttributes(Answer):
    gender: str | Omitted = absent("left out when not given")


class EnrolmentProfile(Answer):
    skills: list[str]
    goals: list[str]
    interests: list[str]
    languages: list[str]
    timezone: str
    availability: list[int] = Field(description="hours of the week in UTC, 0 = Monday 00:00")
    capacity: int
    protected: ProtectedAttributes = Field(
        description="as the program sees them: empty unless the person opted in "
        "(the person always sees their own)"
    )
    use_protected: bool
    shown_to_mentees: list[ProfilePart] = Field(description="mentors only; empty for mentees")


class Invitation(Answer):
    """An enrolment without its profile: the program does not see it before acceptance."""

    id: int
    program_id: int
    user_id: int
    role: EnrolmentRole
    state: EnrolmentState
    display_name: str
    invited_at: str
    accepted_at: str | None


class MyEnrolment(Invitation):
    """One of my enrolments, with my whole profile."""

    profile: EnrolmentProfile


class MyEnrolmentInProgram(MyEnrolment):
    program_name: str


class MyEnrolments(Answer):
    enrolments: list[MyEnrolmentInProgram]


class ProgramEnrolment(Invitation):
    """An enrolment as the program's managers see it."""

    profile: EnrolmentProfile | Omitted = absent("left out until the person accepts")
    active_pairs: int


class ProgramEnrolments(Answer):
    enrolments: list[ProgramEnrolment]


class MentoringProgram(Answer):
    """A program: its weights, the steps I may see, my own enrolments in it."""

    id: int
    name: str
    weights: MatchingWeights
    suggestions_shown: int
    steps: list[MentoringStep] = Field(description="managers: all; others: published ones")
    my_enrolments: list[MyEnrolment]
    may_manage: bool


class ProgramListed(Answer):
    id: int
    name: str


class MentoringPrograms(Answer):
    programs: list[ProgramListed]


class MentorSuggestion(Answer):
    mentor_enrolment_id: int
    display_name: str
    score: float
    parts: ScoreParts
    reasons: list[str]


class MentorSuggestions(Answer):
    """Mentors ranked for a mentee (the mentee's own view counts only what mentors show)."""

    weights: MatchingWeights
    suggestions: list[MentorSuggestion]


class ProposedPair(Answer):
    mentor_enrolment_id: int
    mentee_enrolment_id: int
    score: float
    reasons: list[str]


class ProgramAssignment(Answer):
    """The whole-program assignment, the greedy total beside it, and whether it was made."""

    pairs: list[ProposedPair]
    total_score: float
    greedy_total_score: float
    unassigned_mentees: list[int] = Field(description="enrolment ids")
    applied: bool


class MentoringPair(Answer):
    """A pair: who, how and when."""

    id: int
    program_id: int
    mentor_enrolment_id: int
    mentee_enrolment_id: int
    mentor_id: int
    mentee_id: int
    state: PairState
    mode: MatchMode
    matched_at: str
    ended_at: str | None
    room_id: int | None = Field(description="null once the room is gone")


class ScoredPair(MentoringPair):
    """A pair as program managers see it, with its matching score."""

    score: float


class PairListed(MentoringPair):
    score: float | Omitted = absent("program managers only")


class MyPairs(Answer):
    pairs: list[PairListed]


class ProgramPairs(Answer):
    pairs: list[ScoredPair]


class ProgramRating(Answer):
    suppressed: bool = Field(description="too few raters yet: nothing published")
    people: int | None
    average: float | None
    as_of: str | None


class ProgramHealth(Answer):
    """Content-free counts and medians; feedback of closed weeks only."""

    program_id: int
    mentors: int
    mentees: int
    invitations_open: int
    pairs_matched: int
    pairs_ended: int
    pairs_met_last_30_days: int
    sessions_scheduled: int
    sessions_held: int
    median_session_seconds: float | None
    goals_open: int
    goals_completed: int
    feedback_given: int
    feedback_until: str
    rating: ProgramRating


class MentoringSessionTimes(Answer):
    """A scheduled session; ``met_seconds`` is the time both were in the room."""

    id: int
    starts_at: str
    ends_at: str
    cancelled: bool
    met_seconds: float


class ItemState(Answer):
    """A goal or milestone: open or done."""

    id: int
    status: ItemStatus
    done_at: str | None


class PairMilestone(ItemState):
    title: str
    due_on: str | None


class PairGoal(ItemState):
    title: str
    milestones: list[PairMilestone]


class PairAgreement(Answer):
    goals: str
    cadence: Cadence | None = Field(description="null until agreed")
    agreed_at: str | None


class AgreementWritten(Answer):
    """The agreement as written."""

    goals: str
    cadence: Cadence
    agreed_at: str


class GoalCounts(Answer):
    open: int
    done: int


class PairForItsMembers(MentoringPair):
    """The pair as its mentor and mentee see it: everything of theirs."""

    score: float | Omitted = absent("only when the reader is also a program manager")
    mentor_name: str
    mentee_name: str
    sessions: list[MentoringSessionTimes]
    agreement: PairAgreement
    goals: list[PairGoal]


class PairForManagers(ScoredPair):
    """The pair as a manager outside it sees it: metadata and goal counts, no content."""

    mentor_name: str
    mentee_name: str
    sessions: list[MentoringSessionTimes]
    goals: GoalCounts


class MentoringPairView(RootModel[PairForItsMembers | PairForManagers]):
    """A pair: its members see everything of theirs, a manager outside it metadata only."""


class CalendarFeedUrl(Answer):
    """My new calendar feed (shown once)."""

    url: str
    token: str


class WrittenNote(Answer):
    body: str
    updated_at: str


class SessionNotes(Answer):
    session_id: int
    shared: WrittenNote | None = Field(description="null: nobody wrote it yet")
    private: WrittenNote | None = Field(description="mine only; null: not written")


class FeedbackGiven(Answer):
    rating: int
    text: str = Field(description="empty: no text")
    created_at: str


class PairFeedback(FeedbackGiven):
    from_: Literal["mentor", "mentee"] = Field(alias="from")


class SessionFeedbackRead(Answer):
    """Both sides' feedback on a session, for the pair."""

    given_by: list[Literal["mentor", "mentee"]]
    feedback: list[PairFeedback]
