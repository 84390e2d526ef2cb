"""Fixtures that build the real application on real backends.

Every test that takes ``backend`` runs twice: on SQLite with in-memory state, and on
PostgreSQL with Redis (from ``OFFICEHOURS_TEST_POSTGRES`` / ``OFFICEHOURS_TEST_REDIS``).
Outside CI a missing service skips that variant; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
import socketio
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.app import create_app
from server.db.engine import create_engine
from server.db.migrate import upgrade
from server.db.models import Organization, User
from server.http.keys import AUTH, DB
from server.infra.clock import FakeClock
from server.infra.settings import Settings
from server.people import accounts
from server.people.identity import Role
from server.people.passwords import hash_password
from server.realtime import outbound

if TYPE_CHECKING:
    from tests.http_contract import ResponseContract

pytest_plugins = ["tests.people", "tests.media_peers", "tests.browsers", "tests.http_contract"]

IN_CI = os.environ.get("CI", "").lower() == "true"
ORIGIN = "http://officehours.test"
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True, scope="session")
def strict_outbound_events() -> Iterator[None]:
    """Every event the server emits in any test is checked against its model
    (server/realtime/outbound.py); production leaves the check off."""
    outbound.set_strict(True)
    yield
    outbound.set_strict(False)


@pytest.fixture(autouse=True)
def no_outbound_mismatch(strict_outbound_events: None) -> Iterator[None]:
    """Fail the test if the server emitted an event that does not match its model, even where
    the emit's exception was swallowed (a background task logs and carries on). Torn down after
    the test's app has shut down, so the events of the shutdown are checked too."""
    outbound.take_mismatches()
    yield
    mismatches = outbound.take_mismatches()
    if mismatches:
        pytest.fail("emitted events do not match their models:\n" + "\n".join(mismatches))


def service_url(variable: str, what: str) -> str:
    url = os.environ.get(variable, "").strip()
    if not url:
        message = f"{what} is needed: set {variable}"
        if IN_CI:
            pytest.fail(f"{message} (CI must provide it; tests may not skip it)")
        pytest.skip(message)
    return url


def postgres_admin_dsn() -> str:
    url = service_url("OFFICEHOURS_TEST_POSTGRES", "PostgreSQL")
    return url.replace("postgresql+asyncpg://", "postgresql://")


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str | None
    redis_url: str | None


# For a test of what exists only with PostgreSQL and Redis (a trigger, several processes).
postgres_and_redis_only = pytest.mark.parametrize("backend", ["postgres+redis"], indirect=True)
# For a test of what exists only on SQLite (its pragmas, its one-file backups).
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


# For a test that migrates, or must see a database before any migration ran.
empty_database = pytest.mark.empty_database


@pytest.fixture(params=["sqlite", "postgres+redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A database of its own for the test, already migrated (copied from a template migrated
    once per process) unless the test is marked ``empty_database``."""
    empty = request.node.get_closest_marker("empty_database") is not None
    if request.param == "sqlite":
        database = tmp_path / "test.db"
        if not empty:
            await migrated_templates.copy_sqlite(database)
        yield Backend("sqlite", f"sqlite+aiosqlite:///{database}", None)
        return
    redis_url = service_url("OFFICEHOURS_TEST_REDIS", "Redis")
    template = None if empty else await migrated_templates.postgres()
    async with fresh_postgres_database(template) as database_url:
        yield Backend("postgres", database_url, redis_url)


class MigratedTemplates:
    """Databases migrated to head once per test process, so each test copies a schema
    instead of running every migration again (a third of a second a test, on both backends).
    """

    def __init__(self) -> None:
        self.sqlite_file: Path | None = None
        self.postgres_database: fresh_postgres_database | None = None

    async def copy_sqlite(self, target: Path) -> None:
        if self.sqlite_file is None:
            folder = Path(tempfile.mkdtemp(prefix="oh-template-"))
            path = folder / "template.db"
            await self._migrate(f"sqlite+aiosqlite:///{path}")
            self.sqlite_file = path
        shutil.copyfile(self.sqlite_file, target)

    async def postgres(self) -> str:
        if self.postgres_database is None:
            database = fresh_postgres_database()
            await self._migrate(await database.__aenter__())
            self.postgres_database = database
        return self.postgres_database.name

    @staticmethod
    async def _migrate(database_url: str) -> None:
        where = Backend("template", database_url, None)
        engine = create_engine(make_settings(Path(tempfile.gettempdir()), where))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()  # a template must have no connection when it is copied

    def remove(self) -> None:
        if self.sqlite_file is not None:
            shutil.rmtree(self.sqlite_file.parent, ignore_errors=True)
        if self.postgres_database is not None:
            asyncio.run(self.postgres_database.__aexit__(None, None, None))


migrated_templates = MigratedTemplates()


@pytest.fixture(autouse=True, scope="session")
def remove_migrated_templates() -> Iterator[None]:
    yield
    migrated_templates.remove()


class fresh_postgres_database:
    """A new database for one test, dropped afterwards: empty, or a copy of ``template``."""

    def __init__(self, template: str | None = None) -> None:
        self.admin = postgres_admin_dsn()
        self.name = f"oh_test_{uuid.uuid4().hex[:12]}"
        self.template = template

    async def __aenter__(self) -> str:
        conn = await asyncpg.connect(self.admin)
        try:
            copy = f' TEMPLATE "{self.template}"' if self.template else ""
            await conn.execute(f'CREATE DATABASE "{self.name}"{copy}')
        finally:
            await conn.close()
        base = self.admin.rsplit("/", 1)[0]
        return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{self.name}"

    async def __aexit__(self, *exc: object) -> None:
        conn = await asyncpg.connect(self.admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()


def make_settings(tmp_path: Path, backend: Backend, **overrides: str) -> Settings:
    env = {
        "OFFICEHOURS_DATA_DIR": str(tmp_path / "var"),
        "OFFICEHOURS_BASE_URL": ORIGIN,
        "OFFICEHOURS_SECRET_KEY": "t" * 40,
        "OFFICEHOURS_REDIS_PREFIX": f"oh-test-{uuid.uuid4().hex[:8]}",
    }
    if backend.database_url:
        env["OFFICEHOURS_DATABASE_URL"] = backend.database_url
    if backend.redis_url:
        env["OFFICEHOURS_REDIS_URL"] = backend.redis_url
    env.update({f"OFFICEHOURS_{k.upper()}": v for k, v in overrides.items()})
    return Settings.from_env(env)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    return make_settings(tmp_path, backend)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    settings: Settings,
    clock: FakeClock,
    response_contract: ResponseContract,
) -> TestClient[Any, Any]:
    app = create_app(settings, clock)
    app.middlewares.append(response_contract.middleware)
    return await aiohttp_client(app)


@dataclass
class Office:
    """A small organization: two groups in one unit, an admin, members, a second org."""

    org: Organization
    admin: User
    alice: User
    bob: User
    outsider: User
    group_ids: tuple[int, int]


@pytest.fixture
async def office(client: TestClient[Any, Any], clock: FakeClock) -> Office:
    db = client.app[DB]
    password_hash = await hash_password(PASSWORD)
    async with db() as session:
        org = await accounts.create_organization(session, "Acme", "acme", now=clock.now())
        unit = await accounts.add_unit(session, org.id, "Engineering")
        g1 = await accounts.add_group(session, unit, "Platform")
        g2 = await accounts.add_group(session, unit, "Design")

        async def person(org_id: int, email: str, name: str) -> User:
            return await accounts.create_user(
                session,
                org_id,
                email=email,
                display_name=name,
                password_hash=password_hash,
                now=clock.now(),
            )

        admin = await person(org.id, "admin@acme.example", "Ada Admin")
        await accounts.grant(session, admin, Role.ORG_ADMIN)
        alice = await person(org.id, "alice@acme.example", "Alice")
        await accounts.grant(session, alice, Role.MEMBER, group_id=g1.id)
        bob = await person(org.id, "bob@acme.example", "Bob")
        await accounts.grant(session, bob, Role.MEMBER, group_id=g2.id)
        other = await accounts.create_organization(session, "Other", "other", now=clock.now())
        outsider = await person(other.id, "eve@other.example", "Eve")
        await accounts.grant(session, outsider, Role.MEMBER)
        await session.commit()
    return Office(org, admin, alice, bob, outsider, (g1.id, g2.id))


async def sign_in(client: TestClient[Any, Any], email: str, password: str = PASSWORD) -> str:
    """Sign in through the API; returns the CSRF token (the cookie stays in the client)."""
    response = await client.post(
        "/api/auth/sign-in", json={"email": email, "password": password}, headers={"Origin": ORIGIN}
    )
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


def session_cookie(client: TestClient[Any, Any]) -> str:
    for cookie in client.session.cookie_jar:
        if cookie.key == "officehours_session":
            return f"officehours_session={cookie.value}"
    raise AssertionError("no session cookie")


class RealtimeClient:
    """A real python-socketio client over a real socket, remembering refusals."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.connect_error: Any = None

        @self.sio.event
        async def connect_error(data: Any) -> None:
            self.connect_error = data

    async def connect(
        self,
        client: TestClient[Any, Any],
        *,
        cookie: str | None,
        origin: str | None = ORIGIN,
        transport: str = "websocket",
    ) -> None:
        headers = {}
        if cookie:
            headers["Cookie"] = cookie
        if origin:
            headers["Origin"] = origin
        url = str(client.make_url("/")).rstrip("/")
        await self.sio.connect(url, headers=headers, transports=[transport], wait_timeout=5)

    async def call(self, event: str, *payload: Any) -> Any:
        return (
            await self.sio.call(event, *payload, timeout=5)
            if payload
            else await self.sio.call(event, timeout=5)
        )

    async def close(self) -> None:
        # Bounded: a test's failure must not turn into a hang in teardown.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.sio.disconnect()


@pytest.fixture
async def realtime() -> AsyncIterator[Callable[[], RealtimeClient]]:
    made: list[RealtimeClient] = []

    def factory() -> RealtimeClient:
        made.append(RealtimeClient())
        return made[-1]

    yield factory
    for rt in made:
        await rt.close()


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(service_url("OFFICEHOURS_TEST_REDIS", "Redis"))
    yield client
    await client.aclose()


__all__ = ["AUTH", "ORIGIN", "PASSWORD", "RealtimeClient", "sign_in"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (pytest-xdist, ``--dist loadgroup``) the Chromium tests share one
    worker: two browsers encoding video at once on two cores starve each other's frame rates,
    which the media tests measure."""
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.xdist_group("browsers"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """A test marked ``alone`` measures frame rates and audio gaps that a second busy core
    would distort: under pytest-xdist it waits for the other workers' current tests to end and
    holds them back until it is done (a readers-writer lock over two files; the turnstile keeps
    it from waiting forever behind a stream of short tests)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:
        yield
        return
    folder = Path(tempfile.gettempdir())
    alone = item.get_closest_marker("alone") is not None
    with (
        open(folder / f"officehours-tests-{run}.turnstile", "a") as turnstile,
        open(folder / f"officehours-tests-{run}.lock", "a") as lock,
    ):
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
