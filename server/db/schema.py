"""Every table of the service in one ``MetaData``, for migrations and schema tests."""

from __future__ import annotations

import server.analytics.tables
import server.audit.tables
import server.content.mentoring_notes
import server.content.messages
import server.db.models
import server.mentoring.tables
import server.people.notification_settings
import server.privacy.tables  # noqa: F401  (registers the tables)
from server.db.base import Base

metadata = Base.metadata
__all__ = ["metadata"]
