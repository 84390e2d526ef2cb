"""Profile pictures over HTTP: mine (set, look, remove) and anyone's I may see, by address.

A picture is uploaded as the raw image (Content-Type image/png, image/jpeg or image/webp), read
here up to the size limit and no further. It is served with its own type, never sniffed, under
a Content-Security-Policy that runs nothing, and may be kept by the browser for good: its
address is its content's hash, so a new picture is a new address.
"""

from __future__ import annotations

from aiohttp import web

from server.http.keys import AVATARS
from server.http.middleware import require_session
from server.people import images

# A year, and never revalidated: the address changes with the picture.
CACHE_FOR_GOOD = "private, max-age=31536000, immutable"
PICTURE_HEADERS = {
    "Cache-Control": CACHE_FOR_GOOD,
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


async def _read_bounded(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise images.too_large()
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        total += len(chunk)
        if total > limit:
            raise images.too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def mine(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    return web.json_response({"avatar": await request.app[AVATARS].mine(principal)})


async def put_mine(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    data = await _read_bounded(request, images.MAX_BYTES)
    avatar = await request.app[AVATARS].put(principal, data, request.content_type)
    return web.json_response({"avatar": avatar})


async def remove_mine(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    await request.app[AVATARS].remove(principal)
    return web.Response(status=204)


async def picture(request: web.Request) -> web.Response:
    principal = require_session(request).principal
    served = await request.app[AVATARS].fetch(
        principal, request.match_info["sha256"], request.match_info["ext"]
    )
    headers = {**PICTURE_HEADERS, "ETag": f'"{served.sha256}"'}
    if any(tag.value == served.sha256 for tag in request.if_none_match or ()):
        return web.Response(status=304, headers=headers)
    return web.Response(body=served.data, content_type=served.content_type, headers=headers)
