"""Waiting for something another process or task will do, with a hard deadline."""

from __future__ import annotations

import asyncio
from typing import Any


async def eventually(check: Any, deadline: float = 5.0) -> Any:
    """Poll ``check()`` until it returns something truthy; TimeoutError after ``deadline``."""
    async with asyncio.timeout(deadline):
        while True:
            result = check()
            if result:
                return result
            await asyncio.sleep(0.02)
