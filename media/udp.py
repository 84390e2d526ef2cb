"""Every ICE connection of the relay on one UDP port.

Stock aioice binds a socket on an ephemeral port for each connection's host candidate, so
a relay behind a container's published ports or a 1:1 NAT cannot be reached. ``UdpMux`` owns
one socket (one known port per process) and gives each connection that gathers while it is
active (``with mux.gathering():``) host candidates on that socket, at the announced
addresses if any (what browsers should send to) instead of the interface addresses.

Incoming datagrams are told apart as mediasoup's WebRtcServer and LiveKit's UDP mux do: a
STUN request by the local username fragment in its USERNAME (``local:remote``; should two
connections share a fragment, by whose password the message integrity verifies), which
binds the sender's address to that connection once the integrity verifies; a STUN response
by its transaction id; everything else (DTLS, RTP, RTCP) by the sender's address alone,
without parsing it as STUN first.

The hook into aioice is ``Connection.get_component_candidates`` (process-wide, but it acts
only inside ``gathering()``, so other connections in the process keep ephemeral ports).
aioice is pinned; tests/test_media_seams.py checks the internals used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from aioice import ice, stun
from aioice.candidate import Candidate, candidate_foundation, candidate_priority

log = logging.getLogger("officehours.media")

SUPPORTED_AIOICE = "0.13.0"
# Asked for; the kernel caps it at net.core.rmem_max / wmem_max.
SOCKET_BUFFER_BYTES = 4 << 20

_ACTIVE: contextvars.ContextVar[UdpMux | None] = contextvars.ContextVar(
    "officehours_udp_mux", default=None
)
_STOCK_GATHER = ice.Connection.get_component_candidates

Address = tuple[str, int]


class _MuxTransport(asyncio.DatagramTransport):
    """What one connection's StunProtocol sees: sends go out of the shared socket."""

    def __init__(self, mux: UdpMux, protocol: ice.StunProtocol, address: str) -> None:
        super().__init__()
        self._mux = mux
        self._protocol = protocol
        self._address = address
        self._closing = False

    def sendto(self, data: Any, addr: Any = None) -> None:
        if not self._closing:
            self._mux.sendto(data, addr)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return (self._address, self._mux.port)
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._mux.detach(self._protocol)
        self._protocol.connection_lost(None)

    def abort(self) -> None:
        self.close()


class UdpMux(asyncio.DatagramProtocol):
    """One UDP socket shared by the relay's ICE connections (IPv4)."""

    def __init__(
        self,
        port: int,
        announced: Sequence[str] = (),
        bind_host: str = "0.0.0.0",  # noqa: S104
    ) -> None:
        self.port = port
        self.announced = tuple(announced)
        self._bind_host = bind_host
        self._transport: asyncio.DatagramTransport | None = None
        self._by_ufrag: dict[str, list[ice.StunProtocol]] = {}
        self._by_addr: dict[Address, ice.StunProtocol] = {}
        self._addrs_of: dict[ice.StunProtocol, set[Address]] = {}

    # -- life ----------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self, local_addr=(self._bind_host, self.port)
            )
        except OSError as error:
            raise OSError(
                error.errno, f"media UDP port {self._bind_host}:{self.port}: {error.strerror}"
            ) from error
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # one socket carries every connection: give it room
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        self.port = transport.get_extra_info("sockname")[1]  # port 0: the one given
        install()
        log.info("media on UDP port %s", self.port)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @contextlib.contextmanager
    def gathering(self) -> Iterator[None]:
        """Connections gathering inside this block get their host candidates here."""
        token = _ACTIVE.set(self)
        try:
            yield
        finally:
            _ACTIVE.reset(token)

    @property
    def connections(self) -> int:
        """Host candidates attached and not yet closed (one per connection and address)."""
        return len(self._addrs_of)

    # -- attaching connections -----------------------------------------------------------
    def attach(
        self, connection: ice.Connection, component: int, addresses: Sequence[str]
    ) -> list[Candidate]:
        """Host candidates for ``connection`` on the shared port: one per announced address, or
        else per IPv4 interface address aioice found."""
        hosts = list(self.announced) or [a for a in addresses if ":" not in a]
        candidates = []
        for host in hosts:
            protocol = ice.StunProtocol(connection)
            protocol.connection_made(_MuxTransport(self, protocol, host))
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=self.port,
                type="host",
            )
            connection._protocols.append(protocol)
            self._by_ufrag.setdefault(connection.local_username, []).append(protocol)
            self._addrs_of[protocol] = set()
            candidates.append(protocol.local_candidate)
        return candidates

    def detach(self, protocol: ice.StunProtocol) -> None:
        for addr in self._addrs_of.pop(protocol, ()):
            if self._by_addr.get(addr) is protocol:
                del self._by_addr[addr]
        ufrag = protocol.receiver.local_username
        same = self._by_ufrag.get(ufrag)
        if same is not None:
            with contextlib.suppress(ValueError):
                same.remove(protocol)
            if not same:
                del self._by_ufrag[ufrag]

    def _bind(self, addr: Address, protocol: ice.StunProtocol) -> None:
        previous = self._by_addr.get(addr)
        if previous is protocol:
            return
        if previous is not None:
            self._addrs_of.get(previous, set()).discard(addr)
        self._by_addr[addr] = protocol
        self._addrs_of[protocol].add(addr)

    def sendto(self, data: bytes, addr: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    # -- receiving -----------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        source: Address = (addr[0], addr[1])
        protocol = self._by_addr.get(source)
        if data and data[0] < 4:  # STUN (RFC 7983); DTLS is 20-63, RTP/RTCP 128-191
            self._stun(data, source, protocol)
        elif protocol is not None:
            protocol.receiver.data_received(data, protocol.local_candidate.component)

    def _stun(self, data: bytes, addr: Address, known: ice.StunProtocol | None) -> None:
        try:
            message = stun.parse_message(data)
        except ValueError:
            return
        if message.message_class == stun.Class.REQUEST:
            target = self._for_request(message, addr)
        elif message.message_class in (stun.Class.RESPONSE, stun.Class.ERROR):
            target = self._for_response(message, known)
            if target is not None:
                self._bind(addr, target)
        else:
            target = known
        if target is not None:
            target.datagram_received(data, addr)

    def _for_request(self, message: stun.Message, addr: Address) -> ice.StunProtocol | None:
        username = message.attributes.get("USERNAME")
        if not isinstance(username, str):
            return None
        same = self._by_ufrag.get(username.partition(":")[0])
        if not same:
            return None
        for protocol in same:
            password = protocol.receiver.local_password.encode("utf8")
            if message.check_message_integrity(password):
                self._bind(addr, protocol)
                return protocol
        return same[0]  # it answers 401

    def _for_response(
        self, message: stun.Message, known: ice.StunProtocol | None
    ) -> ice.StunProtocol | None:
        if known is not None and message.transaction_id in known.transactions:
            return known
        for protocol in self._addrs_of:
            if message.transaction_id in protocol.transactions:
                return protocol
        return None


async def _get_component_candidates(
    self: ice.Connection,
    component: int,
    addresses: list[str],
    timeout: int = 5,  # noqa: ASYNC109 (aioice's)
) -> list[Candidate]:
    mux = _ACTIVE.get()
    if mux is None:
        return await _STOCK_GATHER(self, component, addresses, timeout)
    # No addresses means the relay transport policy: no host candidates then either.
    candidates = mux.attach(self, component, addresses) if addresses else []
    if self.turn_server is not None:
        candidates += await _STOCK_GATHER(self, component, [], timeout)
    return candidates


def install() -> None:
    """Route gathering through the mux that is active (idempotent, process-wide)."""
    ice.Connection.get_component_candidates = _get_component_candidates  # type: ignore[method-assign]


def installed() -> bool:
    return ice.Connection.get_component_candidates is _get_component_candidates
