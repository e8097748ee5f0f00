"""The construct schema: parse/build/size round trips per record, and the layouts against the
byte tables of notes §2-§4 (checked by hand-slicing bytes, not through the schema)."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ss_strategies import file_headers, headers, markers

from ssfile.errors import FieldError, TruncatedError
from ssfile.format import constants as K
from ssfile.format import schema
from ssfile.format.crc import crc16_py
from ssfile.format.records import FileHeader, Marker, MessageHeader


def be(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "big")


# ---- file header --------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(file_headers)
def test_file_header_round_trip(header):
    data = schema.build_file_header(header)
    n = len(header.file_name.encode())
    assert len(data) == K.HEADER_SIZE
    assert data[:4] == b"Ss\x01" + bytes([n])
    assert data[4 : 4 + n].decode() == header.file_name
    assert be(data, 4 + n, 8) == header.created_at_ms
    assert be(data, 12 + n, 4) == header.beacon_interval
    assert data[16 + n : 127] == bytes(111 - n) and data[127] == 0x0D
    assert schema.parse_file_header(data) == header


def test_file_header_of_sample_1(golden_dir):
    data = (golden_dir / "sample-1.ss").read_bytes()
    h = schema.parse_file_header(data[:128])
    assert h == FileHeader("vec_map-1694767177436.firedbg.ss", 1694767177437, 1_048_576)
    assert schema.build_file_header(h) == data[:128]


def test_file_header_with_a_112_byte_name_reads_but_does_not_build():
    name = "n" * 112
    raw = (
        b"Ss\x01"
        + bytes([112])
        + name.encode()
        + (5).to_bytes(8, "big")
        + (1024).to_bytes(4, "big")
    )
    assert len(raw) == 128
    assert schema.parse_file_header(raw) == FileHeader(name, 5, 1024)


def test_header_padding_is_not_validated():
    data = bytearray(schema.build_file_header(FileHeader("x", 1, 1024)))
    data[20:128] = b"\xaa" * 108
    assert schema.parse_file_header(bytes(data)) == FileHeader("x", 1, 1024)


# ---- frames --------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(headers, st.binary(max_size=300))
def test_frame_round_trip(header, payload):
    crc = crc16_py(payload)
    data = schema.build_frame(header, payload, crc)
    k = len(header.stream_key)
    assert len(data) == K.FRAME_FIXED + k + len(payload)
    assert data[0] == k and data[1 : 1 + k].decode() == header.stream_key
    assert (be(data, 1 + k, 8), be(data, 9 + k, 8), be(data, 17 + k, 8)) == (
        header.shard_id,
        header.sequence,
        header.timestamp_ms,
    )
    assert be(data, 25 + k, 4) == len(payload)
    assert data[29 + k : 29 + k + len(payload)] == payload
    assert be(data, len(data) - 3, 2) == crc and data[-1] == 0x0D
    assert schema.parse_frame(data + b"trailing", 0) == (header, payload, crc, len(data))


def test_first_frame_of_consumer_ss(golden_dir):
    data = (golden_dir / "consumer.ss").read_bytes()
    header, payload, crc, size = schema.parse_frame(data[128:1024], 128)
    assert header == MessageHeader("hello", 1, 0, 1691686154745)
    assert (payload, crc, size) == (b"hello-0", 0xF556, 44)
    assert schema.build_frame(header, payload, crc) == data[128:172]


def test_eos_frame_is_56_bytes():
    frame = schema.build_frame(MessageHeader(K.INTERNAL_KEY, 0, 0, 5), K.EOS_PAYLOAD, 0xED7C)
    assert len(frame) == 56


# ---- beacons and markers ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.integers(0, (1 << 32) - 1), st.lists(markers, max_size=4))
def test_beacon_round_trip(remaining, marks):
    data = schema.build_beacon(remaining, marks)
    size = 7 + sum(27 + len(m.header.stream_key) for m in marks)
    assert len(data) == size
    assert data[0] == 0x0D and be(data, 1, 4) == remaining and data[5] == len(marks)
    assert data[-1] == 0x0D
    p = 6
    for m in marks:
        k = data[p]
        assert data[p + 1 : p + 1 + k].decode() == m.header.stream_key
        assert be(data, p + 1 + k + 24, 2) == m.running_checksum
        p += 27 + k
    beacon = schema.parse_beacon(data + b"\x99" * 5, 2048, 2)
    assert (beacon.offset, beacon.index, beacon.remaining_messages_bytes, beacon.size) == (
        2048,
        2,
        remaining,
        size,
    )
    assert beacon.markers == tuple(marks)


def test_empty_beacon_bytes():
    assert schema.build_beacon(0, []) == b"\x0d\x00\x00\x00\x00\x00\x0d"


def test_first_beacon_of_consumer_ss(golden_dir):
    data = (golden_dir / "consumer.ss").read_bytes()
    beacon = schema.parse_beacon(data[1024:1100], 1024, 1)
    assert (beacon.remaining_messages_bytes, beacon.size) == (39, 39)
    assert beacon.markers == (Marker(MessageHeader("hello", 1, 20, 1691686154773), 2887),)
    assert schema.build_beacon(39, beacon.markers) == data[1024:1063]


# ---- derived struct formats and rejections -----------------------------------------------------------


def test_struct_formats_read_off_the_schema():
    """Big-endian unsigned fields of the widths in the notes' tables."""
    cases = [
        (schema.FRAME_FIXED_FMT, (8, 8, 8, 4)),
        (schema.FRAME_TRAILER_FMT, (2, 1)),
        (schema.MARKER_FIXED_FMT, (8, 8, 8, 2)),
        (schema.BEACON_HEAD_FMT, (1, 4, 1)),
    ]
    for fmt, widths in cases:
        assert fmt[0] == ">" and struct.calcsize(fmt) == sum(widths)
        raw = b"".join((i + 1).to_bytes(w, "big") for i, w in enumerate(widths))
        assert struct.unpack(fmt, raw) == tuple(range(1, len(widths) + 1))
        top = b"\xff" * sum(widths)
        assert struct.unpack(fmt, top) == tuple((1 << 8 * w) - 1 for w in widths)


def _raw_frame(key: bytes, ts: int = 1) -> bytes:
    return (
        bytes([len(key)])
        + key
        + (0).to_bytes(8, "big") * 2
        + ts.to_bytes(8, "big")
        + (1).to_bytes(4, "big")
        + b"x"
        + crc16_py(b"x").to_bytes(2, "big")
        + b"\r"
    )


@pytest.mark.parametrize(
    "key,ts,reason",
    [
        (b"bad key", 1, "invalid stream key"),
        (b"k" * 250, 1, "invalid stream key"),
        (b"\xff\xfe", 1, "UTF-8"),
        (b"ok", 253_402_300_800_000, "out of range"),  # 10000-01-01T00:00:00Z
    ],
)
def test_parse_frame_rejects_bad_fields(key, ts, reason):
    with pytest.raises(FieldError, match=reason) as info:
        schema.parse_frame(_raw_frame(key, ts), 500)
    assert info.value.offset == 500


def test_parse_frame_truncated():
    frame = _raw_frame(b"abc")
    for cut in range(len(frame)):
        with pytest.raises(TruncatedError) as info:
            schema.parse_frame(frame[:cut], 300)
        assert info.value.offset == 300
