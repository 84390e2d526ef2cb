"""Operator endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import text

from server.http.keys import ENGINE, METRICS, REDIS

log = logging.getLogger("officehours.http")
READY_TIMEOUT = 2.0


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            async with request.app[ENGINE].connect() as connection:
                await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readyz.database_down", extra={"error": type(exc).__name__})
        checks["database"] = "unreachable"
    redis = request.app.get(REDIS)
    if redis is not None:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("readyz.redis_down", extra={"error": type(exc).__name__})
            checks["redis"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(text=request.app[METRICS].render())
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    return response
