"""Pictures people upload (profile pictures), checked and cleaned without decoding a pixel.

The bytes must be the format their Content-Type declares (PNG, JPEG or WebP, told by the magic
number), well-formed as a container (PNG chunks with their CRCs, JPEG segments through EOI,
WebP's RIFF chunks), and the width and height their header gives (PNG IHDR, JPEG SOF, WebP
VP8/VP8L/VP8X) within ``MAX_SIDE``. What is kept is the same picture without what does not draw
it: text chunks, EXIF (GPS positions, camera serial numbers, a thumbnail of the uncropped
photo), XMP, comments, JFIF thumbnails, animation frames past a PNG's first, and anything after
the end of the image. Only EXIF's orientation survives, rewritten alone, so a phone photo stays
upright. Colour profiles stay: they are part of how the picture looks.

No pixel is decoded here (the browser that shows the picture does that, in its sandbox), so a
hostile file meets a few hundred lines of bounds-checked parsing, not an image codec.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import StrEnum

from server.infra.errors import AppError, ErrorCode, invalid

MAX_BYTES = 512 * 1024
MAX_SIDE = 4096


class Kind(StrEnum):
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"

    @property
    def content_type(self) -> str:
        return f"image/{self.value}"

    @property
    def extension(self) -> str:
        return "jpg" if self is Kind.JPEG else self.value


BY_CONTENT_TYPE = {kind.content_type: kind for kind in Kind}
BY_EXTENSION = {kind.extension: kind for kind in Kind}


@dataclass(frozen=True)
class Picture:
    kind: Kind
    width: int
    height: int
    data: bytes  # cleaned: what is stored and served


def address(sha256: str, kind: str) -> str:
    """Where a stored picture is served: named by its content, so each picture has its own
    address and a browser may keep it for good."""
    return f"/api/avatars/{sha256}.{Kind(kind).extension}"


def unsupported(message: str) -> AppError:
    return AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, message)


def too_large() -> AppError:
    return AppError(
        ErrorCode.TOO_LARGE,
        f"the picture is larger than {MAX_BYTES // 1024} KB; choose a smaller one",
    )


def sniff(data: bytes) -> Kind | None:
    """The format the bytes are, by their magic number."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Kind.WEBP
    return None


def clean(data: bytes, content_type: str) -> Picture:
    """The picture ``data`` holds, without metadata; refused with ``too_large`` (over
    ``MAX_BYTES``), ``unsupported_media_type`` (not a PNG, JPEG or WebP, or not the one
    ``content_type`` names) or ``invalid`` (damaged, or a side of 0 or over ``MAX_SIDE``)."""
    if len(data) > MAX_BYTES:
        raise too_large()
    declared = BY_CONTENT_TYPE.get(content_type.strip().lower())
    if declared is None:
        raise unsupported(
            "send a PNG, JPEG or WebP picture (Content-Type image/png, image/jpeg or image/webp)"
        )
    if not data:
        raise invalid("the picture is empty")
    found = sniff(data)
    if found is not declared:
        what = f"a {found.name}" if found else "not a PNG, JPEG or WebP picture"
        raise unsupported(f"the file is {what}, but was sent as {declared.content_type}")
    try:
        cleaned, width, height = _CLEANERS[found](data)
    except (struct.error, IndexError):
        raise _damaged(found) from None
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise invalid(
            f"the picture is {width} by {height} pixels; each side must be 1 to {MAX_SIDE} pixels"
        )
    return Picture(found, width, height, cleaned)


def _damaged(kind: Kind, detail: str = "") -> AppError:
    return invalid(f"the {kind.name} file is damaged{': ' + detail if detail else ''}")


# -- EXIF orientation -------------------------------------------------------------------------

ORIENTATION_TAG = 0x0112


def exif_orientation(tiff: bytes) -> int | None:
    """The orientation (1-8) in EXIF's first directory, if it gives one."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    magic, directory = struct.unpack(order + "HI", tiff[2:8])
    if magic != 42 or directory + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[directory : directory + 2])
    for k in range(count):
        at = directory + 2 + 12 * k
        if at + 12 > len(tiff):
            return None
        tag, kind, n = struct.unpack(order + "HHI", tiff[at : at + 8])
        if tag == ORIENTATION_TAG and kind == 3 and n == 1:  # one SHORT
            (value,) = struct.unpack(order + "H", tiff[at + 8 : at + 10])
            return value if 1 <= value <= 8 else None
    return None


def orientation_only(orientation: int) -> bytes:
    """An EXIF (TIFF) block that says nothing but the orientation."""
    entry = struct.pack(">HHIH2x", ORIENTATION_TAG, 3, 1, orientation)
    return b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + entry + struct.pack(">I", 0)


# -- PNG ----------------------------------------------------------------------------------------

# What draws the picture (its first frame): everything else goes, text and eXIf included.
PNG_KEPT = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT"}
)


def _png(data: bytes) -> tuple[bytes, int, int]:
    kept = [data[:8]]
    at, width, height, images = 8, 0, 0, 0
    while True:
        if at + 12 > len(data):
            raise _damaged(Kind.PNG, "it ends before its IEND chunk")
        length, name = struct.unpack(">I4s", data[at : at + 8])
        end = at + 12 + length
        if end > len(data) or not name.isalpha():
            raise _damaged(Kind.PNG, "a chunk runs past the end")
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[at + 4 : end - 4]) != crc:
            raise _damaged(Kind.PNG, f"the checksum of a {name.decode()} chunk does not match")
        if at == 8:
            if name != b"IHDR" or length != 13:
                raise _damaged(Kind.PNG, "it does not start with IHDR")
            width, height = struct.unpack(">II", data[at + 8 : at + 16])
        images += name == b"IDAT"
        if name in PNG_KEPT:
            kept.append(data[at:end])
        at = end
        if name == b"IEND":
            break
    if not images:
        raise _damaged(Kind.PNG, "it holds no image data")
    return b"".join(kept), width, height


# -- JPEG ---------------------------------------------------------------------------------------

SOI, EOI, SOS, APP0, APP1, APP2, APP14 = 0xD8, 0xD9, 0xDA, 0xE0, 0xE1, 0xE2, 0xEE
# Tables, frame and scan headers: what a decoder needs. APPn (EXIF, XMP, IPTC...) and COM go,
# except JFIF (its thumbnail dropped), an ICC profile and Adobe's colour transform flag.
JPEG_TABLES = frozenset({0xC4, 0xCC, 0xDB, 0xDD, 0xDC})
SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg(data: bytes) -> tuple[bytes, int, int]:
    kept: list[bytes] = []
    at, size, orientation, scans = 2, (0, 0), None, 0
    while True:
        if at >= len(data) or data[at] != 0xFF:
            raise _damaged(Kind.JPEG, "a segment does not start with a marker")
        while at < len(data) and data[at] == 0xFF:  # fill bytes
            at += 1
        marker = data[at]
        at += 1
        if marker == EOI:
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01 or marker == SOI:
            raise _damaged(Kind.JPEG, "a marker is out of place")
        (length,) = struct.unpack(">H", data[at : at + 2])
        if length < 2 or at + length > len(data):
            raise _damaged(Kind.JPEG, "a segment runs past the end")
        payload = data[at + 2 : at + length]
        at += length
        if marker in SOF:
            if len(payload) < 6:
                raise _damaged(Kind.JPEG, "its frame header is short")
            height, width = struct.unpack(">HH", payload[1:5])
            size = (width, height)
            kept.append(_segment(marker, payload))
        elif marker in JPEG_TABLES:
            kept.append(_segment(marker, payload))
        elif marker == APP0 and payload.startswith(b"JFIF\x00") and len(payload) >= 14:
            kept.append(_segment(marker, payload[:12] + b"\x00\x00"))  # no thumbnail
        elif marker == APP1 and payload.startswith(b"Exif\x00\x00"):
            orientation = exif_orientation(payload[6:])
        elif (marker == APP2 and payload.startswith(b"ICC_PROFILE\x00")) or (
            marker == APP14 and payload.startswith(b"Adobe")
        ):
            kept.append(_segment(marker, payload))
        elif marker == SOS:
            if size == (0, 0):
                raise _damaged(Kind.JPEG, "a scan comes before the frame header")
            scans += 1
            start = at
            while True:  # entropy-coded data, up to the next marker that is not RSTn
                found = data.find(b"\xff", at)
                if found < 0 or found + 1 >= len(data):
                    raise _damaged(Kind.JPEG, "it ends inside the image data")
                following = data[found + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    at = found + 1 if following == 0xFF else found + 2
                    continue
                break
            kept.append(_segment(marker, payload) + data[start:found])
            at = found
    if not scans:
        raise _damaged(Kind.JPEG, "it holds no image data")
    if orientation is not None and orientation != 1:
        exif = _segment(APP1, b"Exif\x00\x00" + orientation_only(orientation))
        kept.insert(1 if kept and kept[0][1] == APP0 else 0, exif)
    return b"\xff\xd8" + b"".join(kept) + b"\xff\xd9", size[0], size[1]


# -- WebP ---------------------------------------------------------------------------------------

WEBP_KEPT = frozenset({b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ICCP", b"ANIM", b"ANMF"})
VP8X_EXIF, VP8X_XMP = 0x08, 0x04


def _webp(data: bytes) -> tuple[bytes, int, int]:
    (riff,) = struct.unpack("<I", data[4:8])
    end = 8 + riff
    if end > len(data) or riff < 4:
        raise _damaged(Kind.WEBP, "it is shorter than its header says")
    chunks: list[tuple[bytes, bytes]] = []
    at = 12
    while at < end:
        if at + 8 > end:
            raise _damaged(Kind.WEBP, "a chunk header is cut off")
        name, length = struct.unpack("<4sI", data[at : at + 8])
        if at + 8 + length > end:
            raise _damaged(Kind.WEBP, "a chunk runs past the end")
        chunks.append((name, data[at + 8 : at + 8 + length]))
        at += 8 + length + (length & 1)
    if not chunks:
        raise _damaged(Kind.WEBP, "it holds no image")
    first, body = chunks[0]
    orientation = None
    if first == b"VP8 ":
        if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a":
            raise _damaged(Kind.WEBP, "its VP8 frame header is wrong")
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", body[6:10]))
    elif first == b"VP8L":
        if len(body) < 5 or body[0] != 0x2F:
            raise _damaged(Kind.WEBP, "its lossless header is wrong")
        (bits,) = struct.unpack("<I", body[1:5])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif first == b"VP8X":
        if len(body) < 10:
            raise _damaged(Kind.WEBP, "its extended header is short")
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        images = {name for name, _ in chunks} & {b"VP8 ", b"VP8L", b"ANMF"}
        if not images:
            raise _damaged(Kind.WEBP, "it holds no image data")
        exif = next((b for n, b in chunks if n == b"EXIF"), None)
        if exif is not None:
            orientation = exif_orientation(exif.removeprefix(b"Exif\x00\x00"))
    else:
        raise _damaged(Kind.WEBP, "it starts with an unknown chunk")
    kept = [(n, b) for n, b in chunks if n in WEBP_KEPT]
    if first == b"VP8X":
        flags = body[0] & ~(VP8X_EXIF | VP8X_XMP)
        if orientation is not None and orientation != 1:
            flags |= VP8X_EXIF
            kept.append((b"EXIF", orientation_only(orientation)))
        kept[0] = (b"VP8X", bytes((flags,)) + body[1:10])
    out = b"".join(
        name + struct.pack("<I", len(b)) + b + (b"\x00" if len(b) & 1 else b"") for name, b in kept
    )
    return b"RIFF" + struct.pack("<I", 4 + len(out)) + b"WEBP" + out, width, height


_CLEANERS = {Kind.PNG: _png, Kind.JPEG: _jpeg, Kind.WEBP: _webp}
