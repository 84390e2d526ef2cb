"""The HTTP API against its own OpenAPI document, with schemathesis.

The document the server serves (/api/openapi.json, built from ROUTES, the admin sub-app
included) drives the generation: valid and invalid path parameters, queries and bodies for
every operation, sent to a real server on 127.0.0.1 as a signed-in organization admin (session
cookie, CSRF header, allowed Origin). No answer may be a 5xx, and every answer must be a
status, content type and body the document declares.

schemathesis calls with ``requests`` (blocking), so hypothesis runs in a worker thread while
the event loop serves the app.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.settings import Settings
from tests.conftest import IN_CI, ORIGIN, Backend, Office, make_settings, session_cookie, sign_in

EXAMPLES = 8  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# These end the session the run uses (they are covered by their own tests).
SKIPPED = {"POST /api/auth/sign-out", "POST /api/me/close-account"}


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    """SQLite only: this is about the edge, not about storage."""
    return Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'schemathesis.db'}", None)


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    return make_settings(tmp_path, backend)


async def test_every_operation_answers_as_documented(
    client: TestClient[Any, Any], office: Office
) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    csrf = await sign_in(client, "admin@acme.example")
    name, value = session_cookie(client).split("=", 1)
    base_url = str(client.make_url("")).rstrip("/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50, "the document lost operations"
    failures: list[str] = []

    http = requests.Session()
    http.cookies.set(name, value)
    headers = {"Origin": ORIGIN, "X-CSRF-Token": csrf}

    def check(operation: Any, mode: GenerationMode) -> None:
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=IN_CI,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def one(case: Any) -> None:
            response = case.call(base_url=base_url, session=http, headers=headers)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(
                    f"{operation.label} [{mode.value}] {response.status_code}: "
                    f"{str(exc).strip()[:600]}"
                )

        try:
            one()
        except Unsatisfiable:
            # Nothing to break: no parameters and no body.
            assert mode is GenerationMode.NEGATIVE, operation.label

    def run() -> None:
        for operation in operations:
            if operation.label not in SKIPPED:
                check(operation, GenerationMode.POSITIVE)
                check(operation, GenerationMode.NEGATIVE)
        # The run ends as it began: still signed in as the admin.
        assert http.get(f"{base_url}/api/auth/session").status_code == 200

    await asyncio.to_thread(run)
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures[:30])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/office/guest-links/{}"),
        ("GET", "/api/office/rooms/{}/guest-links"),
        ("PATCH", "/api/office/rooms/{}"),
        ("GET", "/api/mentoring/programs/{}"),
        ("POST", "/api/org/people/{}/suspend"),
    ],
)
async def test_an_id_too_large_to_exist_is_not_found(
    client: TestClient[Any, Any], office: Office, method: str, path: str
) -> None:
    """Found by the run above: a 20-digit id overflowed SQLite's integer (a 500)."""
    csrf = await sign_in(client, "admin@acme.example")
    headers = {"Origin": ORIGIN, "X-CSRF-Token": csrf}
    for huge in (2**53 + 1, 2**64, 10**30):
        response = await client.request(
            method, path.format(huge), json={"capacity": 3}, headers=headers
        )
        assert response.status == 404, await response.text()
        assert (await response.json())["error"]["code"] == "not_found"
