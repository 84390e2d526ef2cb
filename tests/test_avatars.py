"""Profile pictures: checked and cleaned of metadata, set and removed by their owner, shown to
colleagues (presence carries the address, live), fetched only by those who may see them,
exported with the person's data and gone with the account."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.db.models import Avatar
from server.http.keys import DB
from server.infra.errors import AppError, ErrorCode
from server.people import images
from tests.browsers import Browser, Upload
from tests.conftest import Office, RealtimeClient
from tests.people import Person, rooms_by_name
from tests.pictures import SECRET, decode, encode, png_of_size, with_metadata

KINDS = ("png", "jpeg", "webp")


def refusal(data: bytes, content_type: str) -> AppError:
    with pytest.raises(AppError) as caught:
        images.clean(data, content_type)
    return caught.value


# -- the file itself --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_picture_loses_its_metadata_and_draws_the_same(kind: str) -> None:
    original = encode(kind, 40, 30)
    uploaded = with_metadata(kind, original)
    assert SECRET in uploaded
    picture = images.clean(uploaded, f"image/{kind}")
    assert (picture.kind.value, picture.width, picture.height) == (kind, 40, 30)
    assert SECRET not in picture.data and b"xmpmeta" not in picture.data
    # Not a pixel changed: FFmpeg's decoder draws the cleaned file as it drew the original.
    assert np.array_equal(decode(kind, picture.data), decode(kind, original))
    assert images.clean(picture.data, f"image/{kind}").data == picture.data  # nothing left


@pytest.mark.parametrize("kind", ["jpeg", "webp"])
def test_a_phone_photo_keeps_its_orientation_alone(kind: str) -> None:
    picture = images.clean(with_metadata(kind, encode(kind)), f"image/{kind}")
    exif = picture.data[picture.data.index(b"MM\x00\x2a") :]
    assert images.exif_orientation(exif) == 6
    assert images.exif_orientation(images.orientation_only(3)) == 3
    # Upright photos need no EXIF at all.
    upright = with_metadata(kind, encode(kind), orientation=1)
    assert b"MM\x00\x2a" not in images.clean(upright, f"image/{kind}").data


def test_what_is_refused_and_why() -> None:
    png, jpeg = encode("png"), encode("jpeg")
    # Unsupported or mislabelled: 415.
    assert refusal(jpeg, "image/png").code is ErrorCode.UNSUPPORTED_MEDIA_TYPE
    assert "JPEG" in refusal(jpeg, "image/png").message
    assert refusal(png, "image/gif").code is ErrorCode.UNSUPPORTED_MEDIA_TYPE
    assert refusal(b"GIF89a" + png, "image/png").code is ErrorCode.UNSUPPORTED_MEDIA_TYPE
    assert refusal(b"<svg onload=alert(1)>", "image/webp").code is ErrorCode.UNSUPPORTED_MEDIA_TYPE
    # Too large: 413, whatever it is.
    assert refusal(png + b"\0" * images.MAX_BYTES, "image/png").code is ErrorCode.TOO_LARGE
    # Damaged, empty, or a size out of bounds: 400.
    damaged = bytearray(png)
    damaged[-20] ^= 0xFF  # inside the image data
    for bad, why in (
        (bytes(damaged), "checksum"),
        (png[:-12], "IEND"),
        (jpeg[:-30], "ends inside"),
        (b"", "empty"),
        (png_of_size(0, 10), "1 to 4096"),
        (png_of_size(4097, 10), "4097 by 10"),
        (encode("webp")[:20], "damaged"),
    ):
        kind = images.sniff(bad)
        error = refusal(bad, kind.content_type if kind else "image/png")
        assert error.code is ErrorCode.INVALID and why in error.message, (why, error.message)
    assert images.clean(png_of_size(4096, 1), "image/png").width == 4096


# -- over HTTP ----------------------------------------------------------------------------------


async def test_set_fetch_cache_and_remove_a_picture(
    client: TestClient[Any, Any], office: Office, browser: Callable[[], Browser]
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    bob = await browser().sign_in("bob@acme.example")
    eve = await browser().sign_in("eve@other.example")
    assert await (await alice.request("GET", "/api/me/avatar")).json() == {"avatar": None}

    uploaded = with_metadata("jpeg", encode("jpeg", 64, 48))
    put = await alice.request("PUT", "/api/me/avatar", upload=Upload(uploaded, "image/jpeg"))
    assert put.status == 200, await put.text()
    avatar = (await put.json())["avatar"]
    assert avatar["url"].startswith("/api/avatars/") and avatar["url"].endswith(".jpg")
    assert (avatar["content_type"], avatar["width"], avatar["height"]) == ("image/jpeg", 64, 48)
    assert await (await alice.request("GET", "/api/me/avatar")).json() == {"avatar": avatar}

    # A colleague fetches it: the picture without metadata, under its own type, never sniffed,
    # running nothing, kept by the browser for good.
    served = await bob.request("GET", avatar["url"])
    assert served.status == 200
    body = await served.read()
    assert SECRET not in body and len(body) == avatar["bytes"]
    assert avatar["url"] == f"/api/avatars/{served.headers['ETag'].strip(chr(34))}.jpg"
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "immutable" in served.headers["Cache-Control"]
    assert "private" in served.headers["Cache-Control"]
    again = await bob.request(
        "GET", avatar["url"], headers={"If-None-Match": served.headers["ETag"]}
    )
    assert again.status == 304 and await again.read() == b""
    # Nobody else: another organization finds nothing there, nor does a signed-out browser.
    assert (await eve.request("GET", avatar["url"])).status == 404
    assert (await browser().request("GET", avatar["url"])).status == 401
    # An address that differs in its type is not the picture.
    assert (await bob.request("GET", avatar["url"][:-4] + ".png")).status == 404

    # A new picture is a new address; the old one is gone.
    png = encode("png")
    second = await alice.request("PUT", "/api/me/avatar", upload=Upload(png, "image/png"))
    new_url = (await second.json())["avatar"]["url"]
    assert new_url != avatar["url"] and new_url.endswith(".png")
    assert (await bob.request("GET", avatar["url"])).status == 404
    assert await (await bob.request("GET", new_url)).read() == images.clean(png, "image/png").data

    removed = await alice.request("DELETE", "/api/me/avatar")
    assert removed.status == 204
    assert (await bob.request("GET", new_url)).status == 404
    assert await (await alice.request("GET", "/api/me/avatar")).json() == {"avatar": None}
    assert (await alice.request("DELETE", "/api/me/avatar")).status == 204  # none: fine


async def test_a_refused_upload_says_why_and_changes_nothing(
    client: TestClient[Any, Any], office: Office, browser: Callable[[], Browser]
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    png = encode("png")
    kept = await alice.request("PUT", "/api/me/avatar", upload=Upload(png, "image/png"))
    before = (await kept.json())["avatar"]

    async def refused(data: bytes, content_type: str) -> tuple[int, str]:
        response = await alice.request("PUT", "/api/me/avatar", upload=Upload(data, content_type))
        return response.status, (await response.json())["error"]["code"]

    assert await refused(encode("jpeg"), "image/png") == (415, "unsupported_media_type")
    assert await refused(b"<html><script>alert(1)</script>", "text/html") == (
        415,
        "unsupported_media_type",
    )
    assert await refused(png + b"\0" * images.MAX_BYTES, "image/png") == (413, "too_large")
    assert await refused(png_of_size(5000, 5000), "image/png") == (400, "invalid")
    assert await refused(png[:50], "image/png") == (400, "invalid")
    assert await (await alice.request("GET", "/api/me/avatar")).json() == {"avatar": before}
    # The CSRF token is required like for any change.
    no_csrf = await alice.request("DELETE", "/api/me/avatar", csrf=False)
    assert no_csrf.status == 403
    assert await (await alice.request("GET", "/api/me/avatar")).json() == {"avatar": before}


# -- in the office ----------------------------------------------------------------------------


async def connected(browser: Browser, realtime: Callable[[], RealtimeClient]) -> Person:
    return Person(await browser.connect(realtime()))


async def test_colleagues_see_a_new_picture_at_once_and_in_every_snapshot(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    def pictures(snapshot: dict[str, Any]) -> dict[int, str | None]:
        return {p["user_id"]: p["avatar_url"] for p in snapshot["people"]}

    alice = await browser().sign_in("alice@acme.example")
    bob = await connected(await browser().sign_in("bob@acme.example"), realtime)
    assert pictures(await bob.call("office:snapshot"))[office.alice.id] is None
    # Set before Alice was ever online: snapshots read it from her account...
    put = await alice.request("PUT", "/api/me/avatar", upload=Upload(encode("webp"), "image/webp"))
    first = (await put.json())["avatar"]["url"]
    assert pictures(await bob.call("office:snapshot"))[office.alice.id] == first
    # ...and her presence takes it from there when she comes online.
    await connected(alice, realtime)
    await bob.seen(office.alice.id, status="available", avatar_url=first)

    # A change while she is online reaches Bob at once, without his asking.
    put = await alice.request("PUT", "/api/me/avatar", upload=Upload(encode("png"), "image/png"))
    second = (await put.json())["avatar"]["url"]
    await bob.seen(office.alice.id, avatar_url=second)
    assert pictures(await bob.call("office:snapshot"))[office.alice.id] == second

    assert (await alice.request("DELETE", "/api/me/avatar")).status == 204
    await bob.seen(office.alice.id, avatar_url=None)
    assert pictures(await bob.call("office:snapshot"))[office.alice.id] is None


async def test_a_guest_sees_the_pictures_of_the_people_in_their_room_only(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    rooms = await rooms_by_name(client, office.org.id)
    alice = await browser().sign_in("alice@acme.example")
    bob = await browser().sign_in("bob@acme.example")
    alice_tab = await connected(alice, realtime)
    await connected(bob, realtime)
    urls = {}
    for who, kind in ((alice, "png"), (bob, "jpeg")):
        picture = Upload(encode(kind), f"image/{kind}")
        put = await who.request("PUT", "/api/me/avatar", upload=picture)
        urls[who] = (await put.json())["avatar"]["url"]
    await alice_tab.call("room:enter", {"room_id": rooms["Lobby"]})
    link = await alice.request(
        "POST",
        f"/api/office/rooms/{rooms['Lobby']}/guest-links",
        json={"requires_admission": False},
    )
    token = (await link.json())["token"]
    guest = browser()
    joined = await guest.request(
        "POST", f"/api/guest-links/{token}/join", json={"display_name": "Grace"}
    )
    guest.csrf = (await joined.json())["csrf_token"]
    guest_tab = await connected(guest, realtime)
    # Outside the room, a guest sees nobody's picture.
    assert (await guest.request("GET", urls[alice])).status == 404
    await guest_tab.call("room:enter", {"room_id": rooms["Lobby"]})
    shown = await guest_tab.wait_for(
        lambda: [
            p["avatar_url"]
            for event in guest_tab.received("guest:room")
            for p in event["people"]
            if p["user_id"] == office.alice.id
        ]
    )
    assert shown[-1] == urls[alice]
    assert (await guest.request("GET", urls[alice])).status == 200
    assert (await guest.request("GET", urls[bob])).status == 404  # Bob is not in the room
    mine = await guest.request("PUT", "/api/me/avatar", upload=Upload(encode("png"), "image/png"))
    assert mine.status == 403  # guests have no account, so no picture
    await alice_tab.call("room:leave")
    assert (await guest.request("GET", urls[alice])).status == 404


# -- data rights ------------------------------------------------------------------------------


async def test_the_picture_is_exported_and_goes_with_the_account(
    client: TestClient[Any, Any],
    office: Office,
    browser: Callable[[], Browser],
    realtime: Callable[[], RealtimeClient],
) -> None:
    alice = await browser().sign_in("alice@acme.example")
    bob = await browser().sign_in("bob@acme.example")
    bob_tab = await connected(bob, realtime)
    await connected(alice, realtime)
    put = await alice.request("PUT", "/api/me/avatar", upload=Upload(encode("png"), "image/png"))
    avatar = (await put.json())["avatar"]
    stored = await (await bob.request("GET", avatar["url"])).read()

    export = await alice.request("GET", "/api/me/export")
    with zipfile.ZipFile(io.BytesIO(await export.read())) as archive:
        assert "avatar/picture.json" in json.loads(archive.read("manifest.json"))["files"]
        (picture,) = json.loads(archive.read("avatar/picture.json"))
        assert "`avatar/`" in archive.read("README.md").decode()
    assert base64.b64decode(picture["data_base64"]) == stored
    assert (picture["content_type"], picture["width"], picture["height"]) == ("image/png", 40, 30)
    # The organization's export has nobody's face.
    admin = await browser().sign_in("admin@acme.example")
    org_export = await admin.request("GET", "/api/org/export")
    with zipfile.ZipFile(io.BytesIO(await org_export.read())) as archive:
        assert not [n for n in archive.namelist() if n.startswith("avatar/")]
        assert avatar["url"].split("/")[-1][:64] not in archive.read("account/people.json").decode()

    closed = await alice.request("POST", "/api/me/close-account", json={"confirm": True})
    assert closed.status == 204
    async with client.app[DB]() as session:
        assert (await session.scalars(select(Avatar))).all() == []
    assert (await bob.request("GET", avatar["url"])).status == 404
    gone = await bob_tab.seen(office.alice.id, display_name="Anonymous user")
    assert gone["avatar_url"] is None
