"""Precompiled ``struct`` twins of the schema, for the hot loops.

The formats come from :mod:`ssfile.format.layouts`, whose literals tests/test_layouts.py
holds equal to the construct declarations of :mod:`ssfile.format.schema` (so the layout is
still declared once); tests/test_fast_path.py proves these functions equal to the schema's
parse/build on fixtures and on hypothesis-generated records.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..errors import FieldError, TruncatedError
from ..format import constants as K
from ..format.layouts import BEACON_HEAD_FMT, FRAME_FIXED_FMT, FRAME_TRAILER_FMT, MARKER_FIXED_FMT
from ..format.records import Beacon, Marker, MessageHeader, is_valid_stream_key
from ..types import MAX_TIMESTAMP_MS

if TYPE_CHECKING:
    import mmap

FRAME_FIXED = struct.Struct(FRAME_FIXED_FMT)  # shard, seq, ts, payload length
MARKER_FIXED = struct.Struct(MARKER_FIXED_FMT)  # shard, seq, ts, running checksum
BEACON_HEAD = struct.Struct(BEACON_HEAD_FMT)  # separator, remaining, marker count
FRAME_FIXED_SIZE = FRAME_FIXED.size  # 28
#: ``FRAME_HEADS[k]``: a frame's head for a k-byte key in one struct, for the hot loops:
#: key length, key, shard, seq, ts, payload length (then the payload, then FRAME_TRAILER)
FRAME_HEADS = tuple(struct.Struct(f">B{k}s{FRAME_FIXED_FMT[1:]}") for k in range(256))
FRAME_TRAILER = struct.Struct(FRAME_TRAILER_FMT)  # checksum, separator
BEACON_HEAD_SIZE = BEACON_HEAD.size  # 6


def beacon_size_at(buf: bytes | memoryview | mmap.mmap, pos: int) -> int | None:
    """Size of the beacon starting at ``buf[pos]``, or None if ``buf`` ends inside it."""
    end = len(buf)
    if pos + BEACON_HEAD_SIZE > end:
        return None
    count = buf[pos + 5]
    p = pos + BEACON_HEAD_SIZE
    for _ in range(count):
        if p >= end:
            return None
        p += K.MARKER_FIXED + buf[p]
    p += 1
    return p - pos if p <= end else None


def decode_key(raw: bytes, offset: int, what: str = "message frame") -> str:
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FieldError(f"invalid UTF-8 in stream key of {what}", offset) from err
    if not is_valid_stream_key(key):
        raise FieldError(f"invalid stream key {key!r} in {what}", offset)
    return key


def parse_beacon_fast(buf: bytes, pos: int, offset: int, index: int) -> Beacon:
    """Parse a complete beacon at ``buf[pos]`` (check :func:`beacon_size_at` first)."""
    _sep, remaining, count = BEACON_HEAD.unpack_from(buf, pos)
    p = pos + BEACON_HEAD_SIZE
    markers = []
    for _ in range(count):
        k = buf[p]
        if p + K.MARKER_FIXED + k > len(buf):
            raise TruncatedError("truncated beacon", offset)
        key = decode_key(buf[p + 1 : p + 1 + k], offset, "beacon marker")
        shard, seq, ts, running = MARKER_FIXED.unpack_from(buf, p + 1 + k)
        if ts > MAX_TIMESTAMP_MS:
            raise FieldError(f"timestamp {ts} out of range in beacon marker", offset)
        markers.append(Marker(MessageHeader(key, shard, seq, ts), running))
        p += K.MARKER_FIXED + k
    return Beacon(offset, index, remaining, tuple(markers), p + 1 - pos)


def build_frame_fast(
    key_bytes: bytes, shard: int, seq: int, ts: int, payload: bytes, checksum: int
) -> bytes:
    """Encode one frame (key already validated and encoded)."""
    k = len(key_bytes)
    return b"".join(
        (
            FRAME_HEADS[k].pack(k, key_bytes, shard, seq, ts, len(payload)),
            payload,
            FRAME_TRAILER.pack(checksum, K.SEPARATOR),
        )
    )


def build_beacon_fast(remaining: int, markers: list[tuple[bytes, int, int, int, int]]) -> bytes:
    """Encode a beacon from ``(key_bytes, shard, seq, ts, running)`` tuples."""
    parts = [BEACON_HEAD.pack(K.SEPARATOR, remaining, len(markers))]
    for key_bytes, shard, seq, ts, running in markers:
        parts.append(bytes((len(key_bytes),)))
        parts.append(key_bytes)
        parts.append(MARKER_FIXED.pack(shard, seq, ts, running))
    parts.append(bytes((K.SEPARATOR,)))
    return b"".join(parts)
