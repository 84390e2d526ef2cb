"""The closed list of things analytics counts. A new metric is a new enum member."""

from __future__ import annotations

from enum import StrEnum


class Metric(StrEnum):
    SIGNED_IN = "signed_in"
    ACCOUNT_CREATED = "account_created"
    REALTIME_CONNECTED = "realtime_connected"
    REALTIME_SECONDS = "realtime_seconds"
