"""Typed keys for everything the HTTP adapter keeps on the application and the request."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.auth import Authenticator, SessionInfo
from server.chat import Chat
from server.clock import Clock
from server.guests import Guests
from server.layout_editor import LayoutEditor
from server.meetings import Meetings
from server.mentoring.service import Mentoring
from server.metrics import Registry
from server.office import Office
from server.privacy.retention import Retention
from server.privacy.service import Privacy
from server.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
METRICS = web.AppKey("metrics", Registry)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
# The dashboards' sessions: a SELECT-only role on PostgreSQL when configured, else DB.
ANALYTICS_DB = web.AppKey("analytics_db", async_sessionmaker[AsyncSession])
REDIS = web.AppKey("redis", Redis)
AUTH = web.AppKey("auth", Authenticator)
OFFICE = web.AppKey("office", Office)
CHAT = web.AppKey("chat", Chat)
GUESTS = web.AppKey("guests", Guests)
LAYOUT_EDITOR = web.AppKey("layout_editor", LayoutEditor)
MEETINGS = web.AppKey("meetings", Meetings)
MENTORING = web.AppKey("mentoring", Mentoring)
PRIVACY = web.AppKey("privacy", Privacy)
RETENTION = web.AppKey("retention", Retention)

SESSION = web.RequestKey("session", SessionInfo)
