"""Time-limited TURN credentials (the TURN REST API shared-secret scheme coturn checks with
``--use-auth-secret --static-auth-secret``): the username is ``<unix expiry>:<label>``, the
password base64(HMAC-SHA1(secret, username)). The label is random, so the TURN server's logs
cannot tell who relayed; only the expiry limits what a leaked pair is good for."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from server.infra.settings import IceServer, Turn


def turn_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def turn_credentials(turn: Turn, now: datetime, label: str | None = None) -> IceServer:
    """An ``iceServers`` entry for one browser, valid for ``turn.ttl_seconds`` from ``now``."""
    expiry = int(now.timestamp()) + turn.ttl_seconds
    username = f"{expiry}:{label if label is not None else secrets.token_hex(8)}"
    return IceServer(turn.urls, username, turn_password(turn.secret, username))
