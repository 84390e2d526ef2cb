"""Real pictures for tests, made and read back by FFmpeg's encoders and decoders (PyAV, which
the media relay already needs), and the metadata phones and editors put in them."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from typing import Any

import av
import numpy as np

CODECS = {"png": ("png", "rgb24"), "jpeg": ("mjpeg", "yuvj420p"), "webp": ("libwebp", "yuv420p")}
# Text that must not survive cleaning: where the photo was taken, and what took it.
SECRET = b"GPS 52.3731N 4.8922E camera serial 4711"


def pixels(width: int, height: int) -> Any:
    """Two halves, red and blue: enough for a decoder to get wrong if bytes were lost."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (200, 30, 30)
    image[:, width // 2 :] = (20, 40, 220)
    return image


def encode(kind: str, width: int = 40, height: int = 30) -> bytes:
    codec, pix_fmt = CODECS[kind]
    context: Any = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(pixels(width, height), format="rgb24").reformat(
        format=pix_fmt
    )
    frame.pts = 0
    packets = [*context.encode(frame), *context.encode(None)]
    return b"".join(bytes(p) for p in packets)


def decode(kind: str, data: bytes) -> Any:
    """The picture's pixels (RGB), as FFmpeg's decoder draws them."""
    context: Any = av.CodecContext.create({"jpeg": "mjpeg"}.get(kind, kind), "r")
    frames = [*context.decode(av.Packet(data)), *context.decode(None)]
    assert len(frames) == 1, f"{len(frames)} frames"
    return frames[0].to_ndarray(format="rgb24")


def exif(orientation: int = 6) -> bytes:
    """A little-endian EXIF block: orientation, then a GPS-ish text and the secret."""
    entries = [
        struct.pack("<HHI", 0x010F, 2, len(SECRET)) + struct.pack("<I", 8 + 2 + 12 * 3 + 4),
        struct.pack("<HHIH2x", 0x0112, 3, 1, orientation),
        struct.pack("<HHII", 0x8825, 4, 1, 0),
    ]
    return b"II*\x00" + struct.pack("<IH", 8, 3) + b"".join(entries) + b"\x00" * 4 + SECRET


def png_chunk(name: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))


def png_with_metadata(png: bytes) -> bytes:
    """Text, EXIF and a time after the header, and bytes after the end."""
    ihdr_end = 8 + 25
    extra = (
        png_chunk(b"tEXt", b"Comment\x00" + SECRET)
        + png_chunk(b"eXIf", exif())
        + png_chunk(b"tIME", b"\x07\xea\x0c\x06\x0a\x00\x00")
    )
    return png[:ihdr_end] + extra + png[ihdr_end:] + b"PK\x03\x04" + SECRET


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with_metadata(jpeg: bytes, orientation: int = 6) -> bytes:
    """EXIF (orientation, GPS), XMP and a comment after SOI, and bytes after EOI."""
    extra = (
        jpeg_segment(0xE1, b"Exif\x00\x00" + exif(orientation))
        + jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + SECRET)
        + jpeg_segment(0xFE, SECRET)
    )
    return jpeg[:2] + extra + jpeg[2:] + SECRET


def webp_chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def webp_with_metadata(webp: bytes, width: int, height: int, orientation: int = 6) -> bytes:
    """The simple file made extended (VP8X) with EXIF and XMP chunks, as cameras write it."""
    image = webp[12:]
    flags = 0x08 | 0x04
    vp8x = bytes((flags, 0, 0, 0)) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    body = (
        webp_chunk(b"VP8X", vp8x)
        + image
        + webp_chunk(b"EXIF", exif(orientation))
        + webp_chunk(b"XMP ", b"<x:xmpmeta>" + SECRET)
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def with_metadata(
    kind: str, data: bytes, width: int = 40, height: int = 30, orientation: int = 6
) -> bytes:
    if kind == "png":
        return png_with_metadata(data)
    if kind == "jpeg":
        return jpeg_with_metadata(data, orientation)
    return webp_with_metadata(data, width, height, orientation)


def png_of_size(width: int, height: int) -> bytes:
    """A PNG whose header claims this size (one pixel row of data: enough for the check)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" + b"\x00\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )
