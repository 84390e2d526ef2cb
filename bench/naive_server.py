"""The obvious python-socketio server for a floor of moving people, a reference for
bench/presence.py (not part of the product).

    naive_server.py PORT                 one broadcast per move
    naive_server.py PORT --coalesce 0.05  the latest position of each mover, broadcast once per
                                          window as one batch, on uvloop: the same design as
                                          officehours without the rest of it, so the benchmark
                                          can tell the design from the implementation
"""

from __future__ import annotations

import argparse
import asyncio

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
app = web.Application()
sio.attach(app)
users: dict[str, int] = {}
pending: dict[int, tuple[int, int]] = {}  # user id -> latest position not yet broadcast
window: float = 0.0


@sio.event
async def connect(sid: str, environ: dict[str, object], auth: dict[str, int]) -> None:
    users[sid] = int(auth["user_id"])
    await sio.enter_room(sid, "floor")


@sio.event
async def disconnect(sid: str, reason: object = None) -> None:
    users.pop(sid, None)


@sio.event
async def move(sid: str, data: dict[str, int]) -> None:
    if window:
        pending[users[sid]] = (data["x"], data["y"])
        return
    await sio.emit("moved", {"user_id": users[sid], "x": data["x"], "y": data["y"]}, room="floor")


async def flush_every_window() -> None:
    while True:
        await asyncio.sleep(window)
        if pending:
            batch = [{"user_id": u, "x": x, "y": y} for u, (x, y) in pending.items()]
            pending.clear()
            await sio.emit("moved_batch", batch, room="floor")


async def start_flushing(app: web.Application) -> None:
    if window:
        app["flusher"] = asyncio.create_task(flush_every_window())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--coalesce", type=float, default=0.0, help="window in seconds")
    args = parser.parse_args()
    window = args.coalesce
    app.on_startup.append(start_flushing)
    loop = None
    if window:
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, loop=loop)
