"""ssfile/codec/fast.py (struct twins) equals ssfile/format/schema.py (construct)."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file, generator, headers, markers, small_files

from ssfile.codec import fast
from ssfile.codec.decoder import decode_bytes
from ssfile.errors import FieldError, FormatError
from ssfile.format import schema
from ssfile.format.crc import crc16_py
from ssfile.format.records import FileHeader, MessageHeader


@settings(max_examples=150, deadline=None)
@given(headers, st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_build_frame_fast_equals_schema(header, payload, crc):
    kb = header.stream_key.encode()
    data = fast.build_frame_fast(
        kb, header.shard_id, header.sequence, header.timestamp_ms, payload, crc
    )
    assert data == schema.build_frame(header, payload, crc)
    k = len(kb)
    assert fast.FRAME_FIXED.unpack_from(data, 1 + k) == (
        header.shard_id,
        header.sequence,
        header.timestamp_ms,
        len(payload),
    )
    assert fast.FRAME_FIXED_SIZE == 28


def _tuples(marks):
    return [
        (
            m.header.stream_key.encode(),
            m.header.shard_id,
            m.header.sequence,
            m.header.timestamp_ms,
            m.running_checksum,
        )
        for m in marks
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, (1 << 32) - 1),
    st.lists(markers, max_size=5),
    st.binary(max_size=20),
    st.binary(max_size=20),
    st.integers(1, 1000),
)
def test_beacon_fast_equals_schema(remaining, marks, before, after, index):
    data = fast.build_beacon_fast(remaining, _tuples(marks))
    assert data == schema.build_beacon(remaining, marks)
    buf = before + data + after
    offset = index * 4096
    assert fast.beacon_size_at(buf, len(before)) == len(data)
    assert fast.parse_beacon_fast(buf, len(before), offset, index) == schema.parse_beacon(
        data + after, offset, index
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(markers, max_size=3))
def test_beacon_size_at_is_none_for_every_prefix(marks):
    data = fast.build_beacon_fast(7, _tuples(marks))
    for cut in range(len(data)):
        assert fast.beacon_size_at(data[:cut], 0) is None


def _frame_with_raw_key(raw: bytes) -> bytes:
    return (
        bytes([len(raw)])
        + raw
        + bytes(24)
        + (0).to_bytes(4, "big")
        + crc16_py(b"").to_bytes(2, "big")
        + b"\r"
    )


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=255),
        st.text(max_size=30).map(str.encode).filter(lambda b: len(b) <= 255),
    )
)
def test_decode_key_agrees_with_schema(raw):
    """Same accept/reject decision for any key bytes, both as FieldError at the given offset."""
    try:
        expected = schema.parse_frame(_frame_with_raw_key(raw), 77)[0].stream_key
    except FieldError as err:
        assert err.offset == 77
        with pytest.raises(FieldError) as info:
            fast.decode_key(raw, 77)
        assert info.value.offset == 77
    else:
        assert fast.decode_key(raw, 77) == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(markers, min_size=1, max_size=3), st.data())
def test_marker_field_errors_agree(marks, data):
    """A marker with a bad key: both parsers refuse with a FieldError at the beacon offset."""
    raw = bytearray(fast.build_beacon_fast(0, _tuples(marks)))
    assume(marks[0].header.stream_key != "")  # a key byte to damage
    raw[7] = ord(data.draw(st.sampled_from(" /:*")))  # first key byte of the first marker
    for parse in (
        lambda: fast.parse_beacon_fast(bytes(raw), 0, 1024, 1),
        lambda: schema.parse_beacon(bytes(raw), 1024, 1),
    ):
        with pytest.raises(FieldError) as info:
            parse()
        assert info.value.offset == 1024


@settings(max_examples=40, deadline=None)
@given(small_files())
def test_fast_decoder_equals_schema_reference(spec):
    """Whole files: the fast decode loop gives exactly the schema reference decode."""
    gen = generator()
    interval, msgs, eos = spec
    data = encode_file(interval, msgs, eos)
    assert gen.decoded_json(decode_bytes(data), len(data)) == gen.reference_decode(data)


def test_fast_decoder_equals_schema_on_golden(golden_dir):
    gen = generator()
    for path in sorted(golden_dir.glob("*.ss")):
        data = path.read_bytes()
        assert gen.decoded_json(decode_bytes(data), len(data)) == gen.reference_decode(data), path


def test_checked_path_and_fast_path_raise_the_same_class():
    frame = bytearray(schema.build_frame(MessageHeader("k", 0, 0, 0), b"x", crc16_py(b"x")))
    frame[1] = ord("!")
    with pytest.raises(FieldError):
        schema.parse_frame(bytes(frame), 128)
    header = schema.build_file_header(FileHeader("f", 0, 1024))
    with pytest.raises(FormatError) as info:
        decode_bytes(header + bytes(frame))
    assert isinstance(info.value, FieldError) and info.value.offset == 128
