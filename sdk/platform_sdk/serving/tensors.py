"""OIP's binary tensor data extension: raw row-major little-endian tensors, BYTES as length-prefixed items."""

from __future__ import annotations

import struct
from typing import Any

from platform_sdk.serving.schema import RequestError

FORMATS = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
LENGTH = struct.Struct("<I")


def decode(name: str, datatype: str, raw: bytes) -> list[Any]:
    """The flat elements of one binary tensor; BYTES items stay bytes."""
    if datatype == "BYTES":
        items, offset = [], 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise _bad(name, "a BYTES element's 4-byte length is cut short")
            (size,) = LENGTH.unpack_from(raw, offset)
            offset += 4
            if offset + size > len(raw):
                raise _bad(name, "a BYTES element runs past the tensor's binary_data_size")
            items.append(raw[offset : offset + size])
            offset += size
        return items
    code = FORMATS.get(datatype)
    if code is None:
        raise _bad(name, f"unsupported datatype {datatype!r}; expected BYTES or one of {', '.join(FORMATS)}")
    width = struct.calcsize(code)
    if len(raw) % width:
        raise _bad(name, f"binary_data_size {len(raw)} is not a multiple of {width} bytes for {datatype}")
    return list(struct.unpack(f"<{len(raw) // width}{code}", raw))


def encode(datatype: str, flat: list[Any]) -> bytes:
    """The raw bytes of a flat list of elements (str items of a BYTES tensor are sent as UTF-8)."""
    if datatype != "BYTES":
        return struct.pack(f"<{len(flat)}{FORMATS[datatype]}", *flat)
    parts = []
    for item in flat:
        data = item if isinstance(item, bytes) else str(item).encode()
        parts += [LENGTH.pack(len(data)), data]
    return b"".join(parts)


def _bad(name: str, problem: str) -> RequestError:
    return RequestError(400, "bad_request", f"tensor '{name}': {problem}")
