"""to_numpy / to_pandas and the vectorised scan, held to ssfile.Reader on every kind of file."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file, small_files

import ssfile
from ssfile.codec import accel
from ssfile.export import arrays, columns, cscan
from ssfile.export.columns import scan

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


# with SSFILE_PURE=1 (test_speedups runs this file so) there is only the numpy scan
SCANS = ["numpy"] if accel.pure_forced() else ["c", "numpy"]


@pytest.fixture(autouse=True, params=SCANS)
def scan_path(request, monkeypatch):
    """Every test runs on both scans: the C twin and the numpy one."""
    if request.param == "c":
        assert cscan.available(), "the C accelerator is not built: run ./scripts/bootstrap"
    monkeypatch.setattr(columns, "USE_C", request.param == "c")
    return request.param


# ---- helpers -------------------------------------------------------------------------------


def reader_rows(path, **options):
    """What the plain reader yields: (rows, ended, torn_tail) or the error it raises."""
    rows = []
    try:
        with ssfile.open(path, **options) as r:
            for m in r:
                rows.append(
                    (m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.offset, m.payload)
                )
            return rows, r.ended, r.torn_tail
    except ssfile.SSError as err:
        return err


def scan_rows(path, **options):
    got = scan(path, payload="bytes", **options)
    c = got.columns
    payloads = [p for part in got.payloads for p in part]
    rows = list(
        zip(
            [got.keys[i] for i in c["code"].tolist()],
            c["shard_id"].tolist(),
            c["sequence"].tolist(),
            c["timestamp_ms"].tolist(),
            c["offset"].tolist(),
            payloads,
        )
    )
    return rows, got.ended, got.torn_tail


def scan_result(path, **options):
    try:
        return scan_rows(path, **options)
    except ssfile.SSError as err:
        return err


def same_outcome(a, b):
    if isinstance(a, Exception) or isinstance(b, Exception):
        assert type(a) is type(b), (a, b)
        assert a.offset == b.offset, (a, b)
    else:
        assert a == b


def numpy_rows(cols):
    keys = cols.stream_key().tolist()
    ts = cols.timestamp.astype("int64").tolist()
    return list(
        zip(
            keys,
            cols.shard_id.tolist(),
            cols.sequence.tolist(),
            ts,
            cols.offset.tolist(),
            cols.payloads(),
        )
    )


def write(path, messages, interval=1024, eos=True):
    path.write_bytes(encode_file(interval, messages, eos))
    return path


def mixed_messages(n, seed, keys=("clock", "orders", "s"), payload_max=80):
    """Binary payloads salted with byte patterns that look like frame starts."""
    rng = random.Random(seed)
    out = []
    ts = T0
    for i in range(n):
        ts += rng.randrange(0, 50)
        key = rng.choice(keys)
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(payload_max)))
        if rng.random() < 0.3:
            fake = rng.choice(keys).encode()
            body += bytes([len(fake)]) + fake + bytes(rng.randrange(256) for _ in range(30))
        out.append((key, rng.randrange(3), i, ts, body))
    return out


# ---- equivalence with the reader --------------------------------------------------------------


def test_golden_files_equal_reader(golden_dir):
    for path in sorted(golden_dir.glob("*.ss")):
        expected = reader_rows(path)
        assert scan_rows(path) == expected, path.name
        cols = ssfile.to_numpy(path)
        assert numpy_rows(cols) == expected[0], path.name
        assert cols.ended == expected[1]


@pytest.mark.parametrize("interval", [128, 200, 1024, 1 << 20])
@pytest.mark.parametrize("window", [64, 1000, 1 << 22])
def test_spliced_frames_and_small_windows(tmp_path, interval, window):
    path = write(tmp_path / "m.ss", mixed_messages(400, interval ^ window), interval)
    expected = reader_rows(path)
    assert len(expected[0]) == 400
    assert scan_rows(path, window=window) == expected


def test_payloads_spanning_many_beacons_and_windows(tmp_path):
    rng = random.Random(5)
    msgs = [
        ("big", 0, i, T0 + i, bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 5000]))))
        for i in range(30)
    ]
    path = write(tmp_path / "big.ss", msgs, interval=256)
    assert scan_rows(path, window=512) == reader_rows(path)


def test_keys_appearing_late_empty_key_and_long_keys(tmp_path):
    msgs = [("a", 0, i, T0 + i, b"x" * (i % 7)) for i in range(300)]
    msgs += [("", 1, 1, T0 + 400, b"\x00" * 40), ("k" * 249, 2, 3, T0 + 401, b"\x05clock")]
    msgs += [(f"late{i}", 0, i, T0 + 500 + i, bytes([0, 4, 0, 0]) * 5) for i in range(50)]
    path = write(tmp_path / "late.ss", msgs, interval=512)
    assert scan_rows(path, window=4096) == reader_rows(path)


@pytest.mark.parametrize("window", [2048, 1 << 22])
def test_many_keys_of_one_length(tmp_path, window):
    rng = random.Random(7)
    keys = [f"s-{i:03d}" for i in range(300)] + ["s-0000", "s-00000"]
    msgs = [
        (
            rng.choice(keys),
            0,
            i,
            T0 + i,
            bytes(rng.randrange(256) for _ in range(rng.randrange(12))),
        )
        for i in range(3000)
    ]
    path = write(tmp_path / "keys.ss", msgs, interval=1024)
    expected = reader_rows(path)
    assert len({r[0] for r in expected[0]}) > 250
    assert scan_rows(path, window=window) == expected


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=small_files(), window=st.sampled_from([40, 300, 5000, 1 << 20]))
def test_any_file_equals_reader(tmp_path, spec, window):
    interval, msgs, eos = spec
    path = write(tmp_path / "h.ss", msgs, interval, eos)
    same_outcome(scan_result(path, window=window), reader_rows(path))


def test_nothing_after_the_eos_is_read(tmp_path):
    data = encode_file(256, mixed_messages(30, 1)[:10], eos=True)
    data += encode_file(256, mixed_messages(30, 2))[128:]  # frames after the EOS
    path = tmp_path / "eos.ss"
    path.write_bytes(data)
    expected = reader_rows(path)
    assert expected[1] and scan_rows(path) == expected


def test_header_only_and_empty_files(tmp_path):
    path = write(tmp_path / "none.ss", [], eos=False)
    cols = ssfile.to_numpy(path)
    assert len(cols) == 0 and cols.stream_keys == [] and cols.timestamp.dtype == "datetime64[ms]"
    (tmp_path / "zero.ss").write_bytes(b"")
    with pytest.raises(ssfile.TruncatedError):
        ssfile.to_numpy(tmp_path / "zero.ss")


# ---- errors: the same type and offset as the reader -----------------------------------------


def corrupt(tmp_path, name, mutate, interval=300):
    msgs = mixed_messages(60, 9)
    data = bytearray(encode_file(interval, msgs, eos=True))
    path = tmp_path / name
    path.write_bytes(data)
    offsets = [row[4] for row in reader_rows(path)[0]]
    mutate(data, offsets)
    path.write_bytes(bytes(data))
    return path


def test_bad_checksum(tmp_path):
    def flip_crc(data, offsets):  # the last payload byte of message 20 (frames are intact)
        nxt = offsets[21]
        data[nxt - 4] ^= 0xFF if (nxt - 4) % 300 else 0

    path = corrupt(tmp_path, "crc.ss", flip_crc)
    expected = reader_rows(path)
    assert isinstance(expected, ssfile.ChecksumMismatch)
    same_outcome(scan_result(path), expected)
    with pytest.raises(ssfile.ChecksumMismatch, match=f"at offset {expected.offset}"):
        ssfile.to_numpy(path)
    assert len(ssfile.to_numpy(path, check_crc=False)) == 60


def test_bad_key_and_timestamp(tmp_path):
    def bad_key(data, offsets):
        data[offsets[7] + 1] = ord("!")

    path = corrupt(tmp_path, "key.ss", bad_key, interval=1 << 20)
    same_outcome(scan_result(path), reader_rows(path))
    assert isinstance(reader_rows(path), ssfile.FieldError)

    def bad_ts(data, offsets):
        k = data[offsets[9]]
        data[offsets[9] + 1 + k + 16] = 0xFF  # top byte of the timestamp

    path = corrupt(tmp_path, "ts.ss", bad_ts, interval=1 << 20)
    expected = reader_rows(path)
    assert isinstance(expected, ssfile.FieldError)
    same_outcome(scan_result(path), expected)


def test_the_first_problem_in_file_order_wins(tmp_path):
    def crc_then_key(data, offsets):
        data[offsets[21] - 4] ^= 0xFF  # payload of message 20
        data[offsets[30] + 1] = ord("!")  # key of message 30

    path = corrupt(tmp_path, "two.ss", crc_then_key, interval=1 << 20)
    expected = reader_rows(path)
    assert isinstance(expected, ssfile.ChecksumMismatch)
    same_outcome(scan_result(path), expected)
    expected = reader_rows(path, check_crc=False)
    assert isinstance(expected, ssfile.FieldError)
    same_outcome(scan_result(path, check_crc=False), expected)


@pytest.mark.parametrize("cut", [1, 5, 30, 200, 333])
def test_truncated_tail(tmp_path, cut):
    data = encode_file(256, mixed_messages(40, 4), eos=False)
    path = tmp_path / "torn.ss"
    path.write_bytes(data[:-cut])
    expected = reader_rows(path)
    same_outcome(scan_result(path), expected)
    tolerated = reader_rows(path, tolerate_truncation=True)
    assert scan_rows(path, tolerate_truncation=True) == tolerated
    cols = ssfile.to_numpy(path, tolerate_truncation=True)
    assert cols.torn_tail == tolerated[2]


def test_a_corrupt_length_is_damage_without_reading_the_rest(tmp_path, monkeypatch, scan_path):
    """A length that runs past the end while intact frames follow is damage (issue 12), not
    a torn tail: tolerate_truncation does not hide it.  (The C scan never reads ahead: the
    window check below is the numpy scan's.)"""
    msgs = mixed_messages(2000, 6)
    data = bytearray(encode_file(1 << 20, msgs, eos=False))
    path = tmp_path / "len.ss"
    path.write_bytes(bytes(data))
    offsets = [r[4] for r in reader_rows(path)[0]]
    k = data[offsets[5]]
    data[offsets[5] + 1 + k + 24] = 0x7F  # payload length of message 5: about 2 GB
    path.write_bytes(bytes(data))
    expected = reader_rows(path)
    assert isinstance(expected, ssfile.FormatError) and expected.offset == offsets[5]
    assert not isinstance(expected, ssfile.TruncatedError)
    assert "intact data follows" in str(expected)
    with pytest.raises(ssfile.FormatError) as err:
        ssfile.to_numpy(path, tolerate_truncation=True)
    assert err.value.offset == offsets[5] and not isinstance(err.value, ssfile.TruncatedError)
    if scan_path == "c":
        same_outcome(scan_result(path, window=4096), expected)
        return
    sizes = []
    real = columns._Scanner._assemble
    monkeypatch.setattr(
        columns._Scanner,
        "_assemble",
        lambda self, lo, hi: sizes.append(hi - lo) or real(self, lo, hi),
    )
    same_outcome(scan_result(path, window=4096), expected)
    assert max(sizes) <= 4096  # no window doubling up to the end of the file


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "x.ss"
    path.write_bytes(b"NOPE" + bytes(200))
    with pytest.raises(ssfile.BadMagic, match="x.ss"):
        ssfile.to_numpy(path)


# ---- selection -------------------------------------------------------------------------------


def test_streams_shards_and_time_window(tmp_path):
    path = write(tmp_path / "sel.ss", mixed_messages(500, 3), 512)
    rows = reader_rows(path)[0]
    since, until = rows[100][3], rows[300][3]
    want = [r for r in rows if r[0] in ("clock", "s") and r[1] in (0, 2) and since <= r[3] < until]
    assert want
    for s, u in (
        (since, until),
        (
            dt.datetime.fromtimestamp(since / 1000, dt.UTC),
            pd.Timestamp(until, unit="ms", tz="UTC"),
        ),
        (ssfile.types.format_timestamp(since), str(until)),
    ):
        cols = ssfile.to_numpy(
            path, streams=["clock", "s"], shards=[0, 2], since=s, until=u, payload="bytes"
        )
        assert numpy_rows(cols) == want
        assert set(cols.stream_keys) == {"clock", "s"}
        buffered = ssfile.to_numpy(path, streams=["clock", "s"], shards=[0, 2], since=s, until=u)
        assert buffered.payloads() == [r[5] for r in want]
    only = ssfile.to_numpy(path, streams="orders", shards=1)
    assert len(only) == sum(1 for r in rows if r[0] == "orders" and r[1] == 1)
    assert only.stream_keys == ["orders"] and set(only.stream_codes.tolist()) == {0}


def test_time_slices_seek_instead_of_scanning(tmp_path, monkeypatch):
    path = write(tmp_path / "long.ss", mixed_messages(3000, 12), 512)
    rows = reader_rows(path)[0]
    seen = {}
    real = arrays.scan

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(arrays, "scan", spy)
    first_at = lambda t: next((r[4] for r in rows if r[3] >= t), None)  # noqa: E731
    end = rows[-1][3]
    for since, until in (
        (rows[2500][3], rows[2600][3]),
        (None, rows[40][3]),
        (rows[1500][3], None),
        (end + 1, None),
        (None, rows[0][3]),
        (rows[900][3], rows[800][3]),
    ):
        seen.clear()
        cols = ssfile.to_numpy(path, since=since, until=until, payload="bytes")
        assert numpy_rows(cols) == [
            r for r in rows if (since is None or r[3] >= since) and (until is None or r[3] < until)
        ]
        if since is not None and since <= end:
            assert seen["start"] == first_at(since)  # the scan starts at the seek point
        if until is not None:
            assert seen["stop"] == first_at(until)
    seen.clear()
    ssfile.to_numpy(path)
    assert seen["start"] is None and seen["stop"] is None


def test_bad_time_argument_is_a_usage_error(tmp_path):
    path = write(tmp_path / "t.ss", mixed_messages(3, 1))
    with pytest.raises(ssfile.UsageError, match="yesterday"):
        ssfile.to_numpy(path, since="yesterday")


# ---- payload forms, columns and the DataFrame ---------------------------------------------------


def test_payload_buffer_and_column_types(tmp_path):
    path = write(tmp_path / "p.ss", mixed_messages(200, 8), 256)
    rows = reader_rows(path)[0]
    cols = ssfile.to_numpy(path)
    assert cols.payload is None and cols.payload_buffer.dtype == np.uint8
    assert cols.payload_offsets[0] == 0 and cols.payload_offsets[-1] == len(cols.payload_buffer)
    assert cols.payloads() == [r[5] for r in rows]
    assert (cols.shard_id.dtype, cols.sequence.dtype, cols.offset.dtype) == (
        np.uint64,
        np.uint64,
        np.int64,
    )
    assert cols.stream_codes.dtype == np.int8
    bare = ssfile.to_numpy(path, payload=False)
    assert bare.payload is None and bare.payload_buffer is None
    with pytest.raises(ValueError):
        ssfile.to_numpy(path, payload="nope")


def test_to_pandas_matches_reader(tmp_path):
    path = write(tmp_path / "df.ss", mixed_messages(300, 11), 512)
    rows = reader_rows(path)[0]
    df = ssfile.to_pandas(path)
    assert list(df.columns) == [
        "stream_key",
        "shard_id",
        "sequence",
        "timestamp",
        "offset",
        "payload",
    ]
    assert isinstance(df["stream_key"].dtype, pd.CategoricalDtype)
    assert str(df["timestamp"].dtype) == "datetime64[ms, UTC]"
    assert df["stream_key"].astype(str).tolist() == [r[0] for r in rows]
    assert df["sequence"].tolist() == [r[2] for r in rows]
    assert df["timestamp"].tolist() == [pd.Timestamp(r[3], unit="ms", tz="UTC") for r in rows]
    assert df["payload"].tolist() == [r[5] for r in rows]
    assert "payload" not in ssfile.to_pandas(path, payload=False).columns


def test_json_expansion_rule(tmp_path):
    payloads = [
        json.dumps({"a": 1, "b": {"c": "x", "d": [1, 2]}}).encode(),
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[1, 2]",
        b"42",
        json.dumps({"a": 2.5, "e": None}).encode(),
        b"{}",
    ]
    msgs = [("j", 0, i, T0 + i, p) for i, p in enumerate(payloads)]
    path = write(tmp_path / "j.ss", msgs)
    cols = ssfile.to_numpy(path, json=True)
    assert list(cols.json) == ["payload.a", "payload.b.c", "payload.b.d", "payload.e"]
    assert cols.json["payload.a"].tolist() == [1, None, None, None, None, 2.5, None]
    assert cols.json["payload.b.d"].tolist()[0] == [1, 2]
    raw = [None, payloads[1], payloads[2], payloads[3], payloads[4], None, None]
    assert cols.payload.tolist() == raw
    df = ssfile.to_pandas(path, json=True)
    assert df["payload"].tolist() == raw
    assert df["payload.a"].iloc[[0, 5]].tolist() == [1.0, 2.5] and df["payload.a"].isna().sum() == 5
    assert "payload" not in ssfile.to_pandas(path, json=True, payload=False).columns


# ---- optional dependencies --------------------------------------------------------------------


def test_importing_ssfile_imports_no_numpy_or_pandas():
    code = "import sys, ssfile; print(sorted({'numpy', 'pandas', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "module, extra, call",
    [
        ("numpy", "numpy", lambda p: ssfile.to_numpy(p)),
        ("pandas", "pandas", lambda p: ssfile.to_pandas(p)),
        ("pandas", "pandas", lambda p: ssfile.stats(p)),
    ],
)
def test_missing_dependency_names_the_extra(tmp_path, monkeypatch, module, extra, call):
    path = write(tmp_path / "d.ss", mixed_messages(3, 1))
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ssfile.MissingDependency, match=rf"pip install 'ssfile\[{extra}\]'"):
        call(path)


def test_vectorised_crc_equals_the_reference():
    from ssfile.export.vcrc import payload_crcs
    from ssfile.format.crc import crc16_py

    rng = random.Random(3)
    data = bytes(rng.randrange(256) for _ in range(6000))
    lengths = [0, 1, 2, 3, 7, 8, 9, 16, 17, 31, 64, 65, 128, 129, 255, 256, 257, 1000]
    starts = [rng.randrange(4000) for _ in range(400)]
    lens = [rng.choice(lengths) for _ in starts]
    got = payload_crcs(
        np.frombuffer(data, np.uint8), np.array(starts, np.int64), np.array(lens, np.int64)
    )
    assert got.tolist() == [crc16_py(data[s : s + n]) for s, n in zip(starts, lens)]
