"""Who is speaking in a meeting, from the publishers' audio levels (no decoding).

Levels are dBov from the RTP audio-level header extension, turned into loudness 0 to 127. The
loudest publisher above ``THRESHOLD`` becomes the speaker; a challenger must be louder by
``MARGIN`` to take over, so two people talking at once do not make the highlight flicker.
"""

from __future__ import annotations

from collections.abc import Iterable

from media.forwarding import Publication

# -50 dBov and quieter counts as silence (background noise of a quiet room).
THRESHOLD = 127 - 50
MARGIN = 6.0


class ActiveSpeaker:
    def __init__(self) -> None:
        self._audio: dict[str, Publication] = {}
        self.current: str | None = None

    def watch(self, member: str, publication: Publication) -> None:
        self._audio[member] = publication

    def forget(self, member: str, publications: Iterable[Publication]) -> None:
        if self._audio.get(member) in set(publications):
            del self._audio[member]

    def update(self) -> tuple[bool, str | None]:
        """Re-evaluate; returns (changed, speaker)."""
        levels = {member: pub.loudness for member, pub in self._audio.items()}
        loudest = max(levels, key=levels.__getitem__, default=None)
        if loudest is None or levels[loudest] < THRESHOLD:
            chosen = self.current if self.current in levels else None
            if chosen is not None and levels[chosen] < THRESHOLD:
                chosen = None
        elif self.current in levels and loudest != self.current:
            chosen = loudest if levels[loudest] > levels[self.current] + MARGIN else self.current
        else:
            chosen = loudest
        changed = chosen != self.current
        self.current = chosen
        return changed, chosen
