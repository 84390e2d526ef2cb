"""The route table's promises, kept by one wrapper rather than by each view.

A route that says ``signed_in`` answers 401 before its view runs; one that names a ``body``
or ``query`` model has it parsed and validated before the view runs, and the view reads the
parsed value with ``body_of`` / ``query_of`` — asking for a model the route does not
declare is a programming error, so the table and the views cannot disagree silently.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.http.errors import parse_body
from server.http.middleware import require_session
from server.infra.errors import from_validation

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
B = TypeVar("B", bound=BaseModel)

_BODY = web.RequestKey("route_body", BaseModel)
_QUERY = web.RequestKey("route_query", BaseModel)


def enforced(
    handler: Handler,
    *,
    signed_in: bool,
    body: type[BaseModel] | None,
    query: type[BaseModel] | None,
) -> Handler:
    """``handler`` behind the checks its route declares (session, then query, then body)."""

    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        if signed_in:
            require_session(request)
        if query is not None:
            request[_QUERY] = parse_query(request, query)
        if body is not None:
            request[_BODY] = await parse_body(request, body)
        return await handler(request)

    return handle


def parse_query(request: web.Request, model: type[B]) -> B:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise from_validation(exc) from None


def body_of(request: web.Request, model: type[B]) -> B:
    """The body the route declared and the wrapper parsed."""
    return _declared(request, _BODY, model)


def query_of(request: web.Request, model: type[B]) -> B:
    """The query string the route declared and the wrapper parsed."""
    return _declared(request, _QUERY, model)


def _declared(request: web.Request, key: web.RequestKey[BaseModel], model: type[B]) -> B:
    value = request.get(key)
    if not isinstance(value, model):
        kind = "body" if key == _BODY else "query"
        raise RuntimeError(
            f"{request.method} {request.path}: the route declares no {kind} of {model.__name__}"
        )
    return value
