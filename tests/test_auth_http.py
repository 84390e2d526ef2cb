"""Sign-in, sign-out, sessions, CSRF, rate limiting and joining, over real HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server.db.models import User
from server.http.keys import AUTH, DB
from server.infra.clock import FakeClock
from tests.conftest import ORIGIN, PASSWORD, Office, sign_in

SIGN_IN = "/api/auth/sign-in"


async def test_sign_in_sets_a_safe_cookie_and_opens_a_session(
    client: TestClient[Any, Any], office: Office
) -> None:
    response = await client.post(
        SIGN_IN,
        json={"email": "Alice@Acme.example ", "password": PASSWORD},
        headers={"Origin": ORIGIN},
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["user"] == {"id": office.alice.id, "display_name": "Alice", "org_id": office.org.id}
    assert body["roles"] == [
        {"role": "member", "unit_id": body["roles"][0]["unit_id"], "group_id": office.group_ids[0]}
    ]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # the test base URL is http
    assert PASSWORD not in cookie

    me = await client.get("/api/auth/session")
    assert me.status == 200
    assert (await me.json())["user"]["display_name"] == "Alice"


async def test_secure_cookie_when_the_base_url_is_https(
    aiohttp_client: Any, tmp_path: Any, backend: Any, clock: FakeClock
) -> None:
    from server.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, backend, base_url="https://office.example.org")
    https_client = await aiohttp_client(create_app(settings, clock))
    async with https_client.app[DB]() as session:
        from server.people import accounts
        from server.people.passwords import hash_password

        org = await accounts.create_organization(session, "S", "s-org", now=clock.now())
        await accounts.create_user(
            session,
            org.id,
            email="s@s.example",
            display_name="S",
            password_hash=await hash_password(PASSWORD),
            now=clock.now(),
        )
        await session.commit()
    response = await https_client.post(
        SIGN_IN,
        json={"email": "s@s.example", "password": PASSWORD},
        headers={"Origin": "https://office.example.org"},
    )
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-officehours_session=") and "Secure" in cookie


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient[Any, Any], office: Office
) -> None:
    wrong = await client.post(
        SIGN_IN, json={"email": "alice@acme.example", "password": "not-her-password"}
    )
    unknown = await client.post(
        SIGN_IN, json={"email": "nobody@acme.example", "password": "not-her-password"}
    )
    assert wrong.status == unknown.status == 401
    assert (
        await wrong.json()
        == await unknown.json()
        == {"error": {"code": "unauthorized", "message": "wrong email or password"}}
    )
    assert "Set-Cookie" not in wrong.headers
    assert (await client.get("/api/auth/session")).status == 401


async def test_repeated_failures_are_rate_limited_then_released(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    for _ in range(5):
        r = await client.post(
            SIGN_IN, json={"email": "alice@acme.example", "password": "guess-1234"}
        )
        assert r.status == 401
    limited = await client.post(SIGN_IN, json={"email": "alice@acme.example", "password": PASSWORD})
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert (await limited.json())["error"]["code"] == "rate_limited"
    # Another account from the same address is not locked by Alice's failures.
    assert (
        await client.post(SIGN_IN, json={"email": "bob@acme.example", "password": PASSWORD})
    ).status == 200
    clock.advance(15 * 60 + 1)
    assert (
        await client.post(SIGN_IN, json={"email": "alice@acme.example", "password": PASSWORD})
    ).status == 200


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    client: TestClient[Any, Any], office: Office
) -> None:
    csrf = await sign_in(client, "alice@acme.example")
    refused = await client.post("/api/auth/sign-out", headers={"Origin": ORIGIN})
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "forbidden"
    wrong = await client.post("/api/auth/sign-out", headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status == 403
    assert (await client.get("/api/auth/session")).status == 200  # still signed in

    cookie_before = next(c for c in client.session.cookie_jar if c.key == "officehours_session")
    done = await client.post("/api/auth/sign-out", headers={"X-CSRF-Token": csrf, "Origin": ORIGIN})
    assert done.status == 204
    assert (await client.get("/api/auth/session")).status == 401
    # The old cookie value is dead even if a client kept it.
    replay = await client.get(
        "/api/auth/session", cookies={"officehours_session": cookie_before.value}
    )
    assert replay.status == 401


async def test_cross_site_state_changes_are_refused(
    client: TestClient[Any, Any], office: Office
) -> None:
    csrf = await sign_in(client, "alice@acme.example")
    foreign = await client.post(
        "/api/auth/sign-out", headers={"Origin": "https://evil.example", "X-CSRF-Token": csrf}
    )
    assert foreign.status == 403
    assert (await client.get("/api/auth/session")).status == 200
    login = await client.post(
        SIGN_IN,
        json={"email": "bob@acme.example", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert login.status == 403


async def test_malformed_bodies_get_clear_errors(client: TestClient[Any, Any]) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(data="email=a&password=b"), "Content-Type"),
        (dict(data=b"{not json", headers={"Content-Type": "application/json"}), "not valid JSON"),
        (dict(json=["a"]), "JSON object"),
        (dict(json={"email": "a@b.example", "password": "x", "admin": True}), "admin"),
        (dict(json={"email": "a@b.example", "password": 12345}), "password"),
        (dict(json={"email": "a@b.example"}), "password"),
    ]
    for kwargs, fragment in cases:
        response = await client.post(SIGN_IN, **kwargs)
        assert response.status == 400, kwargs
        error = (await response.json())["error"]
        assert error["code"] == "invalid" and fragment in error["message"], (kwargs, error)
    too_big = await client.post(SIGN_IN, json={"email": "a@b.example", "password": "p" * 70000})
    assert too_big.status == 413
    assert (await too_big.json())["error"]["code"] == "too_large"


async def test_join_with_an_invite_code(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    auth = client.app[AUTH]
    code = await auth.create_invite_code(
        None,
        office.org.id,
        group_id=office.group_ids[1],
        max_uses=1,
        valid_for=timedelta(days=1),
    )

    async def users() -> int:
        async with client.app[DB]() as session:
            return int(await session.scalar(select(func.count()).select_from(User)) or 0)

    before = await users()
    weak = await client.post(
        "/api/auth/join",
        json={
            "code": code,
            "email": "new@acme.example",
            "display_name": "New",
            "password": "Password123!",
        },
    )
    assert weak.status == 400 and "common" in (await weak.json())["error"]["message"]
    bad = await client.post(
        "/api/auth/join",
        json={
            "code": "nope",
            "email": "new@acme.example",
            "display_name": "New",
            "password": "a-long-unusual-phrase",
        },
    )
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid"
    assert await users() == before

    ok = await client.post(
        "/api/auth/join",
        json={
            "code": code,
            "email": "new@acme.example",
            "display_name": "New Person",
            "password": "a-long-unusual-phrase",
        },
    )
    assert ok.status == 201, await ok.text()
    body = await ok.json()
    assert body["user"]["org_id"] == office.org.id
    assert body["roles"][0]["group_id"] == office.group_ids[1]
    assert await users() == before + 1

    again = await client.post(
        "/api/auth/join",
        json={
            "code": code,
            "email": "second@acme.example",
            "display_name": "Second",
            "password": "a-long-unusual-phrase",
        },
        headers={"X-CSRF-Token": body["csrf_token"]},
    )
    assert again.status == 403 and "used up" in (await again.json())["error"]["message"]

    expiring = await auth.create_invite_code(None, office.org.id, valid_for=timedelta(hours=1))
    clock.advance(3601)
    late = await client.post(
        "/api/auth/join",
        json={
            "code": expiring,
            "email": "late@acme.example",
            "display_name": "Late",
            "password": "a-long-unusual-phrase",
        },
        headers={"X-CSRF-Token": body["csrf_token"]},
    )
    assert late.status == 403 and "expired" in (await late.json())["error"]["message"]
    assert await users() == before + 1


async def test_sessions_expire(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    await sign_in(client, "bob@acme.example")
    clock.advance(14 * 24 * 3600 - 1)  # the default lifetime is 14 days
    assert (await client.get("/api/auth/session")).status == 200
    clock.advance(2)
    assert (await client.get("/api/auth/session")).status == 401


async def test_admins_create_invite_codes_within_their_scope(
    client: TestClient[Any, Any], office: Office
) -> None:
    url = "/api/org/invite-codes"
    assert (await client.post(url, json={})).status == 401

    csrf = await sign_in(client, "alice@acme.example")  # a member
    member = await client.post(
        url, json={"group_id": office.group_ids[0]}, headers={"X-CSRF-Token": csrf}
    )
    assert member.status == 403
    assert (await member.json())["error"]["code"] == "forbidden"

    csrf = await sign_in(client, "admin@acme.example")
    headers = {"X-CSRF-Token": csrf}
    assert (await client.post(url, json={"group_id": 99999}, headers=headers)).status == 404
    assert (await client.post(url, json={"max_uses": 0}, headers=headers)).status == 400
    assert (await client.post(url, json={"valid_days": 365}, headers=headers)).status == 400
    made = await client.post(
        url, json={"group_id": office.group_ids[0], "max_uses": 5, "valid_days": 7}, headers=headers
    )
    assert made.status == 201
    code = (await made.json())["code"]
    assert len(code) >= 16

    joined = await client.post(
        "/api/auth/join",
        json={
            "code": code,
            "email": "carol@acme.example",
            "display_name": "Carol",
            "password": "a-long-unusual-phrase",
        },
    )
    assert joined.status == 201
    assert (await joined.json())["roles"][0]["group_id"] == office.group_ids[0]


async def test_an_invite_code_cannot_be_used_beyond_its_limit_under_a_race(
    client: TestClient[Any, Any], office: Office
) -> None:
    import asyncio

    code = await client.app[AUTH].create_invite_code(None, office.org.id, max_uses=1)
    results = await asyncio.gather(
        *[
            client.post(
                "/api/auth/join",
                json={
                    "code": code,
                    "email": f"racer{i}@acme.example",
                    "display_name": f"Racer {i}",
                    "password": "a-long-unusual-phrase",
                },
            )
            for i in range(4)
        ]
    )
    assert sorted(r.status for r in results) == [201, 403, 403, 403]


async def test_behind_a_trusted_proxy_each_client_address_is_limited_on_its_own(
    aiohttp_client: Any, tmp_path: Any, backend: Any, clock: FakeClock
) -> None:
    from server.app import create_app
    from tests.conftest import make_settings

    async def attempts(client: Any, forwarded_for: str, n: int) -> list[int]:
        statuses = []
        for i in range(n):
            r = await client.post(
                SIGN_IN,
                json={"email": f"nobody{i}@x.example", "password": "wrong-password"},
                headers={"X-Forwarded-For": forwarded_for},
            )
            statuses.append(r.status)
        return statuses

    behind = await aiohttp_client(
        create_app(make_settings(tmp_path / "a", backend, trusted_proxies="127.0.0.1"), clock)
    )
    assert (await attempts(behind, "203.0.113.7", 21))[-1] == 429
    assert set(await attempts(behind, "198.51.100.9, 203.0.113.7", 3)) == {429}
    assert set(await attempts(behind, "198.51.100.9", 3)) == {401}  # another client

    direct = await aiohttp_client(create_app(make_settings(tmp_path / "b", backend), clock))
    assert (await attempts(direct, "203.0.113.7", 21))[-1] == 429
    # Without a trusted proxy the header is ignored: it cannot be used to dodge the limit.
    assert set(await attempts(direct, "198.51.100.9", 3)) == {429}
