"""Meetings of the relay: who is in which room's media, what they publish, who receives it.

The relay knows connections and rooms by opaque keys and tells the outside world what to
send through ``Signals`` (an offer to a subscriber, a closed connection, a new active
speaker); it never imports the server. Every member receives every other member's published
sources, each over its own connection (see ``media.peers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from media.errors import SignallingError
from media.peers import IceServer, PublishPeer, SubscribePeer
from media.speaker import ActiveSpeaker
from media.udp import UdpMux

log = logging.getLogger("officehours.media")

SOURCES = ("camera", "screen")
SPEAKER_INTERVAL = 0.3
# How often each meeting is checked against what it should be (every member receiving every
# other member's sources), how long an offer may go unanswered before it is made afresh, and
# how many fresh offers one subscription gets before the relay stops trying.
TEND_INTERVAL = 2.0
ANSWER_PATIENCE = 10.0
OFFER_ATTEMPTS = 3


class Signals(Protocol):
    async def offer(
        self, member: str, peer_id: str, publisher: str, source: str, sdp: str
    ) -> None: ...

    async def closed(self, member: str, peer_id: str) -> None: ...

    async def speaker(self, room: str, member: str | None) -> None: ...


@dataclass(frozen=True)
class LinkHealth:
    """One video subscription as its browser reports it (None: not known yet)."""

    room: str
    peer_id: str
    layer: int | None
    estimate_bps: float | None
    loss: float
    rtt_seconds: float | None


@dataclass
class Member:
    key: str
    room: str
    may_publish: bool
    # Video codecs this member can receive, if it said (else: whatever is forwarded).
    video_codecs: tuple[str, ...] | None = None
    published: dict[str, PublishPeer] = field(default_factory=dict)
    # peer id -> connection sending someone else's source to this member
    receiving: dict[str, SubscribePeer] = field(default_factory=dict)
    # publish peer id -> offers made for it so far; an id is here from the first offer on
    offers_made: dict[str, int] = field(default_factory=dict)
    # publish peer ids whose offer to this member is being made right now
    offering: set[str] = field(default_factory=set)


@dataclass
class Meeting:
    room: str
    members: dict[str, Member] = field(default_factory=dict)
    speaker: ActiveSpeaker = field(default_factory=ActiveSpeaker)


class Relay:
    def __init__(
        self,
        signals: Signals,
        ice_servers: Sequence[IceServer] = (),
        udp: UdpMux | None = None,
        *,
        answer_patience: float = ANSWER_PATIENCE,
        tend_interval: float = TEND_INTERVAL,
    ) -> None:
        """``udp``: the one UDP port every connection uses (else an ephemeral port each)."""
        self._signals = signals
        self._answer_patience = answer_patience
        self._tend_interval = tend_interval
        self._ice = tuple(ice_servers)
        self._udp = udp
        self._meetings: dict[str, Meeting] = {}
        self._members: dict[str, Member] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._speaker_task: asyncio.Task[None] | None = None

    # -- reading -------------------------------------------------------------------------
    def member(self, key: str) -> Member | None:
        return self._members.get(key)

    def meeting(self, room: str) -> Meeting | None:
        return self._meetings.get(room)

    def rooms(self) -> list[str]:
        return list(self._meetings)

    def link_health(self) -> list[LinkHealth]:
        """Every video subscription's layer, estimate, loss and round trip."""
        found = []
        for member in self._members.values():
            for peer_id, peer in member.receiving.items():
                for track in peer.tracks:
                    if track.policy is not None:
                        found.append(
                            LinkHealth(
                                member.room,
                                peer_id,
                                track.layer,
                                track.policy.estimate,
                                track.policy.loss,
                                track.round_trip,
                            )
                        )
        return found

    def peers(self, key: str | None = None) -> list[PublishPeer | SubscribePeer]:
        """Every connection (of one member, or of everyone)."""
        found: list[PublishPeer | SubscribePeer] = []
        for member in self._members.values():
            if key is None or member.key == key:
                found.extend(member.published.values())
                found.extend(member.receiving.values())
        return found

    # -- membership ----------------------------------------------------------------------
    async def join(
        self,
        room: str,
        key: str,
        *,
        may_publish: bool,
        video_codecs: tuple[str, ...] | None = None,
    ) -> Member:
        """Enter ``room``'s media (leaving any other first) and receive what is published."""
        current = self._members.get(key)
        if current is not None:
            if current.room == room:
                current.may_publish = may_publish
                current.video_codecs = video_codecs
                return current
            await self.leave(key)
        meeting = self._meetings.setdefault(room, Meeting(room))
        member = Member(key, room, may_publish, video_codecs)
        meeting.members[key] = member
        self._members[key] = member
        for other in list(meeting.members.values()):
            if other is not member:
                for publish in other.published.values():
                    self._spawn(self._subscribe(member, other, publish))
        if meeting.speaker.current is not None:
            # Speakers are announced on change only: a newcomer hears who is speaking now.
            self._spawn(self._signals.speaker(room, meeting.speaker.current))
        self._ensure_speaker_task()
        return member

    async def leave(self, key: str) -> None:
        member = self._members.pop(key, None)
        if member is None:
            return
        meeting = self._meetings.get(member.room)
        for source in list(member.published):
            await self._unpublish(member, source)
        for peer in member.receiving.values():
            await peer.close()
        member.receiving.clear()
        if meeting is not None:
            meeting.members.pop(key, None)
            if not meeting.members:
                del self._meetings[member.room]

    # -- publishing ----------------------------------------------------------------------
    async def publish(self, key: str, source: str, offer_sdp: object) -> tuple[str, str]:
        """Answer a member's offer for ``source``; everyone else in the room is offered it.
        Returns (peer id, answer sdp). Publishing a source again replaces the old one."""
        member = self._require(key)
        if source not in SOURCES:
            raise SignallingError(f"source must be one of {', '.join(SOURCES)}")
        if not member.may_publish:
            raise PermissionError("only speakers may publish in this room")
        peer = PublishPeer(self._new_id("pub"), source, self._ice, self._udp)
        try:
            answer = await peer.answer(offer_sdp)
        except Exception:
            await peer.close()
            raise
        if self._members.get(key) is not member:  # left while the answer was being made
            await peer.close()
            raise SignallingError("not in a meeting")
        if source in member.published:
            await self._unpublish(member, source)
        member.published[source] = peer
        meeting = self._meetings[member.room]
        for publication in peer.publications:
            if publication.kind == "audio":
                meeting.speaker.watch(member.key, publication)
        for other in list(meeting.members.values()):
            if other is not member:
                self._spawn(self._subscribe(other, member, peer))
        return peer.peer_id, answer

    async def unpublish(self, key: str, source: str) -> None:
        await self._unpublish(self._require(key), source)

    async def _unpublish(self, member: Member, source: str) -> None:
        peer = member.published.pop(source, None)
        if peer is None:
            return
        meeting = self._meetings.get(member.room)
        if meeting is not None:
            meeting.speaker.forget(member.key, peer.publications)
            for other in meeting.members.values():
                other.offers_made.pop(peer.peer_id, None)
                for peer_id, receiving in list(other.receiving.items()):
                    if receiving.publish is peer:
                        del other.receiving[peer_id]
                        await receiving.close()
                        self._spawn(self._signals.closed(other.key, peer_id))
        await peer.close()

    # -- receiving -----------------------------------------------------------------------
    async def _subscribe(self, member: Member, publisher: Member, publish: PublishPeer) -> None:
        if publish.peer_id in member.offering:
            return
        member.offering.add(publish.peer_id)
        member.offers_made[publish.peer_id] = member.offers_made.get(publish.peer_id, 0) + 1
        try:
            peer = SubscribePeer(
                self._new_id("sub"), publish, self._ice, member.video_codecs, self._udp
            )
            try:
                sdp = await peer.offer()
            except Exception:
                await peer.close()
                raise
            still_there = (
                self._members.get(member.key) is member
                and publisher.published.get(publish.source) is publish
            )
            if not still_there:
                await peer.close()
                return
            peer.offered_at = asyncio.get_running_loop().time()
            member.receiving[peer.peer_id] = peer
        finally:
            member.offering.discard(publish.peer_id)
        await self._signals.offer(member.key, peer.peer_id, publisher.key, publish.source, sdp)

    async def answer(self, key: str, peer_id: object, answer_sdp: object) -> None:
        member = self._require(key)
        peer = member.receiving.get(peer_id) if isinstance(peer_id, str) else None
        if peer is None:
            raise LookupError("no such connection")
        await peer.accept(answer_sdp)

    # -- keeping every meeting whole -----------------------------------------------------
    async def tend(self) -> None:
        """Tend every meeting (the relay does so every ``tend_interval`` by itself)."""
        for meeting in list(self._meetings.values()):
            try:
                await self._tend(meeting)
            except Exception:  # one meeting's trouble must not stop the others
                log.exception("media.tend_failed")

    async def _tend(self, meeting: Meeting) -> None:
        """Make every member receive every other member's sources: an offer that failed to be
        made, or went unanswered (lost, or the browser failed on it), is made afresh, at most
        ``OFFER_ATTEMPTS`` times per subscription."""
        now = asyncio.get_running_loop().time()
        for member in list(meeting.members.values()):
            received = {peer.publish.peer_id: peer for peer in member.receiving.values()}
            for publisher in list(meeting.members.values()):
                if publisher is member:
                    continue
                for publish in list(publisher.published.values()):
                    made = member.offers_made.get(publish.peer_id, 0)
                    if publish.peer_id in member.offering or made >= OFFER_ATTEMPTS:
                        continue
                    peer = received.get(publish.peer_id)
                    if peer is not None:
                        if peer.answered or now - peer.offered_at < self._answer_patience:
                            continue
                        del member.receiving[peer.peer_id]
                        await peer.close()
                        self._spawn(self._signals.closed(member.key, peer.peer_id))
                    log.warning(
                        "media.offer_again",
                        extra={"unanswered": peer is not None, "attempt": made + 1},
                    )
                    self._spawn(self._subscribe(member, publisher, publish))

    # -- active speaker, and tending ---------------------------------------------------------
    def _ensure_speaker_task(self) -> None:
        if self._speaker_task is None or self._speaker_task.done():
            self._speaker_task = asyncio.create_task(self._watch_meetings())

    async def _watch_meetings(self) -> None:
        """Active speakers every ``SPEAKER_INTERVAL``; each meeting tended every
        ``tend_interval``."""
        loop = asyncio.get_running_loop()
        next_tend = loop.time() + self._tend_interval
        while self._meetings:
            await asyncio.sleep(SPEAKER_INTERVAL)
            for meeting in list(self._meetings.values()):
                changed, speaker = meeting.speaker.update()
                if changed:
                    await self._signals.speaker(meeting.room, speaker)
            if loop.time() >= next_tend:
                next_tend = loop.time() + self._tend_interval
                await self.tend()

    # -- plumbing ------------------------------------------------------------------------
    def _require(self, key: str) -> Member:
        member = self._members.get(key)
        if member is None:
            raise SignallingError("not in a meeting")
        return member

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}-{secrets.token_hex(4)}"

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media.task_failed", exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for pending offers and notifications (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def hang_up(self) -> None:
        """Close every peer connection at once (a stopping process: closing them one member
        after another would take a while with many meetings). Members stay until they leave;
        leaving closes nothing twice."""
        peers = self.peers()
        results = await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("media.close_failed", extra={"error": type(result).__name__})

    async def close(self) -> None:
        for key in list(self._members):
            await self.leave(key)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._speaker_task is not None:
            self._speaker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaker_task
