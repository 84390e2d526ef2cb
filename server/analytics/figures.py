"""The names of published figures: dashboards, granularities, scope levels and columns.

Stored in ``analytics_published`` as enum values (analytics tables hold no free text), so every
column a dashboard can have is listed here; a test checks that the list covers every channel,
room kind and mentoring metric.
"""

from __future__ import annotations

from enum import StrEnum


class Dashboard(StrEnum):
    ACTIVE = "active"  # distinct active people, by group
    MESSAGES = "messages"  # messages sent, by channel
    MEETINGS = "meetings"  # meetings held, their minutes and median length
    ROOMS = "rooms"  # minutes in rooms, by room kind
    MENTORING = "mentoring"  # mentoring metrics (mentoring_*), when there are any
    TIES_MINUTES = "ties_minutes"  # minutes with people of other groups, by group
    TIES_NEW_PAIRS = "ties_new_pairs"  # cross-group pairs that met for the first time
    PEOPLE = "people"  # per-person activity (policy), not a table of figures


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"


class ScopeLevel(StrEnum):
    ORG = "org"
    UNIT = "unit"
    GROUP = "group"


class Column(StrEnum):
    """A figure's column. ``VALUE`` is a group's own figure in the dashboards whose columns
    are groups (active people, weak ties); ``TOTAL`` a row total."""

    VALUE = "value"
    TOTAL = "total"
    # channels (server.analytics.metrics.Channel)
    ROOM = "room"
    DIRECT = "direct"
    GROUP = "group"
    PAIR = "pair"
    # room kinds (rooms.layout.RoomKind)
    TEAM_ROOM = "team_room"
    PRIVATE_OFFICE = "private_office"
    MEETING_ROOM = "meeting_room"
    MENTORING_ROOM = "mentoring_room"
    LOBBY = "lobby"
    TOWN_HALL = "town_hall"
    # meetings
    HELD = "held"
    MINUTES = "minutes"
    MEDIAN_MINUTES = "median_minutes"
    # mentoring metrics (server.analytics.metrics.Metric, named mentoring_*)
    MENTORING_MATCHED = "mentoring_matched"
    MENTORING_SESSION = "mentoring_session"
