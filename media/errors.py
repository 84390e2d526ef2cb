"""The media package's one exception: a signalling message that cannot be used."""

from __future__ import annotations


class SignallingError(ValueError):
    """Malformed or out-of-order SDP; the message says what, and nothing else changed."""
