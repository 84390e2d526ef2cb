"""Checks on what people type into mentoring: profile tags, time zones, bounded texts.

Each failure is an ``invalid`` error that names the field, so the services stay free of
string handling and every form reports its mistakes the same way.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence

from server.infra.errors import invalid

TAG = re.compile(r"[\w][\w .+#/&-]{0,39}")
MAX_TAGS = 20


def tags(values: Sequence[str], what: str) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        tag = " ".join(value.split()).lower()
        if not TAG.fullmatch(tag):
            raise invalid(f"{what}: {value[:40]!r} is not a short tag (1-40 letters, digits)")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise invalid(f"{what}: at most {MAX_TAGS}")
    return cleaned


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise invalid("timezone: not a known time zone (e.g. Europe/Berlin)") from None
    return name


def text(value: str, limit: int, what: str, *, empty_ok: bool = False) -> str:
    value = value.strip()
    if not value and not empty_ok:
        raise invalid(f"{what} is required")
    if len(value) > limit:
        raise invalid(f"{what} has at most {limit} characters")
    return value
