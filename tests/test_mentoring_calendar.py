"""The hand-written iCalendar text follows RFC 5545 and parses back with a library."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from server.mentoring.calendar import CalendarEvent, calendar, escape_text, fold

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_a_calendar_parses_back_with_its_escapes_folds_and_utc_times() -> None:
    long_name = "Ünïcödé, mentor; with a \\ backslash and a very long name " * 3
    event = CalendarEvent(
        uid="abc-123@officehours",
        starts_at=datetime(2026, 1, 6, 10, 30, tzinfo=UTC),
        ends_at=datetime(2026, 1, 6, 11, 30, tzinfo=UTC),
        summary=f"Mentoring with {long_name}",
        description="Line one\nLine two, with a comma",
        location="Mentoring pair 4",
        url="http://officehours.test/office",
    )
    text = calendar([event], now=NOW, name="Mentoring")
    raw = text.encode()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    assert any(line.startswith(b" ") for line in raw.split(b"\r\n"))  # it was folded

    parsed = icalendar.Calendar.from_ical(text)
    (vevent,) = parsed.walk("VEVENT")
    assert str(vevent["UID"]) == "abc-123@officehours"
    assert str(vevent["SUMMARY"]) == f"Mentoring with {long_name}"
    assert str(vevent["DESCRIPTION"]) == "Line one\nLine two, with a comma"
    assert vevent.decoded("DTSTART") == datetime(2026, 1, 6, 10, 30, tzinfo=UTC)
    assert vevent.decoded("DTEND") - vevent.decoded("DTSTART") == timedelta(hours=1)
    assert vevent.decoded("DTSTAMP") == NOW
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert str(parsed["PRODID"]).startswith("-//Officehours")


def test_folding_never_splits_a_multibyte_character() -> None:
    line = "SUMMARY:" + "é" * 100
    folded = fold(line).encode()
    for piece in folded.split(b"\r\n"):
        assert len(piece) <= 75
        piece.decode()  # each physical line is valid UTF-8 on its own
    assert fold(line).replace("\r\n ", "") == line


def test_escaping_and_event_rules() -> None:
    assert escape_text("a,b;c\\d\r\ne") == "a\\,b\\;c\\\\d\\ne"
    with pytest.raises(ValueError, match="ends after"):
        CalendarEvent("u", NOW, NOW, "x")
    with pytest.raises(ValueError, match="timezone"):
        CalendarEvent("u", datetime(2026, 1, 1), datetime(2026, 1, 2), "x")
