"""Structured logs: one JSON object a line for machines, aligned text in a terminal.

Only an event name and the fields a caller passes in ``extra`` (ids, codes, counts) are written.
Nothing here formats payloads, so message text, tokens and passwords cannot leak by accident
through a generic ``%s`` of a request or event.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{stamp} {record.levelname:<7} {record.name:<22} {record.getMessage()} {extras}"
        if record.exc_info and record.exc_info[0] is not None:
            line += f" exception={record.exc_info[0].__name__}"
        return line.rstrip()


LIBRARY_LOGGERS = (
    "aiohttp.access",
    "aiohttp.server",
    "socketio",
    "engineio",
    "aioice",
    "aiortc",
    "alembic",
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
    "redis",
)


# A library message kept as written: a few plain words, nothing a client could have shaped
# into a URL, a JSON line or a terminal escape.
_PLAIN_WORDS = re.compile(r"[A-Za-z][A-Za-z ,.'()-]{0,79}")
# Library messages with a client's value inside, by the words around it: the event they name.
_KNOWN_EVENTS = (
    (" is not an accepted origin.", "origin not accepted"),
    ("Invalid session ", "invalid session"),
    (" async handler error", "async handler error"),
    (" handler error", "handler error"),
)


class LibraryRecords(logging.Filter):
    """Records of other libraries (python-engineio, python-socketio, aiohttp) carry values a
    client chose — an Origin header, a session id, a path, an address — some formatted into
    the message before logging. Keep the library's own words only: a message with arguments
    becomes its template; a preformatted one its known event, or plain words, or nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "officehours" or record.name.startswith("officehours."):
            return True
        template = record.msg if isinstance(record.msg, str) else ""
        if record.args:
            message = template
        else:
            message = "message withheld"
            for words, event in _KNOWN_EVENTS:
                if words in template:
                    message = event
                    break
            else:
                if _PLAIN_WORDS.fullmatch(template):
                    message = template
        record.msg, record.args = message, None
        record.exc_text = None  # no formatter may print a traceback
        record.stack_info = None
        return True


def configure(log_format: str, level: str) -> None:
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(LibraryRecords())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers print SQL parameters, request details or event payloads at DEBUG/INFO
    # (aiosqlite logs bound values, emails included): keep them at WARNING at any level.
    for noisy in LIBRARY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Every record goes through the one handler above: a library that added a handler of its
    # own (python-engineio does, printing plain-text tracebacks) loses it.
    for name in (*LIBRARY_LOGGERS, "engineio.server", "socketio.server", "socketio.client"):
        library = logging.getLogger(name)
        library.handlers[:] = []
        library.propagate = True
