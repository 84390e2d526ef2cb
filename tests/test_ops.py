"""Health, readiness, metrics and the OpenAPI document, as an operator sees them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from server.http.openapi import OPENAPI_DOC, documented_path
from server.http.routes import documented_routes
from tests.conftest import Backend, Office, session_cookie, sign_in
from tests.http_contract import ResponseContract


async def test_health_and_readiness(client: TestClient[Any, Any], backend: Backend) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    checks = (await ready.json())["checks"]
    expected = {"database": "ok", **({"redis": "ok"} if backend.redis_url else {})}
    assert checks == expected


async def test_readiness_fails_when_redis_is_unreachable(
    aiohttp_client: Any, tmp_path: Any, clock: Any
) -> None:
    from server.app import create_app
    from tests.cli_helpers import free_port
    from tests.conftest import make_settings

    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(
        tmp_path, Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path}/x.db", nothing_listens)
    )
    app_client = await aiohttp_client(create_app(settings, clock))
    assert (await app_client.get("/healthz")).status == 200  # alive, but not ready
    ready = await app_client.get("/readyz")
    assert ready.status == 503
    assert await ready.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unreachable"},
    }


async def test_metrics_count_requests_errors_and_connections(
    client: TestClient[Any, Any], office: Office, realtime: Any
) -> None:
    await client.post("/api/auth/sign-in", json={"email": "alice@acme.example", "password": "no"})
    await sign_in(client, "alice@acme.example")
    rt = realtime()
    await rt.connect(client, cookie=session_cookie(client))
    await rt.call("whoami", {})
    response = await client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    assert 'officehours_sign_ins_total{outcome="failed"} 1' in text
    assert 'officehours_sign_ins_total{outcome="ok"} 1' in text
    assert 'officehours_errors_total{transport="http",code="unauthorized"} 1' in text
    assert "officehours_realtime_connections 1" in text
    assert 'officehours_realtime_events_total{event="whoami"} 1' in text
    assert 'officehours_http_requests_total{method="POST",status="4xx"} 1' in text


# Pages for the browser, not API routes.
PAGES = ("/", "/office", "/mentoring", "/admin", "/me", "/join/{token}", "/privacy")


async def test_openapi_document_is_valid_and_covers_every_route(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/api/openapi.json")
    document = await response.json()
    validate(document)
    served = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and not route.resource.canonical.startswith(("/socket.io", "/static"))
        and route.resource.canonical not in PAGES
        and not route.resource.canonical.startswith("/vendor")
    }
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert served == documented
    assert documented == {(r.method, documented_path(r.path)) for r in documented_routes()}
    sign_in_schema = document["components"]["schemas"]["SignInBody"]
    assert sign_in_schema["additionalProperties"] is False


async def test_unknown_routes_and_methods_answer_json(client: TestClient[Any, Any]) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong_method = await client.delete("/healthz")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["error"]["code"] == "invalid"


async def test_pages_are_served_with_protective_headers(client: TestClient[Any, Any]) -> None:
    page = await client.get("/")
    assert page.status == 200 and "<form" in await page.text()
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


async def test_every_json_answer_has_a_response_schema(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    untyped = [
        f"{method.upper()} {path} -> {status}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        and (schema := answer.get("content", {}).get("application/json", {}).get("schema"))
        and "$ref" not in schema
    ]
    assert untyped == []


async def test_an_answer_that_strays_from_its_schema_is_caught(
    client: TestClient[Any, Any], response_contract: ResponseContract
) -> None:
    """The contract check that runs under every test's client does fail on a stray answer:
    here a real route's answer is checked once as served, then with an undocumented key and a
    status the route never documents."""
    body = await (await client.get("/healthz")).read()
    assert response_contract.mismatches == []
    document = client.app[OPENAPI_DOC]
    stray = json.dumps({**json.loads(body), "who": 1}).encode()
    response_contract.check(document, "GET", "/healthz", 200, stray)
    response_contract.check(document, "GET", "/healthz", 202, body)
    caught = list(response_contract.mismatches)
    response_contract.mismatches.clear()  # the stray answers were this test's own doing
    assert len(caught) == 2
    assert "'who' was unexpected" in caught[0] and "not documented" in caught[1]
