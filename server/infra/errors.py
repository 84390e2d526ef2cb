"""The one error type of the service, with stable codes.

Services raise ``AppError``; the HTTP adapter turns it into a JSON error response and the
Socket.IO adapter into an error ack, both ``{"code", "message"}``. Codes are part of the
protocol: clients branch on them, so they never change meaning.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ValidationError


class ErrorCode(StrEnum):
    INVALID = "invalid"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    # An upload (a profile picture) of a format the server does not take, or not the one its
    # Content-Type names.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    # The session was opened with an admin's reset credential: set a new password first.
    PASSWORD_CHANGE_REQUIRED = "password_change_required"  # noqa: S105 (a code, not a secret)


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.PASSWORD_CHANGE_REQUIRED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}


class AppError(Exception):
    """A refusal the client should understand; the message is safe to show to users."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def as_payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.retry_after is not None:
            error["retry_after"] = round(self.retry_after, 3)
        return error


def invalid(message: str) -> AppError:
    return AppError(ErrorCode.INVALID, message)


def forbidden(message: str = "you may not do that") -> AppError:
    return AppError(ErrorCode.FORBIDDEN, message)


def not_found(message: str = "no such thing") -> AppError:
    return AppError(ErrorCode.NOT_FOUND, message)


def unauthorized(message: str = "sign in first") -> AppError:
    return AppError(ErrorCode.UNAUTHORIZED, message)


def conflict(message: str) -> AppError:
    return AppError(ErrorCode.CONFLICT, message)


def from_validation(exc: ValidationError) -> AppError:
    """The first schema violation, as a message naming the field."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    return AppError(ErrorCode.INVALID, f"{where}: {first['msg']}")
