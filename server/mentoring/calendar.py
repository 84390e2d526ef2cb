"""iCalendar (RFC 5545) text for mentoring sessions, written by hand: CRLF line ends, lines
folded at 75 octets (never inside a UTF-8 character), TEXT values escaped, times in UTC.

Pure: events in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

PRODID = "-//Officehours//Mentoring//EN"
FOLD_AT = 75  # octets per line, CRLF excluded


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str = ""
    location: str = ""
    url: str = ""
    sequence: int = 0
    cancelled: bool = False

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("calendar times are timezone-aware")
        if self.ends_at <= self.starts_at:
            raise ValueError("an event ends after it starts")


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def escape_text(value: str) -> str:
    """RFC 5545 3.3.11: backslash, semicolon, comma and newlines are escaped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """Split a content line into pieces of at most 75 octets; continuation lines begin with
    one space (which counts toward their 75)."""
    pieces: list[str] = []
    current = ""
    size = 0
    limit = FOLD_AT
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            pieces.append(current)
            current, size, limit = "", 0, FOLD_AT - 1
        current += char
        size += width
    pieces.append(current)
    return "\r\n ".join(pieces)


def calendar(events: Iterable[CalendarEvent], *, now: datetime, name: str = "") -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    if name:
        lines.append(f"X-WR-CALNAME:{escape_text(name)}")
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{escape_text(event.uid)}",
            f"DTSTAMP:{utc_stamp(now)}",
            f"DTSTART:{utc_stamp(event.starts_at)}",
            f"DTEND:{utc_stamp(event.ends_at)}",
            f"SEQUENCE:{event.sequence}",
            f"SUMMARY:{escape_text(event.summary)}",
            f"STATUS:{'CANCELLED' if event.cancelled else 'CONFIRMED'}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.location:
            lines.append(f"LOCATION:{escape_text(event.location)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
