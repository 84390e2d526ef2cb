"""JSON errors for every HTTP failure: stable code, human message, nothing internal."""

from __future__ import annotations

import logging
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.infra import wire
from server.infra.errors import AppError, ErrorCode, from_validation

log = logging.getLogger("officehours.http")

B = TypeVar("B", bound=BaseModel)

MAX_JSON_BODY = 64 * 1024
MAX_ID = wire.MAX_ID


def error_response(error: AppError) -> web.Response:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return web.json_response(
        {"error": error.as_payload()}, status=error.http_status, headers=headers
    )


async def parse_body(request: web.Request, model: type[B]) -> B:
    """Read a JSON body into ``model``; refuse non-JSON, oversize and malformed bodies."""
    if request.content_type != "application/json":
        raise AppError(ErrorCode.INVALID, "send a JSON body (Content-Type: application/json)")
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise AppError(ErrorCode.TOO_LARGE, "the request body is too large")
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise AppError(ErrorCode.TOO_LARGE, "the request body is too large")
    try:
        data = wire.loads(raw)
    except wire.TooDeep:
        raise AppError(
            ErrorCode.INVALID, f"the body nests deeper than {wire.MAX_JSON_DEPTH} levels"
        ) from None
    except ValueError:  # not JSON, or not UTF-8
        raise AppError(ErrorCode.INVALID, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise AppError(ErrorCode.INVALID, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None


def path_id(request: web.Request, name: str) -> int:
    """An id from the path: ASCII digits (the router's ``\\d+`` also matches full-width
    and Arabic-Indic digits, which are no id of ours); one too large to exist is not found."""
    raw = request.match_info[name]
    if not wire.is_ascii_id(raw) or int(raw) > MAX_ID:
        raise AppError(ErrorCode.NOT_FOUND, "no such thing")
    return int(raw)


def query_id(request: web.Request, name: str) -> int:
    """A required id from the query string: ASCII digits, at most ``MAX_ID``."""
    raw = request.query.get(name, "")
    if not wire.is_ascii_id(raw) or int(raw) > MAX_ID:
        raise AppError(ErrorCode.INVALID, f"{name}: a number is required")
    return int(raw)
