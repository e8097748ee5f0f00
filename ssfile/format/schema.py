"""THE byte layouts of the ``.ss`` format, declared once with ``construct``.

Everything else derives from these declarations: the typed parse/build functions below,
the ``struct`` formats read off them (:data:`FRAME_FIXED_FMT`), and the spec-table test that
holds spec/ss-format.md to this file.  The read and write paths use the ``struct`` twin in
:mod:`.layouts` (no construct import at start-up); tests/test_layouts.py holds it equal to
these declarations.
"""

from __future__ import annotations

import construct as c
from construct import this

from ..errors import BadMagic, FieldError, FormatError, TruncatedError, UnsupportedVersion
from ..types import MAX_TIMESTAMP_MS
from . import constants as K
from .records import Beacon, FileHeader, Marker, MessageHeader, is_valid_stream_key

ShortString = c.PascalString(c.Int8ub, "utf8")

FileHeaderLayout = c.Struct(
    "magic" / c.Bytes(2),
    "version" / c.Int8ub,
    "file_name" / ShortString,
    "created_at" / c.Int64ub,
    "beacon_interval" / c.Int32ub,
    # zero bytes then 0x0D; the whole header is 128 bytes
    "padding" / c.Bytes(lambda ctx: K.HEADER_SIZE - 16 - len(ctx.file_name.encode("utf-8"))),
)

MessageHeaderLayout = c.Struct(
    "stream_key" / ShortString,
    "shard_id" / c.Int64ub,
    "sequence" / c.Int64ub,
    "timestamp" / c.Int64ub,
)

MessageFrameLayout = c.Struct(
    "header" / MessageHeaderLayout,
    "payload_size" / c.Rebuild(c.Int32ub, c.len_(this.payload)),
    "payload" / c.Bytes(this.payload_size),
    "checksum" / c.Int16ub,
    "separator" / c.Default(c.Int8ub, K.SEPARATOR),
)

MarkerLayout = c.Struct(
    "header" / MessageHeaderLayout,
    "running_checksum" / c.Int16ub,
)

BeaconLayout = c.Struct(
    "separator" / c.Default(c.Int8ub, K.SEPARATOR),
    "remaining_messages_bytes" / c.Int32ub,
    "markers" / c.PrefixedArray(c.Int8ub, MarkerLayout),
    "terminator" / c.Default(c.Int8ub, K.SEPARATOR),
)


def _fmt(*fields: c.Construct) -> str:
    """The ``struct`` format of fixed-size integer fields, read off the declarations."""
    out = ">"
    for f in fields:
        while not isinstance(f, c.FormatField):
            f = f.subcon  # Renamed / Rebuild / Default wrappers
        out += f.fmtstr[1:]
    return out


def _sub(layout: c.Struct, name: str) -> c.Construct:
    return next(sc for sc in layout.subcons if sc.name == name)


#: shard, sequence, timestamp, payload_size: the fixed part after the key
FRAME_FIXED_FMT = _fmt(
    *(_sub(MessageHeaderLayout, n) for n in ("shard_id", "sequence", "timestamp")),
    _sub(MessageFrameLayout, "payload_size"),
)
#: checksum, separator: the frame trailer
FRAME_TRAILER_FMT = _fmt(
    _sub(MessageFrameLayout, "checksum"), _sub(MessageFrameLayout, "separator")
)
#: shard, sequence, timestamp, running checksum: the fixed part of a marker after the key
MARKER_FIXED_FMT = _fmt(
    *(_sub(MessageHeaderLayout, n) for n in ("shard_id", "sequence", "timestamp")),
    _sub(MarkerLayout, "running_checksum"),
)
#: separator, remaining bytes, marker count
BEACON_HEAD_FMT = _fmt(
    _sub(BeaconLayout, "separator"),
    _sub(BeaconLayout, "remaining_messages_bytes"),
    _sub(BeaconLayout, "markers").subcon.subcons[0],
)


# ---------------------------------------------------------------------------------------------
# typed functions over the layouts (the checked path: verify, repair, tests, headers, beacons)


def _wrap(err: Exception, what: str, offset: int) -> FormatError:
    if isinstance(err, c.StreamError) or "stream read less than specified" in str(err):
        return TruncatedError(f"truncated {what}", offset)
    if isinstance(err, (UnicodeDecodeError, c.StringError)) or "codec can't decode" in str(err):
        return FieldError(f"invalid UTF-8 in {what}", offset)
    return FieldError(f"malformed {what}: {err}", offset)


def parse_file_header(data: bytes, offset: int = 0) -> FileHeader:
    if len(data) < 2 or data[:2] != K.MAGIC:
        if len(data) < 2:
            raise TruncatedError("file too short for a header", offset)
        raise BadMagic(f"not a .ss file: bad magic {bytes(data[:2])!r} (expected b'Ss')", offset)
    if len(data) >= 3 and data[2] != K.VERSION:
        raise UnsupportedVersion(
            f"unsupported format version {data[2]} (expected {K.VERSION})", offset + 2
        )
    if len(data) >= 4 and data[3] > K.MAX_FILE_NAME_READ:
        raise FieldError(
            f"header file name length {data[3]} exceeds {K.MAX_FILE_NAME_READ}", offset + 3
        )
    if len(data) < K.HEADER_SIZE:
        raise TruncatedError(
            f"truncated header ({len(data)} of {K.HEADER_SIZE} bytes)", offset + len(data)
        )
    try:
        bytes(data[4 : 4 + data[3]]).decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError("invalid UTF-8 in header file name", offset + 4) from None
    try:
        h = FileHeaderLayout.parse(bytes(data[: K.HEADER_SIZE]))
    except Exception as err:  # construct raises many types; one choke point
        raise _wrap(err, "file header", offset) from err
    n = data[3]
    if h.created_at > MAX_TIMESTAMP_MS:
        raise FieldError(
            f"header created_at {h.created_at} is beyond the largest timestamp {MAX_TIMESTAMP_MS}",
            offset + 4 + n,
        )
    if h.beacon_interval < K.MIN_BEACON_INTERVAL:
        raise FieldError(
            f"beacon interval {h.beacon_interval} is below {K.MIN_BEACON_INTERVAL}",
            offset + 12 + n,
        )
    return FileHeader(h.file_name, h.created_at, h.beacon_interval)


def build_file_header(header: FileHeader) -> bytes:
    n = len(header.file_name.encode("utf-8"))
    padding = bytes(K.HEADER_SIZE - 17 - n) + bytes([K.SEPARATOR])
    return FileHeaderLayout.build(  # type: ignore[no-any-return]  # construct is untyped
        dict(
            magic=K.MAGIC,
            version=K.VERSION,
            file_name=header.file_name,
            created_at=header.created_at_ms,
            beacon_interval=header.beacon_interval,
            padding=padding,
        )
    )


def _header_record(h: c.Container, what: str, offset: int) -> MessageHeader:
    if not is_valid_stream_key(h.stream_key):
        raise FieldError(f"invalid stream key {h.stream_key!r} in {what}", offset)
    if h.timestamp > MAX_TIMESTAMP_MS:
        raise FieldError(f"timestamp {h.timestamp} out of range in {what}", offset)
    return MessageHeader(h.stream_key, h.shard_id, h.sequence, h.timestamp)


def parse_frame(data: bytes, offset: int = 0) -> tuple[MessageHeader, bytes, int, int]:
    """Parse one contiguous frame: (header, payload, stored checksum, frame size)."""
    try:
        f = MessageFrameLayout.parse(bytes(data))
    except Exception as err:
        raise _wrap(err, "message frame", offset) from err
    size = K.FRAME_FIXED + len(f.header.stream_key) + len(f.payload)
    return _header_record(f.header, "message frame", offset), f.payload, f.checksum, size


def build_frame(header: MessageHeader, payload: bytes, checksum: int) -> bytes:
    return MessageFrameLayout.build(  # type: ignore[no-any-return]  # construct is untyped
        dict(
            header=dict(
                stream_key=header.stream_key,
                shard_id=header.shard_id,
                sequence=header.sequence,
                timestamp=header.timestamp_ms,
            ),
            payload=payload,
            checksum=checksum,
        )
    )


def parse_beacon(data: bytes, offset: int, index: int) -> Beacon:
    """Parse the beacon starting at ``data[0]`` (absolute ``offset``)."""
    try:
        b = BeaconLayout.parse(bytes(data))
    except Exception as err:
        raise _wrap(err, "beacon", offset) from err
    markers = tuple(
        Marker(_header_record(m.header, "beacon marker", offset), m.running_checksum)
        for m in b.markers
    )
    size = K.BEACON_FIXED + sum(K.MARKER_FIXED + len(m.header.stream_key) for m in markers)
    return Beacon(offset, index, b.remaining_messages_bytes, markers, size)


def build_beacon(remaining: int, markers: tuple[Marker, ...] | list[Marker]) -> bytes:
    return BeaconLayout.build(  # type: ignore[no-any-return]  # construct is untyped
        dict(
            remaining_messages_bytes=remaining,
            markers=[
                dict(
                    header=dict(
                        stream_key=m.header.stream_key,
                        shard_id=m.header.shard_id,
                        sequence=m.header.sequence,
                        timestamp=m.header.timestamp_ms,
                    ),
                    running_checksum=m.running_checksum,
                )
                for m in markers
            ],
        )
    )
