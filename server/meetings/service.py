"""Meetings: a room's audio, video and screen share, tied to where people are in the office.

Media belongs to a connection (a browser tab), not a person, so each tab that joins is one
member of the room's meeting in ``media.relay``. Rules kept here, not in the relay: you can
only join the media of the room you are in (a guest: their admitted room), a town hall's
listeners do not publish (its owners do), walking out of a room or going offline leaves its
media. A meeting is *held* while two or more people are in its media; its length and each
person's time in media are recorded for analytics as durations only (``meeting_held``
counted in the groups of whoever was there first, ``meeting_seconds`` per person).
"""

from __future__ import annotations

import contextlib
import logging
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media import quality
from media.errors import SignallingError
from media.peers import IceServer as MediaIceServer
from media.relay import Relay
from media.udp import UdpMux
from rooms.layout import RoomKind
from server.analytics.metrics import Metric
from server.analytics.record import record
from server.infra.broadcast import Broadcaster
from server.infra.clock import Clock
from server.infra.errors import AppError, ErrorCode, forbidden
from server.infra.metrics import Registry
from server.infra.settings import IceServer, Turn
from server.meetings.turn import turn_credentials
from server.office.service import Office
from server.office.state import Moved
from server.people import accounts

log = logging.getLogger("officehours.meetings")

MediaListener = Callable[[int, int, int, bool], Awaitable[None]]


@dataclass
class _Attendance:
    """One tab in a room's media."""

    sid: str
    org_id: int
    user_id: int
    room_id: int
    since: float
    # What the tab last said of its microphone and camera (``media:state``): the others'
    # pages cannot tell a muted microphone or a disabled camera from the media itself.
    muted: bool = False
    camera_off: bool = False


@dataclass
class _Held:
    """A room's meeting while two or more people are in its media."""

    started: float | None = None
    people: set[int] = field(default_factory=set)
    first: int | None = None  # who was there first: the meeting is counted in their groups


class Meetings:
    def __init__(
        self,
        office: Office,
        db: async_sessionmaker[AsyncSession],
        clock: Clock,
        broadcaster: Broadcaster,
        ice_servers: tuple[IceServer, ...],
        metrics: Registry,
        *,
        udp: UdpMux | None = None,
        turn: Turn | None = None,
    ) -> None:
        """``udp``: every media connection on one known UDP port; ``turn``: a TURN server whose
        time-limited credentials each browser gets when it joins."""
        self._office = office
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._ice_servers = ice_servers
        self._turn = turn
        self._metrics = metrics
        self._relay = Relay(
            self,  # the relay's Signals: offers, closed connections, speakers
            [MediaIceServer(s.urls, s.username, s.credential) for s in ice_servers],
            udp=udp,
        )
        self._attending: dict[str, _Attendance] = {}
        self._held: dict[tuple[int, int], _Held] = {}
        self._listeners: list[MediaListener] = []
        office.add_move_listener(self._moved)

    @property
    def relay(self) -> Relay:
        return self._relay

    def add_listener(self, listener: MediaListener) -> None:
        """``listener(org_id, room_id, user_id, joined)`` after a person's first tab joins a
        room's media or their last tab leaves it (mentoring measures session length so)."""
        self._listeners.append(listener)

    # -- joining and leaving ------------------------------------------------------------------
    async def room_of(self, org_id: int, user_id: int) -> int:
        """The room whose media this person may join: the one they are in."""
        person = await self._office.person(org_id, user_id)
        if person is None or person.room_id is None:
            raise AppError(ErrorCode.CONFLICT, "walk into a room first")
        return person.room_id

    def attending(self, sid: str) -> bool:
        return sid in self._attending

    async def join(
        self,
        org_id: int,
        user_id: int,
        sid: str,
        *,
        video_codecs: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        room_id = await self.room_of(org_id, user_id)
        room = await self._office.room(org_id, room_id)
        may_publish = room.kind is not RoomKind.TOWN_HALL or user_id in room.owners
        current = self._attending.get(sid)
        if current is not None and current.room_id != room_id:
            await self.leave(sid)
        await self._relay.join(
            room_key(org_id, room_id),
            sid,
            may_publish=may_publish,
            video_codecs=video_codecs,
        )
        if sid not in self._attending:
            self._attending[sid] = _Attendance(sid, org_id, user_id, room_id, self._now())
            await self._person_joined(org_id, room_id, user_id, room.kind)
        return {
            "room_id": room_id,
            "may_publish": may_publish,
            "ice_servers": [s.as_dict() for s in self._browser_ice_servers()],
            "members": self._members(org_id, room_id),
        }

    async def leave(self, sid: str) -> None:
        attendance = self._attending.pop(sid, None)
        await self._relay.leave(sid)
        if attendance is None:
            return
        org_id, room_id, user_id = attendance.org_id, attendance.room_id, attendance.user_id
        still_here = any(
            a.user_id == user_id and a.room_id == room_id and a.org_id == org_id
            for a in self._attending.values()
        )
        if not still_here:
            await self._person_left(attendance)
        await self._broadcast_members(org_id, room_id)

    async def _moved(self, moved: Moved) -> None:
        """Walking out of a room (or going offline) leaves its media, in every tab."""
        before = moved.before
        if before.room_id is None or before.room_id == moved.after.room_id:
            return
        for attendance in list(self._attending.values()):
            if (
                attendance.user_id == before.user_id
                and attendance.org_id == before.org_id
                and attendance.room_id == before.room_id
            ):
                await self.leave(attendance.sid)
                await self._broadcaster.to_connection(
                    attendance.sid, "media:left", {"room_id": before.room_id}
                )

    # -- publishing and answering -------------------------------------------------------------
    async def publish(self, sid: str, source: str, sdp: object) -> dict[str, Any]:
        attendance = self._require(sid)
        try:
            peer_id, answer = await self._relay.publish(sid, source, sdp)
        except PermissionError as error:
            raise forbidden(str(error)) from error
        except SignallingError as error:
            raise AppError(ErrorCode.INVALID, str(error)) from error
        await self._broadcast_members(attendance.org_id, attendance.room_id)
        return {"peer_id": peer_id, "sdp": answer}

    async def unpublish(self, sid: str, source: str) -> None:
        attendance = self._require(sid)
        try:
            await self._relay.unpublish(sid, source)
        except SignallingError as error:
            raise AppError(ErrorCode.INVALID, str(error)) from error
        await self._broadcast_members(attendance.org_id, attendance.room_id)

    async def answer(self, sid: str, peer_id: object, sdp: object) -> None:
        self._require(sid)
        try:
            await self._relay.answer(sid, peer_id, sdp)
        except LookupError as error:
            raise AppError(ErrorCode.NOT_FOUND, "no such media connection") from error
        except SignallingError as error:
            raise AppError(ErrorCode.INVALID, str(error)) from error

    async def set_state(self, sid: str, *, muted: bool, camera_off: bool) -> None:
        """A tab's microphone or camera was switched: everyone in its meeting is told (their
        tiles say "muted" and show an avatar in place of a camera that is off)."""
        attendance = self._require(sid)
        if (attendance.muted, attendance.camera_off) == (muted, camera_off):
            return
        attendance.muted, attendance.camera_off = muted, camera_off
        await self._broadcast_members(attendance.org_id, attendance.room_id)

    # -- telling people -----------------------------------------------------------------------
    def _members(self, org_id: int, room_id: int) -> list[dict[str, Any]]:
        meeting = self._relay.meeting(room_key(org_id, room_id))
        if meeting is None:
            return []
        members = []
        for key, member in meeting.members.items():
            attendance = self._attending.get(key)
            if attendance is not None:
                members.append(
                    {
                        "connection": key,
                        "user_id": attendance.user_id,
                        "publishing": sorted(member.published),
                        "muted": attendance.muted,
                        "camera_off": attendance.camera_off,
                    }
                )
        return members

    async def _broadcast_members(self, org_id: int, room_id: int) -> None:
        members = self._members(org_id, room_id)
        payload = {"room_id": room_id, "members": members}
        for member in members:
            await self._broadcaster.to_connection(member["connection"], "media:members", payload)

    async def offer(self, sid: str, peer_id: str, publisher: str, source: str, sdp: str) -> None:
        owner = self._attending.get(publisher)
        if owner is None:
            # Not expected: a tab stops attending in the same step as the relay drops it, and
            # the relay re-checks its publisher before offering. Were it to happen, the
            # publisher is leaving (its media:closed follows): no offer without its person.
            log.warning("meetings.offer_without_publisher", extra={"peer_id": peer_id})
            return
        await self._broadcaster.to_connection(
            sid,
            "media:offer",
            {
                "peer_id": peer_id,
                "publisher": publisher,
                "user_id": owner.user_id,
                "source": source,
                "sdp": sdp,
            },
        )

    async def closed(self, member: str, peer_id: str) -> None:
        await self._broadcaster.to_connection(member, "media:closed", {"peer_id": peer_id})

    async def speaker(self, room: str, member: str | None) -> None:
        org_id, room_id = _parse_room_key(room)
        attendance = self._attending.get(member) if member else None
        payload = {
            "room_id": room_id,
            "connection": member,
            "user_id": attendance.user_id if attendance else None,
        }
        for other in self._members(org_id, room_id):
            await self._broadcaster.to_connection(other["connection"], "media:speaker", payload)

    # -- lifecycle and analytics --------------------------------------------------------------
    async def _person_joined(self, org_id: int, room_id: int, user_id: int, kind: RoomKind) -> None:
        held = self._held.setdefault((org_id, room_id), _Held())
        newcomer = user_id not in held.people
        held.people.add(user_id)
        if held.first is None or held.first not in held.people:
            held.first = user_id
        if held.started is None and len(held.people) >= 2:
            held.started = self._now()
        if newcomer:
            for listener in self._listeners:
                await listener(org_id, room_id, user_id, True)

    async def _person_left(self, attendance: _Attendance) -> None:
        org_id, room_id, user_id = attendance.org_id, attendance.room_id, attendance.user_id
        now = self._now()
        held = self._held.get((org_id, room_id))
        kind = None
        with contextlib.suppress(AppError):
            kind = (await self._office.room(org_id, room_id)).kind
        async with self._db() as session:
            subject = await accounts.analytics_subject(session, org_id, user_id)
            await record(
                session,
                Metric.MEETING_SECONDS,
                subject,
                at=self._clock.now(),
                seconds=max(0.0, now - attendance.since),
                room_kind=kind,
            )
            if held is not None:
                held.people.discard(user_id)
                if held.started is not None and len(held.people) < 2:
                    starter = held.first if held.first is not None else user_id
                    await record(
                        session,
                        Metric.MEETING_HELD,
                        await accounts.analytics_subject(session, org_id, starter),
                        at=self._clock.now(),
                        seconds=max(0.0, now - held.started),
                        room_kind=kind,
                    )
                    held.started = None
                if not held.people:
                    del self._held[(org_id, room_id)]
            await session.commit()
        for listener in self._listeners:
            await listener(org_id, room_id, user_id, False)

    async def sample_quality(self) -> None:
        """Round-trip time, jitter and loss of every member, into /metrics (median and worst
        over this process's members), then participants per meeting and each video
        subscription's layer, estimate, loss and round trip (series that live only as long as
        the subscription: each sample starts afresh)."""
        samples = []
        for sid in list(self._attending):
            samples.append(await quality.measure(self._relay.peers(sid)))
        self._metrics.media_members.set(len(self._attending))
        self._metrics.media_meetings.set(sum(1 for h in self._held.values() if h.started))
        for name, values in (
            ("rtt", [q.rtt_seconds for q in samples if q.rtt_seconds is not None]),
            ("jitter", [q.jitter_seconds for q in samples if q.jitter_seconds is not None]),
            ("loss", [q.loss_ratio for q in samples if q.loss_ratio is not None]),
        ):
            gauge = self._metrics.media_quality
            gauge.set(statistics.median(values) if values else 0.0, name, "median")
            gauge.set(max(values) if values else 0.0, name, "max")
        participants = self._metrics.media_participants
        participants.clear()
        for room in self._relay.rooms():
            meeting = self._relay.meeting(room)
            if meeting is not None:
                participants.set(len(meeting.members), room)
        links = self._metrics.media_subscription
        links.clear()
        for link in self._relay.link_health():
            for measure, value in (
                ("layer", link.layer),
                ("estimate_bps", link.estimate_bps),
                ("loss", link.loss),
                ("rtt_seconds", link.rtt_seconds),
            ):
                if value is not None:
                    links.set(float(value), link.room, link.peer_id, measure)

    def meeting_running(self, org_id: int, room_id: int) -> bool:
        held = self._held.get((org_id, room_id))
        return held is not None and held.started is not None

    async def disconnected(self, sid: str) -> None:
        await self.leave(sid)

    async def hang_up(self) -> None:
        """Close every media connection now, all at once (at SIGTERM, before the Socket.IO
        connections close and their members leave one by one)."""
        await self._relay.hang_up()

    async def close(self) -> None:
        for sid in list(self._attending):
            await self.leave(sid)
        await self._relay.close()

    def _require(self, sid: str) -> _Attendance:
        attendance = self._attending.get(sid)
        if attendance is None:
            raise AppError(ErrorCode.CONFLICT, "join the room's media first (media:join)")
        return attendance

    def _browser_ice_servers(self) -> list[IceServer]:
        """The configured servers, and a TURN entry with credentials of this browser's own."""
        servers = list(self._ice_servers)
        if self._turn is not None:
            servers.append(turn_credentials(self._turn, self._clock.now()))
        return servers

    def _now(self) -> float:
        return self._clock.now().timestamp()


def room_key(org_id: int, room_id: int) -> str:
    """The relay's (and the meeting directory's) name for a room's meeting."""
    return f"{org_id}:{room_id}"


def _parse_room_key(key: str) -> tuple[int, int]:
    org, room = key.split(":")
    return int(org), int(room)
