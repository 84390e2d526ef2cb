"""How services reach people without knowing about sockets.

``Broadcaster`` is implemented by the Socket.IO adapter. ``DeltaCoalescer`` batches office
changes per organization and sends them as one ``office:delta`` every interval: moves,
positions and presence flicker faster than anyone can see, and one packet for many changes
costs the transport once instead of once per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any, Protocol

log = logging.getLogger("officehours.broadcast")


class Broadcaster(Protocol):
    async def to_user(self, user_id: int, event: str, data: dict[str, Any]) -> None: ...

    async def to_users(self, user_ids: Iterable[int], event: str, data: dict[str, Any]) -> None:
        """One event to several people: encoded (and, on Redis, published) once."""
        ...

    async def to_org(self, org_id: int, event: str, data: dict[str, Any]) -> None: ...

    async def to_connection(self, sid: str, event: str, data: dict[str, Any]) -> None:
        """One browser tab (media signalling belongs to a tab, not a person)."""
        ...

    async def disconnect(self, connection_ids: Iterable[str]) -> None:
        """Close these connections, on whichever process holds them."""
        ...

    async def end_sessions(self, session_ids: Iterable[int], reason: str) -> None:
        """Tell every connection opened by these sign-in sessions (``session:ended``), then
        close them, on whichever process holds them."""
        ...


class DeltaCoalescer:
    """Latest state per person per organization, flushed every ``interval`` seconds."""

    def __init__(self, broadcaster: Broadcaster, interval: float) -> None:
        self._broadcaster = broadcaster
        self._interval = interval
        self._pending: dict[int, dict[int, dict[str, Any]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, org_id: int, person: dict[str, Any]) -> None:
        people = self._pending.setdefault(org_id, {})
        current = people.get(person["user_id"])
        if current is None or current["rev"] <= person["rev"]:
            people[person["user_id"]] = person
        self._wake.set()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for org_id, people in pending.items():
            await self._broadcaster.to_org(
                org_id, "office:delta", {"people": list(people.values())}
            )

    async def run(self) -> None:
        """Flush at most once an interval, and not at all while nothing changes."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("delta.flush_failed")

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        """Cancel the loop and send what is pending, if that can be done promptly."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            async with asyncio.timeout(2):
                await self.flush()
        except TimeoutError:
            log.warning("delta.final_flush_timed_out")
