"""What the HTTP API answers, as models: the OpenAPI document is generated from them and the
test suite checks every answer against them. They forbid undocumented keys, so a field that
nobody wrote down fails a test instead of leaving the server unnoticed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Answer(BaseModel):
    """Base of every response model."""

    model_config = ConfigDict(extra="forbid")
