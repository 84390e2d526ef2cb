"""The aiortc internals the relay depends on. An aiortc upgrade that moves any of them must
fail here, loudly, before it breaks meetings quietly."""

from __future__ import annotations

import inspect
from fractions import Fraction

import aiortc
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender, rtcrtpreceiver
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media import encoded
from media.encoded import EncodedFrame, is_keyframe


def test_the_pinned_aiortc_is_the_one_installed() -> None:
    assert aiortc.__version__ == encoded.SUPPORTED_AIORTC


def test_install_replaces_the_decoder_thread_body_with_the_same_signature() -> None:
    original = inspect.signature(rtcrtpreceiver.decoder_worker)
    encoded.install()
    assert encoded.installed()
    assert list(inspect.signature(rtcrtpreceiver.decoder_worker).parameters) == list(
        original.parameters
    )
    # receive() looks the worker up by name when it starts the thread.
    assert "target=decoder_worker" in inspect.getsource(RTCRtpReceiver.receive)


def test_receiver_and_sender_hooks_exist() -> None:
    assert inspect.iscoroutinefunction(RTCRtpReceiver._send_rtcp_pli)
    assert list(inspect.signature(RTCRtpReceiver._handle_rtp_packet).parameters) == [
        "self",
        "packet",
        "arrival_time_ms",
    ]
    # A subscriber's PLI/FIR reaches the sender's _send_keyframe, which the relay redirects.
    assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    # Frames that are not decoded frames are packed, not encoded.
    assert ".pack(data)" in inspect.getsource(RTCRtpSender._next_encoded_frame)


@pytest.mark.parametrize(
    ("mime", "rate", "data"),
    [("video/VP8", 90000, b"\x10\x02\x00\x9d\x01\x2a" + bytes(40)), ("audio/opus", 48000, b"\xf8")],
)
def test_encoders_pack_an_encoded_frame(mime: str, rate: int, data: bytes) -> None:
    codec = RTCRtpCodecParameters(mimeType=mime, clockRate=rate, payloadType=96)
    frame = EncodedFrame(codec.name, data, 3000, Fraction(1, rate), True)
    payloads, timestamp = get_encoder(codec).pack(frame)  # type: ignore[arg-type]
    assert timestamp == 3000
    assert b"".join(payloads).endswith(data)


def test_keyframes_are_recognised() -> None:
    assert is_keyframe("VP8", b"\x10\x02\x00")  # P bit 0
    assert not is_keyframe("VP8", b"\x11\x02\x00")
    assert is_keyframe("H264", b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65\x88")
    assert not is_keyframe("H264", b"\x00\x00\x00\x01\x41\x9a")
    assert is_keyframe("opus", b"\xf8")


def test_the_receivers_jitter_buffer_is_where_the_relay_replaces_it() -> None:
    from aiortc.jitterbuffer import JitterBuffer

    from media.jitter import MarkerJitterBuffer, use_marker_jitter_buffer

    assert {"_remove_frame", "remove", "add"} <= set(vars(JitterBuffer))
    receiver = object.__new__(RTCRtpReceiver)
    use_marker_jitter_buffer(receiver)
    assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, MarkerJitterBuffer)  # type: ignore[attr-defined]
    assert "self.__jitter_buffer.add(packet)" in inspect.getsource(
        RTCRtpReceiver._handle_rtp_packet
    )


def _packet(seq: int, timestamp: int, data: bytes, marker: int) -> object:
    from aiortc.rtp import RtpPacket

    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp)
    packet.marker = marker
    packet._data = data  # type: ignore[attr-defined]  # what aiortc's depayloader sets
    return packet


def test_a_frame_is_complete_at_its_marked_last_packet_not_one_frame_later() -> None:
    from media.jitter import MarkerJitterBuffer

    buffer = MarkerJitterBuffer()
    assert buffer.add(_packet(10, 3000, b"ab", 0)) == (False, None)  # type: ignore[arg-type]
    _, frame = buffer.add(_packet(11, 3000, b"cd", 1))  # type: ignore[arg-type]
    assert frame is not None and (frame.data, frame.timestamp) == (b"abcd", 3000)
    # A frame whose marker was lost completes when the next frame starts, as before.
    assert buffer.add(_packet(12, 6000, b"ef", 0)) == (False, None)  # type: ignore[arg-type]
    _, frame = buffer.add(_packet(13, 9000, b"gh", 0))  # type: ignore[arg-type]
    assert frame is not None and (frame.data, frame.timestamp) == (b"ef", 6000)
    # Out of order: nothing until the gap is filled, then the whole frame.
    assert buffer.add(_packet(15, 9000, b"kl", 1)) == (False, None)  # type: ignore[arg-type]
    _, frame = buffer.add(_packet(14, 9000, b"ij", 0))  # type: ignore[arg-type]
    assert frame is not None and frame.data == b"ghijkl"


def test_the_h264_packer_needs_a_real_av_packet_and_gets_one() -> None:
    """aiortc's H264Encoder.pack asserts isinstance(packet, av.Packet); a duck-typed frame
    would kill the subscriber's sender task silently."""
    import asyncio

    from aiortc.codecs.h264 import H264Encoder

    from media.forwarding import ForwardedTrack

    assert "isinstance(packet, av.Packet)" in inspect.getsource(H264Encoder.pack)

    async def forward_one() -> object:
        track = ForwardedTrack("video")
        track._waiting_for_keyframe = False
        track.frames_sent = 1  # past the fresh start a new subscriber gets
        track._offer(EncodedFrame("H264", b"\x00\x00\x00\x01\x65\x88", 0, Fraction(1, 90000), True))
        return await track.recv()

    packet = asyncio.run(forward_one())
    payloads, _ = H264Encoder().pack(packet)  # type: ignore[arg-type]
    assert payloads


def test_the_pinned_aioice_is_the_one_installed() -> None:
    import aioice

    from media.udp import SUPPORTED_AIOICE

    assert aioice.__version__ == SUPPORTED_AIOICE


def test_the_udp_mux_hooks_into_aioices_gathering_where_it_expects() -> None:
    """media.udp replaces Connection.get_component_candidates, appends to the connection's
    protocol list, and drives aioice's StunProtocol through its transport."""
    from aioice import ice

    from media import udp

    assert list(inspect.signature(udp._STOCK_GATHER).parameters) == [
        "self",
        "component",
        "addresses",
        "timeout",
    ]
    gather = inspect.getsource(ice.Connection.gather_candidates)
    assert "self.get_component_candidates(" in gather
    assert "self._local_candidates += candidates" in gather
    stock = inspect.getsource(udp._STOCK_GATHER)
    assert "self._protocols += host_protocols" in stock
    assert "self._protocols" in inspect.getsource(ice.Connection.close)
    assert "for protocol in self._protocols" in inspect.getsource(
        ice.Connection._pair_remote_candidate
    )
    # StunProtocol: the transport does all I/O; close() waits for connection_lost.
    protocol_source = inspect.getsource(ice.StunProtocol)
    assert "self.transport.sendto(" in protocol_source
    assert "self.transport.close()" in inspect.getsource(ice.StunProtocol.close)
    assert "self.receiver.request_received(message, addr, self)" in protocol_source
    assert "self.receiver.data_received(data, self.local_candidate.component)" in protocol_source
    assert "self.transactions" in protocol_source
    assert {"local_username", "local_password"} <= {
        n for n, v in vars(ice.Connection).items() if isinstance(v, property)
    }
    # The ICE username fragment is fixed when the connection is made, before gathering.
    assert "local_username = random_string(4)" in inspect.getsource(ice.Connection.__init__)
    udp.install()
    assert udp.installed()
