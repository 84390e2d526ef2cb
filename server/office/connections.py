"""Connections and process liveness: which process holds whose connection, and what becomes of
those connections when a process stops, restarts or dies.

Several server processes share the live office. Each announces itself with a beat and records,
per person, the connections it holds; a process whose beat is overdue is dead and its
connections are dropped by the others, so its people go offline after the grace period unless
they reconnected elsewhere. A process that was given up while alive (a long pause, a Redis that
lost its data) announces its connections again. Separate from moves: a connection says a person
is online, never where they are.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from rooms import presence
from rooms.presence import Person
from rooms.store import Doc, StateStore
from server.infra.broadcast import DeltaCoalescer
from server.infra.clock import Clock
from server.office.state import (
    OFFLINE_QUEUE,
    PROCESS_QUEUE,
    PROCESSES,
    people_key,
    person_key,
    process_people_key,
)
from server.people.identity import Principal

log = logging.getLogger("officehours.office")


class Connections:
    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        deltas: DeltaCoalescer,
        *,
        grace_seconds: float,
        restart_grace_seconds: float,
        process_timeout_seconds: float,
    ) -> None:
        self._store = store
        self._clock = clock
        self._deltas = deltas
        self._grace = grace_seconds
        self._restart_grace_seconds = restart_grace_seconds
        self._process_timeout = process_timeout_seconds
        self._process = secrets.token_hex(4)
        self._death_listeners: list[Callable[[str], Awaitable[None]]] = []
        # This process's open connections, to announce again when the store lost them.
        self._local: dict[str, Principal] = {}
        # Disconnects the store did not take (it was unreachable): retried at each beat.
        self._unsettled: dict[str, Principal] = {}
        self._announced = False
        self._stopping = False

    @property
    def process(self) -> str:
        """This server process's id in the shared state (its beat, its connections)."""
        return self._process

    def connection_id(self, sid: str) -> str:
        return f"{self._process}:{sid}"

    def add_death_listener(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """``listener(process)`` when another process is found dead (its beat overdue)."""
        self._death_listeners.append(listener)

    async def alive_processes(self) -> set[str]:
        return await self._store.members(PROCESSES)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    # -- one connection ---------------------------------------------------------------------

    async def connected(self, principal: Principal, sid: str) -> None:
        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], tuple[Person, Person]]:
            before = (
                Person.from_doc(docs[0])
                if docs[0]
                else Person(
                    principal.org_id,
                    principal.user_id,
                    principal.display_name,
                    guest=principal.is_guest,
                )
            )
            after = presence.connect(
                before, self.connection_id(sid), principal.display_name, principal.avatar_url
            )
            return [after.to_doc()], (before, after)

        key = person_key(principal.org_id, principal.user_id)
        # First who to clean up should this process die, then the connection itself.
        await self._store.add_member(process_people_key(self._process), key)
        before, after = await self._store.transact([key], change)
        self._unsettled.pop(sid, None)
        self._local[sid] = principal
        await self._store.add_member(people_key(principal.org_id), str(principal.user_id))
        await self._store.unschedule(OFFLINE_QUEUE, key)
        if before.public() | {"rev": 0} != after.public() | {"rev": 0}:
            self._deltas.add(principal.org_id, after.public())

    async def disconnected(self, principal: Principal, sid: str) -> None:
        self._local.pop(sid, None)
        try:
            await self._disconnected(principal, sid)
        except Exception:
            self._unsettled[sid] = principal  # the next beat tries again
            raise
        self._unsettled.pop(sid, None)

    async def _disconnected(self, principal: Principal, sid: str) -> None:
        now = self._now()

        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], Person | None]:
            if docs[0] is None:
                return docs, None
            after = presence.disconnect(Person.from_doc(docs[0]), self.connection_id(sid), now)
            return [after.to_doc()], after

        key = person_key(principal.org_id, principal.user_id)
        after = await self._store.transact([key], change)
        if after is not None and not after.connections:
            grace = self._restart_grace() if self._stopping else self._grace
            await self._store.schedule(OFFLINE_QUEUE, key, now + grace)

    # -- this process stopping and the next one starting ------------------------------------

    def _restart_grace(self) -> float:
        return max(self._grace, self._restart_grace_seconds)

    def stopping(self) -> None:
        """This process is shutting down (SIGTERM): the connections it closes from now on are
        a restart, not people leaving; they get the restart grace period to come back."""
        self._stopping = True

    async def resume_after_restart(self) -> int:
        """After the live office of a stopped process was restored into this one's store
        (``server.office.restart``): drop the connections the old process still held, so their
        people stay where they were for the restart grace period and go offline after it unless
        they reconnect. Returns how many people were waited for."""
        now = self._now()
        waiting = 0
        for process in sorted(await self._store.members(PROCESSES)):
            if process == self._process:
                continue
            for key in sorted(await self._store.members(process_people_key(process))):
                waiting += await self._drop_connections_of(key, process, now, self._restart_grace())
                await self._store.remove_member(process_people_key(process), key)
            await self._store.remove_member(PROCESSES, process)
            await self._store.unschedule(PROCESS_QUEUE, process)
        return waiting

    # -- beats and dead processes (the sweep) -----------------------------------------------

    async def beat(self, now: float) -> None:
        """Tell the other processes this one is alive. When the store no longer knows this
        process (Redis restarted without its data, or this process was presumed dead after a
        long pause), announce its open connections again so its people are shown online."""
        alive = await self._store.members(PROCESSES)
        if self._announced and self._process not in alive:
            log.warning("office.connections_reannounced", extra={"count": len(self._local)})
            for sid, principal in list(self._local.items()):
                await self.connected(principal, sid)
        for sid, principal in list(self._unsettled.items()):
            await self.disconnected(principal, sid)
        await self._store.add_member(PROCESSES, self._process)
        await self._store.schedule(PROCESS_QUEUE, self._process, now + self._process_timeout)
        self._announced = True

    async def reap_dead_processes(self, now: float) -> None:
        """A process killed without shutting down never said goodbye: once its beat is
        overdue, drop its connections, so its people go offline after the grace period
        unless they reconnected elsewhere."""
        for process in await self._store.due(PROCESS_QUEUE, now):
            if process == self._process:
                continue
            for key in sorted(await self._store.members(process_people_key(process))):
                await self._drop_connections_of(key, process, now, self._grace)
                await self._store.remove_member(process_people_key(process), key)
            await self._store.remove_member(PROCESSES, process)
            await self._store.unschedule(PROCESS_QUEUE, process)
            log.warning("office.process_expired", extra={"server_process": process})
            for listener in self._death_listeners:
                try:
                    await listener(process)
                except Exception:
                    log.exception("office.death_listener_failed")

    async def _drop_connections_of(self, key: str, process: str, now: float, grace: float) -> int:
        """Returns 1 if that left the person without connections (their grace began)."""
        prefix = f"{process}:"

        def change(docs: list[Doc | None]) -> tuple[list[Doc | None], Person | None]:
            if docs[0] is None:
                return docs, None
            person = after = Person.from_doc(docs[0])
            for connection in sorted(person.connections):
                if connection.startswith(prefix):
                    after = presence.disconnect(after, connection, now)
            if after == person:
                return docs, None
            return [after.to_doc()], after

        after = await self._store.transact([key], change)
        if after is not None and not after.connections:
            await self._store.schedule(OFFLINE_QUEUE, key, now + grace)
            return 1
        return 0
