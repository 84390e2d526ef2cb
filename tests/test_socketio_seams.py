"""The python-socketio and python-engineio internals the server relies on (both pinned in
pyproject.toml). An upgrade that moves any of them must fail here, loudly, before it breaks
fan-out, Redis reconnects or the reserved-event guard quietly.

- ``server.realtime.fanout``: engine.io's ``server.sockets`` (sid → socket), each socket's
  ``queue`` drained by its writer and its ``closed`` flag; the manager's ``get_participants``.
- ``server.realtime.sio.RedisFanoutManager``: the Redis manager's ``_redis_connect`` (sets
  ``redis`` and ``pubsub``), ``_redis_listen_with_retries`` (what ``_listen`` iterates) and
  ``_publish``, its pub/sub extension points.
- ``server.realtime.sio._Server``: ``_handle_event`` and ``_handle_eio_message`` with their
  arguments, and ``reserved_events``; ``close_connections`` ends writers through ``queue``.
"""

from __future__ import annotations

import inspect
from importlib import metadata

import engineio
import socketio
from engineio import async_socket, base_socket
from socketio import async_redis_manager, base_manager

from server.realtime import sio


def test_the_pinned_versions_are_the_ones_installed() -> None:
    assert metadata.version("python-socketio") == sio.SUPPORTED_SOCKETIO
    assert metadata.version("python-engineio") == sio.SUPPORTED_ENGINEIO


def test_engineio_sockets_queues_and_writers() -> None:
    assert "self.sockets = {}" in inspect.getsource(engineio.AsyncServer)
    base = inspect.getsource(base_socket.BaseSocket.__init__)
    assert "self.queue = self.server.create_queue()" in base
    assert "self.closed = False" in base
    # The writer sends what is put on the queue; None ends it (close_connections relies on it).
    assert "self.queue.get()" in inspect.getsource(async_socket)


def test_the_managers_participants_and_emit() -> None:
    assert list(inspect.signature(base_manager.BaseManager.get_participants).parameters) == [
        "self",
        "namespace",
        "room",
    ]
    emit = inspect.signature(socketio.AsyncManager.emit).parameters
    assert list(emit)[:8] == [
        "self",
        "event",
        "data",
        "namespace",
        "room",
        "skip_sid",
        "callback",
        "to",
    ]


def test_the_redis_managers_extension_points() -> None:
    manager = async_redis_manager.AsyncRedisManager
    connect = inspect.getsource(manager._redis_connect)
    assert "self.redis =" in connect and "self.pubsub =" in connect
    assert inspect.isasyncgenfunction(manager._redis_listen_with_retries)
    assert inspect.isasyncgenfunction(manager._listen)
    assert "self._redis_listen_with_retries()" in inspect.getsource(manager._listen)
    assert inspect.iscoroutinefunction(manager._publish)


def test_the_servers_event_entry_points() -> None:
    server = socketio.AsyncServer
    assert list(inspect.signature(server._handle_event).parameters) == [
        "self",
        "eio_sid",
        "namespace",
        "id",
        "data",
    ]
    assert list(inspect.signature(server._handle_eio_message).parameters) == [
        "self",
        "eio_sid",
        "data",
    ]
    assert server.reserved_events == ["connect", "disconnect"]
