"""The closed list of things analytics counts. A new metric is a new enum member."""

from __future__ import annotations

from enum import StrEnum


class Metric(StrEnum):
    SIGNED_IN = "signed_in"
    ACCOUNT_CREATED = "account_created"
    REALTIME_CONNECTED = "realtime_connected"
    REALTIME_SECONDS = "realtime_seconds"
    ROOM_ENTERED = "room_entered"
    ROOM_SECONDS = "room_seconds"  # seconds in a room, with its kind
    # Overlap with one other person in a room, with that person's group (never their id).
    ROOM_TOGETHER_SECONDS = "room_together_seconds"
    STATUS_CHANGED = "status_changed"
    MESSAGE_SENT = "message_sent"
    GUEST_JOINED = "guest_joined"  # counted, never identified
    # Meetings (media): one MEETING_HELD per meeting when it ends, subject = whoever started it,
    # seconds = the meeting's length; one MEETING_SECONDS per participant when they leave it,
    # seconds = the time they were in it. See docs/analytics.md.
    MEETING_HELD = "meeting_held"
    MEETING_SECONDS = "meeting_seconds"


class Channel(StrEnum):
    """Where a message was sent, as a kind (never which conversation)."""

    ROOM = "room"
    DIRECT = "direct"
    GROUP = "group"
    PAIR = "pair"
