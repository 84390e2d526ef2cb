"""Request bodies of the HTTP API. Unknown fields and wrong types are refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SignInBody(Body):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class JoinBody(Body):
    code: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=254)
    display_name: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=256)


class InviteCodeBody(Body):
    group_id: int | None = Field(default=None, ge=1)
    valid_days: int | None = Field(default=None, ge=1, le=90)
    max_uses: int | None = Field(default=None, ge=1, le=10_000)
