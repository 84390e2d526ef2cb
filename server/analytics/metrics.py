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
    # Mentoring (subject: the mentee; peer_group_id: the mentor's group)
    MENTORING_MATCHED = "mentoring_matched"
    # One event per stretch both of a pair were in the session's call: seconds together;
    # count 1 for a session's first stretch, else 0 (sum of count = sessions held).
    MENTORING_SESSION = "mentoring_session"
    GOAL_COMPLETED = "goal_completed"
    FEEDBACK_GIVEN = "feedback_given"  # subject: the author; the rating stays in mentoring


class Channel(StrEnum):
    """Where a message was sent, as a kind (never which conversation)."""

    ROOM = "room"
    DIRECT = "direct"
    GROUP = "group"
    PAIR = "pair"
