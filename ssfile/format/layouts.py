"""The ``struct`` twin of :mod:`ssfile.format.schema` that the read paths use (no construct).

:mod:`ssfile.format.schema` stays THE declaration of every layout; this module holds what the
run-time paths need from it as plain ``struct`` code, so that opening and reading a file
does not import ``construct`` (18-23 ms of start-up): the literal ``struct`` formats of the
fixed-size parts, and the 128-byte file header's parser and builder.  tests/test_layouts.py
proves the twin equal to the declaration: the formats read off the construct declarations
equal these literals, and hypothesis-generated headers (valid and damaged) parse and build
identically through both, with the same error class, message and offset.
"""

from __future__ import annotations

import struct

from ..errors import BadMagic, FieldError, TruncatedError, UnsupportedVersion
from ..types import MAX_TIMESTAMP_MS
from . import constants as K
from .records import FileHeader

#: shard, sequence, timestamp, payload_size: the fixed part of a frame after the key
FRAME_FIXED_FMT = ">QQQL"
#: checksum, separator: the frame trailer
FRAME_TRAILER_FMT = ">HB"
#: shard, sequence, timestamp, running checksum: the fixed part of a marker after the key
MARKER_FIXED_FMT = ">QQQH"
#: separator, remaining bytes, marker count
BEACON_HEAD_FMT = ">BLB"
#: created_at, beacon_interval: the file header's fields after the file name
HEADER_TAIL_FMT = ">QL"

_HEADER_TAIL = struct.Struct(HEADER_TAIL_FMT)


def parse_file_header(data: bytes, offset: int = 0) -> FileHeader:
    """The file header at the start of ``data`` (absolute ``offset``); a :class:`FormatError`
    naming the offset of the first bad field."""
    if len(data) < 2 or data[:2] != K.MAGIC:
        if len(data) < 2:
            raise TruncatedError("file too short for a header", offset)
        raise BadMagic(f"not a .ss file: bad magic {bytes(data[:2])!r} (expected b'Ss')", offset)
    if len(data) >= 3 and data[2] != K.VERSION:
        raise UnsupportedVersion(
            f"unsupported format version {data[2]} (expected {K.VERSION})", offset + 2
        )
    n = data[3] if len(data) >= 4 else 0
    if n > K.MAX_FILE_NAME_READ:
        raise FieldError(f"header file name length {n} exceeds {K.MAX_FILE_NAME_READ}", offset + 3)
    if len(data) < K.HEADER_SIZE:
        raise TruncatedError(
            f"truncated header ({len(data)} of {K.HEADER_SIZE} bytes)", offset + len(data)
        )
    try:
        name = bytes(data[4 : 4 + n]).decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError("invalid UTF-8 in header file name", offset + 4) from None
    created_at, interval = _HEADER_TAIL.unpack_from(data, 4 + n)
    if created_at > MAX_TIMESTAMP_MS:
        raise FieldError(
            f"header created_at {created_at} is beyond the largest timestamp {MAX_TIMESTAMP_MS}",
            offset + 4 + n,
        )
    if interval < K.MIN_BEACON_INTERVAL:
        raise FieldError(
            f"beacon interval {interval} is below {K.MIN_BEACON_INTERVAL}", offset + 12 + n
        )
    return FileHeader(name, created_at, interval)


def build_file_header(header: FileHeader) -> bytes:
    """The 128 bytes of ``header``: magic, version, name, created_at, interval, zero padding
    ending in 0x0D (a name of more than 111 UTF-8 bytes or a field out of range raises
    ``ValueError``/``struct.error``; the writer checks its arguments first)."""
    name = header.file_name.encode("utf-8")
    n = len(name)
    if n > K.MAX_FILE_NAME_WRITE:
        raise ValueError(f"file name of {n} bytes does not fit the header")
    return b"".join(
        (
            K.MAGIC,
            bytes((K.VERSION, n)),
            name,
            _HEADER_TAIL.pack(header.created_at_ms, header.beacon_interval),
            bytes(K.HEADER_SIZE - 17 - n),
            bytes((K.SEPARATOR,)),
        )
    )
