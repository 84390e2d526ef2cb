"""Several signed-in people at once over real HTTP: each ``Browser`` has its own cookie jar
(the ``client`` fixture's jar holds one person at a time)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import ORIGIN, PASSWORD, RealtimeClient


@dataclass(frozen=True)
class Upload:
    """A raw request body (a picture) with its Content-Type, instead of JSON."""

    data: bytes
    content_type: str


class Browser:
    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.base = str(client.make_url("/")).rstrip("/")
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def sign_in(self, email: str, password: str = PASSWORD) -> Browser:
        response = await self.request(
            "POST", "/api/auth/sign-in", json={"email": email, "password": password}
        )
        assert response.status == 200, await response.text()
        self.csrf = str((await response.json())["csrf_token"])
        return self

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        csrf: bool = True,
        upload: Upload | None = None,
        headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        headers = {"Origin": ORIGIN, **(headers or {})}
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        if upload is not None:
            headers["Content-Type"] = upload.content_type
        response = await self.http.request(
            method,
            self.base + path,
            json=json,
            data=upload.data if upload is not None else None,
            headers=headers,
        )
        await response.read()
        return response

    def cookie(self) -> str | None:
        for cookie in self.http.cookie_jar:
            if cookie.key == "officehours_session":
                return f"officehours_session={cookie.value}"
        return None

    async def connect(self, rt: RealtimeClient) -> RealtimeClient:
        await rt.connect(self.client, cookie=self.cookie())
        return rt

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def browser(
    client: TestClient[Any, Any],
) -> AsyncIterator[Callable[[], Browser]]:
    made: list[Browser] = []

    def factory() -> Browser:
        made.append(Browser(client))
        return made[-1]

    yield factory
    for b in made:
        await b.close()
