"""The obvious python-socketio server for a floor of moving people: one broadcast per move.

A reference for bench/presence.py, not part of the product. Usage: naive_server.py PORT
"""

from __future__ import annotations

import sys

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
app = web.Application()
sio.attach(app)
users: dict[str, int] = {}


@sio.event
async def connect(sid: str, environ: dict[str, object], auth: dict[str, int]) -> None:
    users[sid] = int(auth["user_id"])
    await sio.enter_room(sid, "floor")


@sio.event
async def disconnect(sid: str, reason: object = None) -> None:
    users.pop(sid, None)


@sio.event
async def move(sid: str, data: dict[str, int]) -> None:
    await sio.emit("moved", {"user_id": users[sid], "x": data["x"], "y": data["y"]}, room="floor")


if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
