"""The composition root: the only module that wires every part together.

Each resource (database engine, Redis client, services, Socket.IO server, background jobs)
is opened and closed in one cleanup context, in dependency order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis

from media import encoded as media_encoded
from media.udp import UdpMux
from rooms.store import MemoryStateStore, StateStore
from server.analytics.publish import publish_due
from server.analytics.rollup import FoldedOnly, fold_pending, purge_raw_events
from server.chat.service import Chat, ChatConfig
from server.chat.writer import MessageWriter
from server.db.engine import create_analytics_engine, create_engine, session_factory
from server.db.migrate import upgrade
from server.guests.service import Guests
from server.http import routes
from server.http.keys import (
    ANALYTICS_DB,
    AUTH,
    AVATARS,
    CHAT,
    CLOCK,
    DB,
    ENGINE,
    GUESTS,
    LAYOUT_EDITOR,
    MEETINGS,
    MENTORING,
    METRICS,
    NOTIFICATIONS,
    OFFICE,
    PRIVACY,
    REDIS,
    RETENTION,
    SETTINGS,
)
from server.http.middleware import (
    errors_and_metrics,
    no_websocket_compression,
    security_headers,
    session_cookie_name,
    sessions_and_csrf,
)
from server.infra.broadcast import DeltaCoalescer
from server.infra.clock import Clock, SystemClock
from server.infra.metrics import Registry
from server.infra.ratelimit import FailureWindow, MemoryFailureWindow, RedisFailureWindow
from server.infra.redis_state import RedisStateStore
from server.infra.settings import Settings
from server.meetings.routing import LocalMeetings, RoutedMeetings
from server.meetings.service import Meetings
from server.mentoring.attendance import meeting_listener
from server.mentoring.service import Mentoring, MentoringConfig
from server.office import restart
from server.office.activity import Activity
from server.office.layout_editor import LayoutEditor
from server.office.service import Office, OfficeConfig
from server.people.auth import Authenticator
from server.people.avatars import Avatars
from server.people.notification_settings import NotificationSettings
from server.privacy.avatar_part import AvatarPart
from server.privacy.mentoring_part import MentoringPart
from server.privacy.parts import core_parts
from server.privacy.policy import deployment_defaults
from server.privacy.retention import Retention
from server.privacy.service import Privacy
from server.realtime import sio
from server.realtime.broadcaster import SocketBroadcaster
from server.realtime.office_namespace import OfficeNamespace

VERSION = "0.1.0"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
NODE_MODULES = STATIC_DIR.parent / "node_modules"
VENDOR_DIR = NODE_MODULES / "socket.io-client" / "dist"
CHART_DIR = NODE_MODULES / "uplot" / "dist"  # the dashboard's chart library (uPlot)
PRIVACY_NOTICE = STATIC_DIR.parent / "docs" / "privacy.md"
SESSION_PURGE_SECONDS = 3600
REDIS_MAX_CONNECTIONS = 200  # per process, for the office state and rate limits
MEDIA_QUALITY_SECONDS = 5.0  # connection quality of meeting members, into /metrics
SESSION_EXPIRY_SWEEP_SECONDS = 0.5  # a connection closes within this after its session expires
GUEST_SWEEP_SECONDS = 0.5  # a guest is shown out within this after their link ends
OFFICE_SWEEP_SECONDS = 0.25  # grace periods and knock time-outs end within this
MENTORING_REMINDER_SECONDS = 30  # session reminders go out within this of their time
MENTORING_ROOM_SWEEP_SECONDS = 30  # an ended pair's room goes within this of being empty
ANALYTICS_FOLD_SECONDS = 60  # dashboards lag the event stream by at most this (plus a batch)
# Retention looks every hour for organizations whose daily run (by the clock) is due.
RETENTION_TICK_SECONDS = 3600

log = logging.getLogger("officehours.app")

SOCKETIO = web.AppKey("socketio", object)
MEETING_ACCESS = web.AppKey("meeting_access", LocalMeetings)
JOBS = web.AppKey("jobs", list[asyncio.Task[None]])


def create_app(
    settings: Settings, clock: Clock | None = None, *, migrate: bool = True
) -> web.Application:
    app = web.Application(
        middlewares=[
            security_headers,
            errors_and_metrics,
            no_websocket_compression,
            sessions_and_csrf,
        ],
        client_max_size=settings.max_message_bytes,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = Registry()
    socket_server = sio.create_server(settings)
    app[SOCKETIO] = socket_server
    sio.attach(socket_server, app)
    routes.setup(app, VERSION)
    _add_static(app)

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings)
        if migrate:
            await upgrade(engine, audit_keys=settings.audit_chain_keys)
        app[ENGINE] = engine
        app[DB] = session_factory(engine, audit_keys=settings.audit_chain_keys)
        analytics_engine = create_analytics_engine(settings)
        app[ANALYTICS_DB] = (
            app[DB]
            if analytics_engine is None
            else session_factory(analytics_engine, audit_keys=settings.audit_chain_keys)
        )
        yield
        if analytics_engine is not None:
            await analytics_engine.dispose()
        await engine.dispose()

    async def redis(app: web.Application) -> AsyncIterator[None]:
        if settings.redis_url is None:
            yield
            return
        # A pool that waits for a free connection (up to 10 s) instead of failing at once:
        # thousands of tabs closing together (bench/load.py) otherwise turned into failed
        # disconnect handlers and people left shown online.
        pool = BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=REDIS_MAX_CONNECTIONS,
            timeout=10,
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=15,
        )
        client = Redis(connection_pool=pool)
        app[REDIS] = client
        yield
        await client.aclose(close_connection_pool=True)

    async def services(app: web.Application) -> AsyncIterator[None]:
        failures: FailureWindow = (
            RedisFailureWindow(app[REDIS], settings.redis_prefix, settings.login_window_seconds)
            if REDIS in app
            else MemoryFailureWindow(settings.login_window_seconds)
        )
        broadcaster = SocketBroadcaster(socket_server)
        auth = Authenticator(app[DB], settings, app[CLOCK], failures, app[METRICS], broadcaster)
        app[AUTH] = auth
        store: StateStore = (
            RedisStateStore(app[REDIS], settings.redis_prefix)
            if REDIS in app
            else MemoryStateStore()
        )
        coalescer = DeltaCoalescer(broadcaster, settings.coalesce_ms / 1000)
        office = Office(
            store,
            app[DB],
            app[CLOCK],
            broadcaster,
            coalescer,
            OfficeConfig(
                settings.presence_grace_seconds,
                settings.knock_timeout_seconds,
                settings.idle_after_seconds,
                settings.coalesce_ms,
                settings.process_timeout_seconds,
                restart_grace_seconds=settings.restart_grace_seconds,
            ),
        )
        app[OFFICE] = office
        # One process without Redis: bring back the live office of the process before this
        # one (people who were in rooms stay there while they reconnect).
        live_office = restart.path_in(settings.data_dir)
        if isinstance(store, MemoryStateStore) and restart.load(
            live_office, store, app[CLOCK].now().timestamp(), settings.restart_grace_seconds
        ):
            waiting = await office.resume_after_restart()
            log.info("restart.waiting_for", extra={"count": waiting})
        app[LAYOUT_EDITOR] = LayoutEditor(app[DB], office, app[CLOCK])
        app[AVATARS] = Avatars(app[DB], app[CLOCK], office)
        writer = MessageWriter(app[DB], app[CLOCK], group_commit=settings.chat_group_commit)
        chat = Chat(
            app[DB],
            app[CLOCK],
            office,
            broadcaster,
            writer,
            ChatConfig(burst=settings.chat_burst, per_second=settings.chat_per_second),
        )
        app[CHAT] = chat
        guest_failures: FailureWindow = (
            RedisFailureWindow(
                app[REDIS], f"{settings.redis_prefix}:guests", settings.login_window_seconds
            )
            if REDIS in app
            else MemoryFailureWindow(settings.login_window_seconds)
        )
        app[GUESTS] = Guests(
            app[DB], settings, app[CLOCK], auth, office, broadcaster, guest_failures
        )
        media_encoded.install()  # this process relays media: receive encoded frames
        udp: UdpMux | None = None
        if settings.media_udp_port:
            udp = UdpMux(
                settings.media_udp_port,
                settings.media_announced_addresses,
                settings.media_bind_address,
            )
            await udp.start()
        meetings = Meetings(
            office,
            app[DB],
            app[CLOCK],
            broadcaster,
            settings.ice_servers,
            app[METRICS],
            udp=udp,
            turn=settings.turn,
        )
        app[MEETINGS] = meetings
        meeting_access: LocalMeetings = (
            RoutedMeetings(meetings, office, broadcaster, app[REDIS], settings.redis_prefix)
            if REDIS in app
            else LocalMeetings(meetings)
        )
        if isinstance(meeting_access, RoutedMeetings):
            await meeting_access.start()
        app[MEETING_ACCESS] = meeting_access
        app[MENTORING] = Mentoring(
            app[DB],
            app[CLOCK],
            broadcaster,
            office,
            secret_key=settings.secret_key,
            base_url=settings.base_url,
            config=MentoringConfig(min_group_size=settings.analytics_min_group_size),
        )
        meetings.add_listener(meeting_listener(app[MENTORING].attendance, app[DB], app[CLOCK]))
        defaults = deployment_defaults(
            settings.chat_retention_days,
            settings.inactive_account_days,
            settings.analytics_raw_retention_days,
        )
        parts = (*core_parts(settings.secret_key), MentoringPart(), AvatarPart())
        privacy = Privacy(
            app[DB],
            app[CLOCK],
            office,
            broadcaster,
            parts,
            defaults=defaults,
            secret_key=settings.secret_key,
            reset_valid_for=timedelta(hours=settings.reset_credential_hours),
        )
        app[PRIVACY] = privacy
        app[NOTIFICATIONS] = NotificationSettings(app[DB], app[CLOCK])
        app[RETENTION] = Retention(
            app[DB],
            app[CLOCK],
            chat.purge_older_than,
            privacy.erase_inactive,
            defaults=defaults,
            gate=FoldedOnly(),  # raw analytics events go only once they are in the rollups
        )
        namespace = OfficeNamespace(
            auth,
            Activity(app[DB], app[CLOCK]),
            office,
            chat,
            app[GUESTS],
            meeting_access,
            app[METRICS],
            app[CLOCK],
            session_cookie_name(settings.secure_cookies),
            event_burst=settings.event_burst,
            event_per_second=settings.event_per_second,
        )
        sio.register(socket_server, namespace)
        coalescer.start()
        expiry = asyncio.create_task(
            _every(SESSION_EXPIRY_SWEEP_SECONDS, namespace.end_expired, None)
        )
        yield
        expiry.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await expiry
        # Last deltas out while the Socket.IO manager (and its Redis link) still runs.
        await coalescer.stop()
        await _bounded(namespace.drain(), "shutdown.drain", 2.0)
        log.info("server.drained")
        if isinstance(meeting_access, RoutedMeetings):
            await _bounded(meeting_access.stop(), "shutdown.meeting_routing")
        await _bounded(meetings.close(), "shutdown.meetings", 1.0)
        if udp is not None:
            udp.close()
        await writer.stop()
        await _bounded(sio.shutdown(socket_server), "shutdown.socketio", 1.0)
        if isinstance(store, MemoryStateStore) and settings.restart_grace_seconds > 0:
            try:
                restart.save(live_office, store, app[CLOCK].now().timestamp())
            except OSError:  # a restart then starts everyone in the hallway, as before
                log.exception("shutdown.live_office_not_saved")
        await store.close()
        log.info("server.services_closed")

    async def fold_analytics() -> int:
        """Fold new events into the rollups, publish the periods that have closed (the only
        figures dashboards show), then drop raw events past their retention."""
        folded = await fold_pending(app[DB], secret=settings.secret_key)
        await publish_due(app[DB], app[CLOCK].now(), settings.analytics_min_group_size)
        async with app[DB]() as session:
            await purge_raw_events(
                session, app[CLOCK].now(), retention_days=settings.analytics_raw_retention_days
            )
            await session.commit()
        return folded

    async def jobs(app: web.Application) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(
                _every(SESSION_PURGE_SECONDS, app[AUTH].purge_expired, "sessions.purged")
            ),
            asyncio.create_task(_every(OFFICE_SWEEP_SECONDS, app[OFFICE].sweep, None)),
            asyncio.create_task(_every(GUEST_SWEEP_SECONDS, app[GUESTS].end_dead_sessions, None)),
            asyncio.create_task(_every(MEDIA_QUALITY_SECONDS, app[MEETINGS].sample_quality, None)),
            asyncio.create_task(
                _every(MENTORING_REMINDER_SECONDS, app[MENTORING].sessions.send_reminders, None)
            ),
            asyncio.create_task(
                _every(MENTORING_ROOM_SWEEP_SECONDS, app[MENTORING].rooms.archive_ended_rooms, None)
            ),
            asyncio.create_task(_every(ANALYTICS_FOLD_SECONDS, fold_analytics, "analytics.folded")),
            asyncio.create_task(
                _every(
                    RETENTION_TICK_SECONDS,
                    app[RETENTION].run_due,
                    "retention.organizations_ran",
                    wait_first=True,
                )
            ),
        ]
        app[JOBS] = tasks
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close_connections(app: web.Application) -> None:
        """SIGTERM (the listening sockets are already closed): the connections closed now are
        a restart, so browsers are told and their people keep their places for the restart
        grace period; then every connection is closed (browsers reconnect by themselves, to
        this server's successor or to another process)."""
        log.info("server.stopping", extra={"connections": sio.connection_count(socket_server)})
        if OFFICE in app:
            app[OFFICE].stopping()
        await sio.announce(
            socket_server,
            "server:restarting",
            {"grace_seconds": settings.restart_grace_seconds},
        )
        if MEETING_ACCESS in app:
            await _bounded(app[MEETING_ACCESS].hand_over(), "shutdown.hand_over", 1.0)
        if MEETINGS in app:
            await _bounded(app[MEETINGS].hang_up(), "shutdown.media", 1.0)
        await sio.disconnect_all(socket_server)
        log.info("server.connections_closed")

    app.on_shutdown.append(close_connections)
    app.cleanup_ctx.extend([database, redis, services, jobs])
    return app


async def _bounded(step: Awaitable[None], event: str, seconds: float = 5.0) -> None:
    """A shutdown step that may not hold the process (or a test) hostage."""
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        log.warning(event, extra={"outcome": "timed_out"})


async def _every(seconds: float, job: Any, event: str | None, *, wait_first: bool = False) -> None:
    """Run ``job`` now (or after ``seconds`` if ``wait_first``) and then every ``seconds``;
    a failure is logged, never fatal."""
    if wait_first:
        await asyncio.sleep(seconds)
    while True:
        try:
            done = await job()
            if event is not None:
                log.info(event, extra={"count": done})
        except Exception:
            if not _cancelled():
                log.exception("job.failed", extra={"job": event})
        if _cancelled():
            # Shutdown cancelled us inside the job, and something there swallowed it (on
            # Python 3.11, asyncio.wait_for -- which redis-py uses -- can return a result
            # instead of raising): stop anyway, or shutdown would wait for this task forever.
            raise asyncio.CancelledError
        await asyncio.sleep(seconds)


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _add_static(app: web.Application) -> None:
    def page(name: str) -> Any:
        async def serve(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(STATIC_DIR / name)

        return serve

    app.router.add_get("/", page("index.html"), name="index")
    app.router.add_get("/office", page("office.html"), name="office")
    app.router.add_get("/mentoring", page("mentoring.html"), name="mentoring_page")
    app.router.add_get("/admin", page("admin.html"), name="admin_dashboard")
    app.router.add_get("/me", page("me.html"), name="about_me")
    app.router.add_get("/join/{token}", page("join.html"), name="guest_page")

    async def privacy_notice(_request: web.Request) -> web.FileResponse:
        # docs/privacy.md, for the people who use the office: readable as plain text.
        return web.FileResponse(
            PRIVACY_NOTICE, headers={"Content-Type": "text/plain; charset=utf-8"}
        )

    app.router.add_get("/privacy", privacy_notice, name="privacy_notice")
    # The Socket.IO browser client and the chart library, from npm (package-lock.json): no
    # CDN at run time. The longer prefix first, so /vendor/ does not swallow it.
    if CHART_DIR.is_dir():
        app.router.add_static("/vendor/uplot/", CHART_DIR, name="vendor_chart")
    if VENDOR_DIR.is_dir():
        app.router.add_static("/vendor/", VENDOR_DIR, name="vendor")
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
