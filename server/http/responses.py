"""What the HTTP API answers, as models: the OpenAPI document is generated from them and the
test suite checks every answer against them. They forbid undocumented keys, so a field that
nobody wrote down fails a test instead of leaving the server unnoticed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    """Base of every response model."""

    model_config = ConfigDict(extra="forbid")


class Health(Answer):
    status: Literal["ok"]


class OpenApiDocument(BaseModel):
    """This document itself (OpenAPI 3.1); its parts are described by that standard."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


class LiveSession(Answer):
    id: int
    created_at: str
    expires_at: str
    method: str = Field(description="how it was opened: password, invite, guest link, reset")
    current: bool = Field(description="this is the session asking")


class MySessions(Answer):
    sessions: list[LiveSession]


class ResetBy(Answer):
    id: int
    display_name: str
    role: str


class LatestReset(Answer):
    at: str
    by: ResetBy | None = Field(description="null once that admin's account is gone")
    used_at: str | None
    expires_at: str


class SignIn(Answer):
    at: str
    method: str


class AccountSecurity(Answer):
    """The latest admin reset of my password and my latest sign-ins (never an address)."""

    latest_reset: LatestReset | None
    sign_ins: list[SignIn]
    history_days: int


class Floor(Answer):
    id: int
    name: str
    width: int
    height: int


class PendingMembership(Answer):
    id: int
    role: str
    unit_id: int | None
    group_id: int
    group_name: str
    created_at: str


class PendingMemberships(Answer):
    pending: list[PendingMembership]


class GroupMemberAdded(Answer):
    """``granted`` at once (the person was already in the group's unit or asked for it), or
    ``pending`` until the person accepts."""

    status: Literal["granted", "pending"]
    pending: PendingMembership | None = None


class PrivacyPolicy(Answer):
    chat_days: int | None = Field(description="chat kept this many days; null: kept")
    inactive_account_days: int
    analytics_raw_days: int | None = Field(description="raw analytics events kept; null: kept")
    erased_content: Literal["anonymise", "delete"]


class NotificationSettings(Answer):
    """Which kinds of event notify me while the office is in the background, and the sound
    (everything on until I change it)."""

    knocks: bool
    direct_messages: bool
    mentions: bool
    guests_waiting: bool
    mentoring_sessions: bool
    sound: bool


class AuditEntry(Answer):
    seq: int
    at: str
    actor_id: int | None
    action: str
    target_kind: str | None
    target_id: int | None
    detail: dict[str, Any] = Field(description="ids, labels and numbers only, never content")
    hash: str


class AuditHead(Answer):
    entries: int
    mac: str


class AuditPage(Answer):
    entries: list[AuditEntry]
    next_before_seq: int | None
    head: AuditHead


class TemporaryPassword(Answer):
    temporary_password: str


class DashboardIndex(Answer):
    dashboards: list[str]
    scopes: list[str] = Field(description="the scopes my grants give me, widest first")
    scope_names: dict[str, str] = Field(description="every scope I may open, by label")
    min_group_size: int
    per_person_activity: bool


class PersonActivity(Answer):
    user_id: int | None = Field(description="null: an erased person, counted anonymously")
    display_name: str | None
    events: int
    messages: int
    meetings: int
    last_active: str | None


class PeopleActivity(Answer):
    scope: str
    from_: str = Field(alias="from")
    to: str
    people: list[PersonActivity]


class AvatarInfo(Answer):
    url: str = Field(description="where it is served: /api/avatars/{sha256}.{png|jpg|webp}")
    content_type: Literal["image/png", "image/jpeg", "image/webp"]
    width: int
    height: int
    bytes: int = Field(description="its size as stored (without metadata)")
    updated_at: str


class MyAvatar(Answer):
    avatar: AvatarInfo | None = Field(description="null: no picture (others see initials)")
