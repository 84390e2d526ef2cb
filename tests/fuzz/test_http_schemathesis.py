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
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.infra.settings import Settings
from tests.conftest import IN_CI, ORIGIN, Backend, Office, make_settings, session_cookie, sign_in
from tests.fuzz.test_socketio_fuzz import database_fingerprint

EXAMPLES = 8  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# These end the session the run uses (they are covered by their own tests).
SKIPPED = {
    "POST /api/auth/sign-out",
    "POST /api/auth/sign-out-everywhere",
    "DELETE /api/me/sessions/{session_id}",
    "POST /api/me/close-account",
}


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    """SQLite only: this is about the edge, not about storage."""
    return Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'schemathesis.db'}", None)


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    return make_settings(tmp_path, backend)


def cases(operation: Any, mode: GenerationMode, cookies: dict[str, str]) -> Any:
    """schemathesis' cases, and as many again whose ids are small enough to exist; all with
    the admin's session cookie (the document's security scheme would make one up)."""
    generated = operation.as_strategy(generation_mode=mode, cookies=cookies)
    ids = [
        p.name
        for p in operation.path_parameters
        if p.definition.get("schema", {}).get("type") == "integer"
    ]
    if not ids:
        return generated
    existing = st.fixed_dictionaries({name: st.integers(1, 6) for name in ids})
    return st.one_of(
        generated,
        existing.flatmap(
            lambda values: operation.as_strategy(mode, path_parameters=values, cookies=cookies)
        ),
    )


async def some_data(client: TestClient[Any, Any], office: Office, csrf: str) -> None:
    """A program with an invitation and a guest link, so small ids name real things."""
    headers = {"Origin": ORIGIN, "X-CSRF-Token": csrf}

    async def post(path: str, body: dict[str, Any]) -> Any:
        response = await client.post(path, json=body, headers=headers)
        assert response.status == 201, await response.text()
        return await response.json()

    program = await post("/api/mentoring/programs", {"name": "Fuzzing"})
    await post(
        f"/api/mentoring/programs/{program['id']}/enrolments",
        {"user_id": office.alice.id, "role": "mentee"},
    )
    rooms = await (await client.get("/api/office/layout")).json()
    await post(f"/api/office/rooms/{rooms['rooms'][0]['id']}/guest-links", {})


async def test_every_operation_answers_as_documented(
    client: TestClient[Any, Any], office: Office, backend: Backend
) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    csrf = await sign_in(client, "admin@acme.example")
    name, value = session_cookie(client).split("=", 1)
    base_url = str(client.make_url("")).rstrip("/")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 50, "the document lost operations"
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    await some_data(client, office, csrf)
    assert backend.database_url is not None
    db_path = Path(backend.database_url.removeprefix("sqlite+aiosqlite:///"))

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
        @given(case=cases(operation, mode, {name: value}))
        def one(case: Any) -> None:
            before = database_fingerprint(db_path)
            response = case.call(base_url=base_url, session=http, headers=headers)
            statuses[operation.label][response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(
                    f"{operation.label} [{mode.value}] {response.status_code}: "
                    f"{str(exc).strip()[:600]}"
                )
            if response.status_code >= 400:
                after = database_fingerprint(db_path)
                changed = [t for t in before if before[t] != after.get(t)]
                if changed:
                    failures.append(
                        f"{operation.label} [{mode.value}] refused with "
                        f"{response.status_code} yet changed {changed}: {case.as_curl_command()}"
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
    # The cases reach the handlers, not only the parsers and the sign-in check.
    answered = {label for label, seen in statuses.items() if any(200 <= s < 300 for s in seen)}
    assert len(answered) >= len(operations) // 3, {k: dict(v) for k, v in statuses.items()}


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


async def test_an_admin_cannot_erase_their_own_account_through_the_admin_action(
    client: TestClient[Any, Any], office: Office
) -> None:
    """Found by the run above: suspend, restore and reset refused the admin's own account
    (409, as documented) but erase went through and ended the run's own session. Closing
    one's own account has its own route, with a confirmation."""
    csrf = await sign_in(client, "admin@acme.example")
    headers = {"Origin": ORIGIN, "X-CSRF-Token": csrf}
    erased = await client.post(f"/api/org/people/{office.admin.id}/erase", headers=headers)
    assert erased.status == 409, await erased.text()
    assert (await erased.json())["error"]["code"] == "conflict"
    assert (await client.get("/api/auth/session")).status == 200
    audit = await (await client.get("/api/org/audit")).json()
    assert "account.erased" not in str(audit)


async def test_an_id_in_a_body_too_large_to_exist_is_refused(
    client: TestClient[Any, Any], office: Office
) -> None:
    """Found by the run above: a 36-digit enrolment id overflowed SQLite's integer (a 500)."""
    csrf = await sign_in(client, "admin@acme.example")
    headers = {"Origin": ORIGIN, "X-CSRF-Token": csrf}
    made = await client.post("/api/mentoring/programs", json={"name": "P"}, headers=headers)
    program = (await made.json())["id"]
    huge = 10**35
    for path, body in (
        (
            f"/api/mentoring/programs/{program}/pairs",
            {"mentor_enrolment_id": huge, "mentee_enrolment_id": 1},
        ),
        (f"/api/mentoring/programs/{program}/enrolments", {"user_id": huge, "role": "mentor"}),
        (f"/api/org/groups/{office.group_ids[0]}/members", {"user_id": huge}),
        ("/api/org/invite-codes", {"group_id": huge}),
    ):
        response = await client.post(path, json=body, headers=headers)
        assert response.status == 400, (path, await response.text())
        assert (await response.json())["error"]["code"] == "invalid"


@pytest.mark.parametrize("raw", ["99999999999999999999999", "²", "٣", "", "-1", "1.0"])
async def test_a_query_id_that_is_not_plain_digits_is_invalid(
    client: TestClient[Any, Any], office: Office, raw: str
) -> None:
    """Found by probing the query parameters (not in the document, so schemathesis cannot):
    a 23-digit id overflowed SQLite and "²" passed str.isdigit() but not int() (both 500)."""
    csrf = await sign_in(client, "admin@acme.example")
    headers = {"Origin": ORIGIN, "X-CSRF-Token": csrf}
    made = await client.post("/api/mentoring/programs", json={"name": "P"}, headers=headers)
    program = (await made.json())["id"]
    response = await client.get(
        f"/api/mentoring/programs/{program}/suggestions", params={"mentee_enrolment_id": raw}
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "invalid"
