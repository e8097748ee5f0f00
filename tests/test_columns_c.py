"""The C columnar scan (ssfile/_speedups.c, scan_columns) against the numpy scan.

Both must give the same columns (values and dtypes), payloads, flags and errors (class, text,
offset) on every file: hypothesis-made files, intact or damaged (bytes flipped, cut short),
the golden files, with every option (payload modes, CRC checks, selections, time slices,
``tolerate_truncation``, ``on_damage``) and many chunkings of the C output (``window``
sets its first allocation: under 64 bytes, one row, so every resume path runs).  With
SSFILE_PURE=1 this file runs the numpy scan against itself (test_speedups runs it so).
"""

from __future__ import annotations

import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file, small_files

import ssfile
from ssfile.codec import accel
from ssfile.export import columns, cscan
from ssfile.export.columns import Selection, scan

T0 = 1_767_225_600_000
C_BUILT = not accel.pure_forced()


def test_the_c_scan_is_there_unless_pure_is_forced():
    assert cscan.available() == C_BUILT


def outcome(use_c, fn):
    """What ``fn()`` gives on one scan: a comparable value, or the error's class, text, offset."""
    saved = columns.USE_C
    columns.USE_C = use_c
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = fn()
        return got, [str(w.message) for w in caught]
    except ssfile.SSError as err:
        return (type(err), str(err), err.offset), []
    finally:
        columns.USE_C = saved


def scan_value(got, payload):
    c = got.columns
    value = {
        "keys": [got.keys[i] for i in c["code"].tolist()],
        "dtypes": {name: str(a.dtype) for name, a in c.items()},
        "ended": got.ended,
        "torn": got.torn_tail,
        "damage": got.damage,
    }
    for name, a in c.items():
        if name != "code":
            value[name] = a.tolist()
    pieces = got.payloads  # how many pieces is no part of the format: their content is
    if payload == "buffer":
        assert {str(p.dtype) for p in pieces} <= {"uint8"}
        value["payloads"] = b"".join(p.tobytes() for p in pieces)
    else:
        value["payloads"] = [p for part in pieces for p in part]
    return value


def numpy_value(cols):
    return {
        "keys": cols.stream_key().tolist(),
        "codes": str(cols.stream_codes.dtype),
        "columns": [
            (a.tolist(), str(a.dtype))
            for a in (cols.shard_id, cols.sequence, cols.timestamp, cols.offset)
        ],
        "payloads": cols.payloads()
        if len(cols) and not (cols.payload is None and cols.payload_buffer is None)
        else [],
        "offsets": None if cols.payload_offsets is None else cols.payload_offsets.tolist(),
        "flags": (cols.ended, cols.torn_tail, cols.damage),
    }


def same_on_both(fn):
    expected = outcome(False, fn)
    if C_BUILT:
        assert outcome(True, fn) == expected
    return expected


def both_scans(path, **options):
    return same_on_both(lambda: scan_value(scan(path, **options), options.get("payload")))


def damage(data: bytes, rng: random.Random, how: str) -> bytes:
    out = bytearray(data)
    if how == "flip" and len(out) > 129:
        for _ in range(rng.randrange(1, 4)):
            out[rng.randrange(128, len(out))] ^= 1 << rng.randrange(8)
    elif how == "zero" and len(out) > 160:
        at = rng.randrange(128, len(out) - 32)
        out[at : at + rng.randrange(1, 64)] = bytes(min(64, len(out) - at))[: rng.randrange(1, 64)]
    elif how == "cut" and len(out) > 129:
        del out[rng.randrange(129, len(out)) :]
    return bytes(out)


OPTIONS = st.fixed_dictionaries(
    {
        "payload": st.sampled_from([None, "buffer", "bytes"]),
        "check_crc": st.booleans(),
        "tolerate_truncation": st.booleans(),
        "on_damage": st.sampled_from(["raise", "skip"]),
        "window": st.sampled_from([40, 300, 5000, 1 << 22]),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    spec=small_files(),
    options=OPTIONS,
    how=st.sampled_from(["none", "flip", "zero", "cut"]),
    seed=st.integers(0, 1 << 30),
    keys=st.sampled_from([None, 1, 2]),
    shards=st.sampled_from([None, {0}, {1, 2}]),
    since=st.sampled_from([None, 0, 1_700_000_000_500]),
    until=st.sampled_from([None, 1_700_000_001_000, 1 << 62]),
)
def test_any_file_and_options(tmp_path, spec, options, how, seed, keys, shards, since, until):
    interval, msgs, eos = spec
    rng = random.Random(seed)
    data = damage(encode_file(interval, msgs, eos), rng, how)
    path = tmp_path / "h.ss"
    path.write_bytes(data)
    names = sorted({m[0] for m in msgs})
    streams = None if keys is None else frozenset(names[:keys])
    select = Selection(streams, None if shards is None else frozenset(shards), since, until)
    both_scans(path, select=select, **options)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    spec=small_files(),
    how=st.sampled_from(["none", "flip", "cut"]),
    seed=st.integers(0, 1 << 30),
    payload=st.sampled_from([False, True, "bytes"]),
    since=st.sampled_from([None, 1_700_000_000_300]),
    until=st.sampled_from([None, 1_700_000_000_900]),
    on_damage=st.sampled_from(["raise", "skip"]),
)
def test_to_numpy_with_time_slices(tmp_path, spec, how, seed, payload, since, until, on_damage):
    interval, msgs, eos = spec
    path = tmp_path / "t.ss"
    path.write_bytes(damage(encode_file(interval, msgs, eos), random.Random(seed), how))
    same_on_both(
        lambda: numpy_value(
            ssfile.to_numpy(
                path,
                since=since,
                until=until,
                payload=payload,
                on_damage=on_damage,
                tolerate_truncation=True,
            )
        )
    )


@pytest.mark.parametrize("window", [40, 500, 1 << 22])
@pytest.mark.parametrize("payload", [None, "buffer", "bytes"])
def test_golden_files(golden_dir, window, payload):
    files = sorted(golden_dir.glob("*.ss"))
    assert files
    for path in files:
        got, _ = both_scans(path, payload=payload, window=window)
        assert not isinstance(got, tuple), (path.name, got)
        tolerant, _ = both_scans(path, payload=payload, window=window, tolerate_truncation=True)


def big_file(tmp_path, n, size, keys=4, interval=1 << 16):
    rng = random.Random(n ^ size)
    msgs = [
        (f"k{i % keys}", i % 3, i, T0 + i, rng.randbytes(rng.randrange(size + 1))) for i in range(n)
    ]
    path = tmp_path / "big.ss"
    path.write_bytes(encode_file(interval, msgs, eos=True))
    return path


@pytest.mark.parametrize("window", [40, 64 * 7, 1 << 22])
def test_growth_and_chunks_on_a_larger_file(tmp_path, window):
    """Thousands of rows through small first allocations: the columns and the payload buffer
    grow many times; bytes mode cuts its buffer in chunks."""
    path = big_file(tmp_path, 5000, 700)
    for payload in (None, "buffer", "bytes"):
        got, _ = both_scans(path, payload=payload, window=window)
        assert len(got["keys"]) == 5000


def test_payloads_larger_than_the_chunk_and_many_beacons(tmp_path):
    path = big_file(tmp_path, 40, 20_000, interval=512)
    for payload in ("buffer", "bytes"):
        got, _ = both_scans(path, payload=payload, window=100)
        assert len(got["payloads"]) > 0


def test_more_keys_than_int16_codes(tmp_path):
    """Over 32767 stream keys: the code column widens to int32 on both scans."""
    msgs = [(f"s{i}", 0, 0, T0, b"") for i in range(33_000)]
    path = tmp_path / "keys.ss"
    path.write_bytes(encode_file(1 << 20, msgs, eos=True))
    got, _ = both_scans(path, payload=None)
    assert got["dtypes"]["code"] == "int32" and got["keys"][-1] == "s32999"
    got, _ = both_scans(path, payload=None, select=Selection(streams=frozenset({"s5", "s32998"})))
    assert got["keys"] == ["s5", "s32998"]


def test_errors_are_the_same(tmp_path):
    msgs = [("a", 0, i, T0 + i, bytes([i % 256]) * 30) for i in range(50)]
    good = encode_file(256, msgs, eos=True)
    path = tmp_path / "e.ss"
    offsets = [m.offset for m in ssfile.open(_write(path, good))]
    for name, at in (("crc", offsets[20] + 1 + 1 + 28 + 3), ("ts", offsets[30] + 1 + 1 + 16)):
        data = bytearray(good)
        data[at] ^= 0xFF
        path.write_bytes(bytes(data))
        got, _ = both_scans(path)
        assert isinstance(got, tuple) and got[0] in (ssfile.ChecksumMismatch, ssfile.FieldError)
        assert got[2] == (offsets[20] if name == "crc" else offsets[30])
        skipped, warned = both_scans(path, on_damage="skip")
        assert len(skipped["keys"]) == 49 and warned


def _write(path, data):
    path.write_bytes(data)
    return path


def test_nothing_at_or_after_the_stop_is_looked_at(tmp_path):
    """A time slice ends at the first frame at or after ``until``: damage or the EOS frame
    beyond it belong to no row, on both scans (the numpy scan used to check the whole window
    that held the stop, so the outcome depended on the window size)."""
    msgs = [("a", 0, i, T0 + i, bytes([65 + i % 26]) * 20) for i in range(100)]
    good = encode_file(1 << 20, msgs, eos=True)
    path = _write(tmp_path / "s.ss", good)
    offsets = [m.offset for m in ssfile.open(path)]
    data = bytearray(good)
    data[offsets[80] + 1 + 1 + 28 + 5] ^= 0xFF  # a payload byte of message 80
    path.write_bytes(bytes(data))
    for window in (40, 1 << 22):
        for payload in (None, "buffer"):
            got, _ = both_scans(path, stop=offsets[50], payload=payload, window=window)
            assert len(got["keys"]) == 50 and not got["ended"]
    got, _ = same_on_both(lambda: numpy_value(ssfile.to_numpy(path, until=T0 + 50)))
    assert len(got["keys"]) == 50 and got["flags"] == (False, None, [])
