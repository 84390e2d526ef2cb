"""The ``officehours`` command: serve, migrate, demo, create-admin."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import demo
from server.app import create_app
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.db.models import Organization
from server.infra.clock import SystemClock
from server.infra.errors import AppError
from server.infra.log import configure
from server.infra.settings import Settings, SettingsError
from server.people import accounts
from server.people.identity import Role
from server.people.passwords import check_policy, hash_password

log = logging.getLogger("officehours")
T = TypeVar("T")
# At SIGTERM, how long requests still in progress may take before they are cancelled (a
# Socket.IO long-poll or WebSocket would otherwise hold the process for up to aiohttp's 60 s).
SHUTDOWN_REQUESTS_SECONDS = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="officehours", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="apply migrations and serve")
    commands.add_parser("migrate", help="apply database migrations and exit")
    commands.add_parser("demo", help="seed a demo office, print how to get in, and serve")
    admin = commands.add_parser("create-admin", help="create an organization admin")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", required=True, help="display name")
    admin.add_argument("--org", required=True, help="organization slug (created if missing)")
    admin.add_argument("--org-name", help="organization name, when creating it")
    admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"officehours: invalid setting {exc}", file=sys.stderr)
        return 2
    configure(settings.log_format, settings.log_level)

    try:
        if args.command == "migrate":
            _run(_migrate(settings))
            print("officehours: database is up to date")
        elif args.command == "create-admin":
            password = (
                sys.stdin.readline().rstrip("\n")
                if args.password_stdin
                else getpass.getpass("Password: ")
            )
            _run(
                _create_admin(
                    settings, args.email, args.name, args.org, args.org_name or args.org, password
                )
            )
            print(f"officehours: {args.email} is an admin of {args.org}")
        elif args.command == "demo":
            office = _run(_seed_demo(settings))
            _print_demo(settings, office)
            _serve(settings)
        else:
            _serve(settings)
    except AppError as error:
        print(f"officehours: {error.message}", file=sys.stderr)
        return 1
    return 0


def _run(work: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await work

    return asyncio.run(wrapper())


async def _with_db(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    engine = create_engine(settings)
    try:
        await upgrade(engine, audit_keys=settings.audit_chain_keys)
        return await work(session_factory(engine, audit_keys=settings.audit_chain_keys))
    finally:
        await engine.dispose()


async def _migrate(settings: Settings) -> None:
    async def nothing(_db: object) -> None:
        return None

    await _with_db(settings, nothing)


async def _seed_demo(settings: Settings) -> demo.DemoOffice:
    return await _with_db(settings, lambda db: demo.seed(db, settings, SystemClock()))


async def _create_admin(
    settings: Settings, email: str, name: str, slug: str, org_name: str, password: str
) -> None:
    check_policy(password, email=email)

    async def create(db: async_sessionmaker[AsyncSession]) -> None:
        now = SystemClock().now()
        async with db() as session:
            org = await session.scalar(select(Organization).where(Organization.slug == slug))
            if org is None:
                org = await accounts.create_organization(session, org_name, slug, now=now)
            user = await accounts.create_user(
                session,
                org.id,
                email=email,
                display_name=name,
                password_hash=await hash_password(password),
                now=now,
            )
            await accounts.grant(session, user, Role.ORG_ADMIN)
            await accounts.grant(session, user, Role.MEMBER)
            await session.commit()

    await _with_db(settings, create)


def _print_demo(settings: Settings, office: demo.DemoOffice) -> None:
    base = settings.base_url
    lines = [
        "",
        f"  Officehours demo office is at   {base}/",
        f"  Sign in as                      {office.logins[0][0]}  ({office.logins[0][1]})",
        f"  Password (every demo person)    {office.password}",
        "  Other people:",
        *[f"    {email:<36} {role}" for email, role in office.logins[1:]],
        f"    and {office.people - len(office.logins)} more, each first-name@demo.officehours"
        f".example ({office.people} people in {office.teams} teams)",
        f"  Dashboards (eight weeks of activity)  {base}/admin",
        f"  Guest link ({office.guest_room}, 7 days)  {base}/join/{office.guest_token}",
        "",
    ]
    print("\n".join(lines), flush=True)


async def _settle_garbage_collector(_app: web.Application) -> None:
    """Move everything built at start-up out of the cyclic collector's view and collect less
    often: full collections over long-lived objects stall the loop and show up as tail
    latency (the presence benchmark in docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _serve(settings: Settings) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - platforms without uvloop
        pass
    app = create_app(settings)
    app.on_startup.append(_settle_garbage_collector)
    log.info("server.starting", extra={"url": settings.base_url})
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        handle_signals=True,
        shutdown_timeout=SHUTDOWN_REQUESTS_SECONDS,
    )


if __name__ == "__main__":
    sys.exit(main())
