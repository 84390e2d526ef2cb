"""The live office across a restart of a single process (no Redis).

Without Redis the live office (who is online, in which room, knocks, grace timers) lives in the
process's memory. At shutdown it is written to ``DATA_DIR/live-office.json``; the next process
reads it at start-up if it is younger than ``OFFICEHOURS_RESTART_GRACE_SECONDS`` and deletes
it. People who reconnect within the grace period are back where they were; the others go
offline when it ends (their grace timers were set by ``Office.stopping``). With Redis the live
office is kept there and needs none of this.

The file holds presence (names, status text, rooms), never chat or other content; it is
readable by the server's user only and exists only while the server is down.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from rooms.store import MemoryStateStore

log = logging.getLogger("officehours.restart")

FILE_NAME = "live-office.json"
VERSION = 1


def path_in(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def save(path: Path, store: MemoryStateStore, now: float) -> None:
    """Write the store atomically (a half-written file is never read)."""
    document = {"version": VERSION, "saved_at": now, "store": store.export()}
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # not made yet on PostgreSQL
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(document, out, separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def load(path: Path, store: MemoryStateStore, now: float, grace_seconds: float) -> bool:
    """Restore what the previous process saved, if it is recent enough; the file is deleted
    either way (a later restart must not bring back a state older than the one in between).
    Returns whether anything was restored."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    try:
        document: dict[str, Any] = json.loads(raw)
        saved_at = float(document["saved_at"])
        exported = document["store"]
        if document.get("version") != VERSION or not isinstance(exported, dict):
            raise ValueError("unknown format")
    except (ValueError, KeyError, TypeError):
        log.warning("restart.unreadable", extra={"outcome": "ignored"})
        return False
    age = now - saved_at
    if age > grace_seconds or age < -grace_seconds:
        log.info("restart.too_old", extra={"seconds": round(age, 1)})
        return False
    store.load(exported)
    log.info("restart.restored", extra={"seconds": round(age, 1)})
    return True
