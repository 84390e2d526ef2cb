"""Typed keys for everything the HTTP adapter keeps on the application and the request."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.chat.service import Chat
from server.guests.service import Guests
from server.infra.clock import Clock
from server.infra.metrics import Registry
from server.infra.settings import Settings
from server.meetings.service import Meetings
from server.mentoring.service import Mentoring
from server.office.layout_editor import LayoutEditor
from server.office.service import Office
from server.people.auth import Authenticator, SessionInfo
from server.people.avatars import Avatars
from server.people.notification_settings import NotificationSettings
from server.privacy.retention import Retention
from server.privacy.service import Privacy

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
METRICS = web.AppKey("metrics", Registry)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
# The dashboards' sessions: a SELECT-only role on PostgreSQL when configured, else DB.
ANALYTICS_DB = web.AppKey("analytics_db", async_sessionmaker[AsyncSession])
REDIS = web.AppKey("redis", Redis)
AUTH = web.AppKey("auth", Authenticator)
AVATARS = web.AppKey("avatars", Avatars)
OFFICE = web.AppKey("office", Office)
CHAT = web.AppKey("chat", Chat)
GUESTS = web.AppKey("guests", Guests)
LAYOUT_EDITOR = web.AppKey("layout_editor", LayoutEditor)
MEETINGS = web.AppKey("meetings", Meetings)
MENTORING = web.AppKey("mentoring", Mentoring)
PRIVACY = web.AppKey("privacy", Privacy)
NOTIFICATIONS = web.AppKey("notifications", NotificationSettings)
RETENTION = web.AppKey("retention", Retention)

SESSION = web.RequestKey("session", SessionInfo)
