"""Failures that mean PostgreSQL or Redis is out of reach for a moment.

The adapters answer them with ``unavailable`` (HTTP 503, or an error ack) rather than
``internal``: nothing went wrong in the request itself, and sending it again later is right.
"""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from server.infra.errors import AppError, ErrorCode


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, OSError | RedisConnectionError | RedisTimeoutError | PoolTimeoutError)


def unavailable() -> AppError:
    return AppError(ErrorCode.UNAVAILABLE, "the server cannot reach its storage; try again")
