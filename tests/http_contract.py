"""Every successful JSON answer a test provokes is checked against the OpenAPI document the
server publishes: its status must be documented for that route and its body must match the
route's response schema (whose models forbid undocumented keys, so nothing leaks in a field
nobody wrote down). A mismatch fails the test that provoked it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from jsonschema import Draft202012Validator

from server.http.openapi import OPENAPI_DOC


class ResponseContract:
    def __init__(self) -> None:
        self.mismatches: list[str] = []

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if (
            200 <= response.status < 300
            and isinstance(response, web.Response)
            and response.content_type == "application/json"
            and response.body is not None
        ):
            self.check(
                request.config_dict[OPENAPI_DOC],
                request.method,
                request.match_info.route.resource.canonical,  # type: ignore[union-attr]
                response.status,
                bytes(response.body),  # type: ignore[arg-type]
            )
        return response

    def check(
        self, document: dict[str, Any], method: str, path: str, status: int, body: bytes
    ) -> None:
        """``path``: the route's pattern as the document writes it (``/api/x/{id}``)."""
        where = f"{method} {path} -> {status}"
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is None:
            return  # not an API route (static files, Socket.IO, /metrics)
        answer = operation["responses"].get(str(status))
        if answer is None:
            self.mismatches.append(f"{where}: this status is not documented")
            return
        schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": document["components"]})
        for error in validator.iter_errors(json.loads(body)):
            location = "/".join(str(p) for p in error.absolute_path) or "(body)"
            self.mismatches.append(f"{where}: {location}: {error.message[:300]}")


@pytest.fixture
def response_contract() -> Any:
    contract = ResponseContract()
    yield contract
    if contract.mismatches:
        pytest.fail("answers do not match the OpenAPI document:\n" + "\n".join(contract.mismatches))
