"""Every rejection path: a specific SSError subclass, the right offset, a message naming it."""

import pytest
from ss_strategies import encode_file

import ssfile
from ssfile.codec.decoder import decode_bytes
from ssfile.format.crc import crc16_py
from ssfile.format.records import FileHeader, MessageHeader
from ssfile.format.schema import build_file_header, build_frame

HEADER = build_file_header(FileHeader("bad.ss", 1, 1024))


def raw_frame(key: bytes, ts: int = 5, payload: bytes = b"p") -> bytes:
    return (
        bytes([len(key)])
        + key
        + (0).to_bytes(8, "big")
        + (1).to_bytes(8, "big")
        + ts.to_bytes(8, "big")
        + len(payload).to_bytes(4, "big")
        + payload
        + crc16_py(payload).to_bytes(2, "big")
        + b"\r"
    )


GOOD = build_frame(MessageHeader("ok", 0, 1, 5), b"fine", crc16_py(b"fine"))


def read_file(tmp_path, data: bytes, **kw):
    path = tmp_path / "bad.ss"
    path.write_bytes(data)
    with ssfile.open(path, **kw) as r:
        return list(r)


def expect(tmp_path, data, cls, offset, words):
    with pytest.raises(cls) as info:
        read_file(tmp_path, data)
    err = info.value
    assert type(err) is cls, type(err)
    assert err.offset == offset
    text = str(err)
    assert f"offset {offset}" in text and "bad.ss" in text
    for w in words:
        assert w in text, (w, text)
    assert "\n" not in text
    return err


# ---- reading --------------------------------------------------------------------------------------


def test_bad_magic(tmp_path):
    expect(tmp_path, b"PK" + HEADER[2:], ssfile.BadMagic, 0, ["magic"])


def test_bad_version(tmp_path):
    expect(tmp_path, HEADER[:2] + b"\x02" + HEADER[3:], ssfile.UnsupportedVersion, 2, ["version 2"])


@pytest.mark.parametrize("cut", [0, 1, 3, 100, 127])
def test_header_truncated(tmp_path, cut):
    expect(tmp_path, HEADER[:cut], ssfile.TruncatedError, 0, ["header"])


def test_file_name_length_over_112(tmp_path):
    data = HEADER[:3] + bytes([113]) + HEADER[4:]
    expect(tmp_path, data, ssfile.FieldError, 3, ["file name length 113"])


def test_file_name_invalid_utf8(tmp_path):
    data = bytearray(HEADER)
    data[4] = 0xFF
    with pytest.raises(ssfile.FieldError, match="UTF-8"):
        read_file(tmp_path, bytes(data))


@pytest.mark.parametrize("interval", [0, 1, 127])
def test_interval_below_128(tmp_path, interval):
    data = build_file_header(FileHeader("bad.ss", 1, 1024))
    at = 4 + len("bad.ss") + 8
    data = data[:at] + interval.to_bytes(4, "big") + data[at + 4 :]
    expect(tmp_path, data, ssfile.FieldError, at, ["beacon interval", str(interval)])


@pytest.mark.parametrize("key", [b"has space", b"slash/", b"k" * 250, b"\xc3\xa9"])
def test_invalid_stream_key_in_a_frame(tmp_path, key):
    data = HEADER + GOOD + raw_frame(key)
    err = expect(tmp_path, data, ssfile.FieldError, 128 + len(GOOD), ["stream key"])
    assert "message frame" in str(err)


def test_invalid_utf8_key(tmp_path):
    expect(
        tmp_path,
        HEADER + GOOD + raw_frame(b"\xff\xfe"),
        ssfile.FieldError,
        128 + len(GOOD),
        ["UTF-8", "stream key"],
    )


def test_timestamp_out_of_range_in_a_frame(tmp_path):
    ts = 253_402_300_800_000  # one ms after 9999-12-31T23:59:59.999
    expect(
        tmp_path,
        HEADER + GOOD + raw_frame(b"k", ts=ts),
        ssfile.FieldError,
        128 + len(GOOD),
        ["timestamp", str(ts), "out of range"],
    )
    assert len(read_file(tmp_path, HEADER + raw_frame(b"k", ts=ts - 1))) == 1  # the largest valid


def _file_with_a_marker():
    data = bytearray(
        encode_file(
            1024, [("mark", 0, i, i, b"m" * 90) for i in range(12)], eos=False, name="bad.ss"
        )
    )
    assert data[1024 + 5] == 1 and data[1024 + 6] == 4  # one marker, key "mark"
    return data


def test_invalid_stream_key_in_a_marker(tmp_path):
    data = _file_with_a_marker()
    data[1024 + 7] = ord("*")
    expect(tmp_path, bytes(data), ssfile.FieldError, 1024, ["stream key", "beacon marker"])


def test_timestamp_out_of_range_in_a_marker(tmp_path):
    data = _file_with_a_marker()
    ts_at = 1024 + 7 + 4 + 16
    data[ts_at : ts_at + 8] = b"\xff" * 8
    expect(tmp_path, bytes(data), ssfile.FieldError, 1024, ["timestamp", "beacon marker"])


def test_checksum_mismatch_names_both_values(tmp_path):
    frame = bytearray(GOOD)
    frame[-3] ^= 0x10
    err = expect(tmp_path, HEADER + bytes(frame), ssfile.ChecksumMismatch, 128, ["checksum"])
    assert err.stored != err.computed == crc16_py(b"fine")
    assert f"0x{err.stored:04X}" in str(err) and f"0x{err.computed:04X}" in str(err)


def test_truncated_frame_and_beacon(tmp_path):
    expect(tmp_path, HEADER + GOOD[:-1], ssfile.TruncatedError, 128, ["truncated message frame"])
    data = bytes(_file_with_a_marker())
    # cut inside the beacon that splices a frame: the torn record is that frame
    expect(
        tmp_path,
        data[: 1024 + 10],
        ssfile.TruncatedError,
        _frame_start_before(data, 1024),
        ["truncated message frame"],
    )


def _frame_start_before(data: bytes, boundary: int) -> int:
    starts = [m.offset for m in decode_bytes(data) if isinstance(m, ssfile.Message)]
    return max(s for s in starts if s < boundary)


def test_every_error_is_an_sserror():
    for cls in (
        ssfile.BadMagic,
        ssfile.UnsupportedVersion,
        ssfile.TruncatedError,
        ssfile.FieldError,
        ssfile.ChecksumMismatch,
        ssfile.EncodeError,
    ):
        assert issubclass(cls, ssfile.SSError)
    assert issubclass(ssfile.EncodeError, ValueError)


# ---- writing --------------------------------------------------------------------------------------


@pytest.fixture
def writer(tmp_path):
    w = ssfile.open(tmp_path / "w.ss", "w", eos=False)
    w.write(b"before", stream_key="k", timestamp=1)
    yield w
    w.close()
    # every rejection left the file whole: the message before and the one after are there
    with ssfile.open(tmp_path / "w.ss") as r:
        assert [m.payload for m in r] == [b"before", b"after"]


def _reject(writer, words, **kw):
    args = {"stream_key": "k", "timestamp": 2, **kw}
    payload = args.pop("payload", b"x")
    with pytest.raises(ssfile.EncodeError) as info:
        writer.write(payload, **args)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    writer.write(b"after", stream_key="k", timestamp=3)


@pytest.mark.parametrize("key", ["has space", "é", "a/b", "k" * 250, "x:y"])
def test_writer_rejects_bad_keys(writer, key):
    _reject(writer, ["stream key", repr(key)[:20]], stream_key=key)


def test_writer_accepts_the_longest_key(tmp_path):
    with ssfile.open(tmp_path / "long.ss", "w") as w:
        w.write(b"", stream_key="k" * 249)
    with ssfile.open(tmp_path / "long.ss") as r:
        assert [m.stream_key for m in r] == ["k" * 249]


@pytest.mark.parametrize(
    "field,value",
    [
        ("sequence", -1),
        ("sequence", 1 << 64),
        ("shard_id", -1),
        ("shard_id", 1 << 64),
        ("timestamp", -1),
        ("timestamp", 253_402_300_800_000),
    ],
)
def test_writer_rejects_out_of_range_numbers(writer, field, value):
    _reject(writer, ["out of range", str(value)], **{field: value})


@pytest.mark.parametrize("payload", ["text", 5, None, [1, 2]])
def test_writer_rejects_non_bytes_payloads(writer, payload):
    _reject(writer, ["payload must be bytes", type(payload).__name__], payload=payload)


@pytest.mark.parametrize("ts", [1.5, "2024-13-01", "soon", True])  # text times are fine
def test_writer_rejects_odd_timestamps(writer, ts):
    _reject(writer, ["timestamp"], timestamp=ts)


def test_writer_rejects_long_file_names(tmp_path):
    with pytest.raises(ssfile.EncodeError, match="file name"):
        ssfile.open(tmp_path / "f.ss", "w", file_name="n" * 112)
    with pytest.raises(ssfile.EncodeError, match="file name"):
        ssfile.open(tmp_path / "f.ss", "w", file_name="é" * 56)  # 112 UTF-8 bytes
    ssfile.open(tmp_path / "f.ss", "w", file_name="n" * 111).close()
    long_path = tmp_path / ("p" * 112)
    with pytest.raises(ssfile.EncodeError, match="file name"):
        ssfile.open(long_path, "w")


@pytest.mark.parametrize("interval", [0, 127, -1, 1 << 32])
def test_writer_rejects_bad_intervals(tmp_path, interval):
    with pytest.raises(ssfile.EncodeError, match="beacon interval"):
        ssfile.open(tmp_path / "f.ss", "w", beacon_interval=interval)


def test_a_rejected_open_does_not_destroy_an_existing_file(tmp_path):
    path = tmp_path / "keep.ss"
    with ssfile.open(path, "w") as w:
        w.write(b"precious", stream_key="k")
    before = path.read_bytes()
    with pytest.raises(ssfile.EncodeError):
        ssfile.open(path, "w", beacon_interval=5)
    assert path.read_bytes() == before
