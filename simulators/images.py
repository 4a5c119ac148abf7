"""Camera frames drawn locally as small PNG files, using only zlib and struct."""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC of type and data."""
    return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG from `height` rows of `width` * 3 bytes each."""
    if len(rows) != height or any(len(row) != width * 3 for row in rows):
        raise ValueError("rows do not match the image size")
    header = struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def frame(number: int, width: int = 64, height: int = 48) -> bytes:
    """Frame `number` of a test scene: a gradient with a square that moves one step per frame."""
    side = max(4, height // 4)
    x0 = (number * 3) % max(1, width - side)
    y0 = (number * 2) % max(1, height - side)
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            inside = x0 <= x < x0 + side and y0 <= y < y0 + side
            row += (
                bytes((255, 60, 40)) if inside else bytes(((x * 4) % 256, (y * 5) % 256, (number * 7) % 256))
            )
        rows.append(bytes(row))
    return encode_png(width, height, rows)


def size_of(png: bytes) -> tuple[int, int]:
    """Width and height read back from a PNG's header."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    width, height = struct.unpack("!II", png[16:24])
    return int(width), int(height)
