"""Active-speaker detection from audio levels, and the marker jitter buffer across the RTP
sequence number's wraparound (65535 → 0)."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.rtp import RtpPacket

from media.jitter import MarkerJitterBuffer
from media.speaker import MARGIN, THRESHOLD, ActiveSpeaker


@dataclass(eq=False)
class Level:
    """What ActiveSpeaker reads of a publication: its smoothed loudness (0-127)."""

    loudness: float = 0.0


def speakers(*names: str) -> tuple[ActiveSpeaker, dict[str, Level]]:
    speaker, levels = ActiveSpeaker(), {name: Level() for name in names}
    for name, level in levels.items():
        speaker.watch(name, level)  # type: ignore[arg-type]
    return speaker, levels


def test_nobody_speaks_in_a_quiet_room() -> None:
    speaker, levels = speakers("ada", "bruno")
    levels["ada"].loudness = THRESHOLD - 1
    assert speaker.update() == (False, None)


def test_the_loudest_above_the_threshold_speaks_and_the_change_is_reported_once() -> None:
    speaker, levels = speakers("ada", "bruno")
    levels["ada"].loudness = THRESHOLD + 10
    assert speaker.update() == (True, "ada")
    assert speaker.update() == (False, "ada")


def test_a_challenger_must_be_clearly_louder_to_take_over() -> None:
    speaker, levels = speakers("ada", "bruno")
    levels["ada"].loudness = THRESHOLD + 10
    speaker.update()
    levels["bruno"].loudness = THRESHOLD + 10 + MARGIN / 2  # both talking: no flicker
    assert speaker.update() == (False, "ada")
    levels["bruno"].loudness = THRESHOLD + 10 + MARGIN + 1
    assert speaker.update() == (True, "bruno")


def test_the_speaker_falls_silent_or_leaves() -> None:
    speaker, levels = speakers("ada", "bruno")
    levels["ada"].loudness = THRESHOLD + 10
    speaker.update()
    levels["ada"].loudness = THRESHOLD - 1
    assert speaker.update() == (True, None)
    levels["ada"].loudness = THRESHOLD + 10
    speaker.update()
    speaker.forget("ada", [levels["ada"]])  # type: ignore[list-item]
    assert speaker.update() == (True, None)


def packet(seq: int, timestamp: int, payload: bytes, *, marker: bool) -> RtpPacket:
    made = RtpPacket(
        payload_type=96, sequence_number=seq, timestamp=timestamp, ssrc=1234, marker=marker
    )
    made.payload = payload
    made._data = payload  # type: ignore[attr-defined]
    return made


def test_frames_complete_at_their_marker_across_the_sequence_wraparound() -> None:
    buffer = MarkerJitterBuffer()
    completed = []
    for seq, ts, data, marker in [
        (65533, 1000, b"a1", False),
        (65534, 1000, b"a2", False),
        (65535, 1000, b"a3", True),  # frame 1 ends just before the wrap
        (0, 4000, b"b1", False),
        (1, 4000, b"b2", True),  # frame 2 straddles nothing but starts at 0
        (2, 7000, b"c1", False),
    ]:
        _, frame = buffer.add(packet(seq, ts, data, marker=marker))
        if frame is not None:
            completed.append((frame.timestamp, frame.data))
    assert completed == [(1000, b"a1a2a3"), (4000, b"b1b2")]
    assert buffer.media_ssrc == 1234


def test_a_frame_split_by_the_wraparound_with_its_marker_lost_still_completes() -> None:
    buffer = MarkerJitterBuffer()
    completed = []
    for seq, ts, data, marker in [
        (65535, 1000, b"a1", False),
        (0, 1000, b"a2", False),  # the marked last packet of this frame was lost
        (2, 4000, b"b1", True),  # a later frame: its first packet (1) is missing too
        (1, 1000, b"a3", False),  # ...arrives late, and belongs to the first frame
    ]:
        _, frame = buffer.add(packet(seq, ts, data, marker=marker))
        if frame is not None:
            completed.append((frame.timestamp, frame.data))
    # The timestamp change at 2 completes the first frame (its marker never came), then the
    # second frame completes at its own marker.
    assert completed[0] == (1000, b"a1a2a3")
