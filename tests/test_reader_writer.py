"""Reader and Writer through the public API: round trips, defaults, EOS rules, bounded memory,
truncation."""

import datetime as dt
import io
import os
import tempfile
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file, message_lists

import ssfile
from ssfile import platform
from ssfile.codec.events import EndOfStream

UTC = dt.UTC


def write_all(path, msgs, interval=1024, eos=True, **kw):
    with ssfile.open(path, "w", beacon_interval=interval, eos=False, **kw) as w:
        for key, shard, seq, ts, payload in msgs:
            w.write(payload, stream_key=key, shard_id=shard, sequence=seq, timestamp=ts)
        if eos:
            w.close(eos=True)


def read_all(path, **kw):
    with ssfile.open(path, **kw) as r:
        msgs = [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]
        return msgs, r.ended


# ---- round trips ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    msgs=message_lists(max_messages=60, max_payload=700),
    interval=st.integers(128, 2048),
    eos=st.booleans(),
    chunk=st.sampled_from([13, 100, 4096, 1 << 20]),
)
def test_round_trip(msgs, interval, eos, chunk):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.ss")
        write_all(path, msgs, interval, eos)
        got, ended = read_all(path, chunk_size=chunk)
        assert got == msgs and ended is eos
        with open(path, "rb") as f:
            data = f.read()
        with ssfile.open(path) as r:
            created = r.header.created_at_ms
    # EOS timestamps are "now": compare everything but that frame with the sans-I/O encoder
    same = encode_file(interval, msgs, eos=False, name="r.ss", created_at=created)
    assert data[: len(same)] == same


def test_reading_from_a_binary_stream():
    data = encode_file(256, [("a", 0, i, i, bytes([i]) * i) for i in range(30)])
    with ssfile.open(io.BytesIO(data)) as r:
        assert [m.payload for m in r] == [bytes([i]) * i for i in range(30)] and r.ended
        assert r.path is None


def test_header_fields(tmp_path):
    path = tmp_path / "named.ss"
    when = dt.datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=UTC)
    with ssfile.open(path, "w", beacon_interval=2048, created_at=when):
        pass
    with ssfile.open(path) as r:
        assert r.header.file_name == "named.ss"
        assert r.header.beacon_interval == 2048
        assert r.header.created_at == when.replace(microsecond=123000)
        assert r.header.created_at.tzinfo is not None
        assert list(r) == [] and r.ended


def test_events_include_beacons_and_eos(tmp_path):
    path = tmp_path / "e.ss"
    write_all(path, [("k", 0, i, i, b"z" * 300) for i in range(10)], interval=512)
    with ssfile.open(path) as r:
        events = list(r.events())
    kinds = {type(e).__name__ for e in events}
    assert kinds == {"Message", "Beacon", "EndOfStream"}
    assert isinstance(events[-1], EndOfStream)


# ---- defaults --------------------------------------------------------------------------------------


def test_sequences_default_per_stream_and_shard(tmp_path):
    path = tmp_path / "s.ss"
    with ssfile.open(path, "w") as w:
        got = [
            w.write(b"", stream_key=k, shard_id=s)
            for k, s in [("a", 0), ("a", 0), ("b", 0), ("a", 1), ("a", 0), ("b", 0)]
        ]
        assert got == [1, 2, 1, 1, 3, 2]
        assert w.write(b"", stream_key="a", sequence=10) == 10
        assert w.write(b"", stream_key="a") == 11
        assert w.write(b"", stream_key="a", sequence=5) == 5
        assert w.write(b"", stream_key="a") == 12  # continues from the largest, not the last
    msgs, _ = read_all(path)
    assert [m[2] for m in msgs if m[:2] == ("a", 0)] == [1, 2, 3, 10, 11, 5, 12]


def test_timestamp_defaults_to_now(tmp_path):
    path = tmp_path / "t.ss"
    before = time.time_ns() // 1_000_000
    with ssfile.open(path, "w") as w:
        w.write(b"x", stream_key="k")
    after = time.time_ns() // 1_000_000
    with ssfile.open(path) as r:
        (m,) = list(r)
        assert before <= m.timestamp_ms <= after
        assert before <= r.header.created_at_ms <= after


def test_timestamps_as_datetimes(tmp_path):
    path = tmp_path / "d.ss"
    plus2 = dt.timezone(dt.timedelta(hours=2))
    values = [
        dt.datetime(2023, 8, 11, 6, 28, 50, 440999, tzinfo=UTC),
        dt.datetime(2023, 8, 11, 8, 28, 50, 440000, tzinfo=plus2),
        dt.datetime(2023, 8, 11, 6, 28, 50, 440000),  # naive means UTC
        1691735330440,
    ]
    with ssfile.open(path, "w") as w:
        for v in values:
            w.write(b"", stream_key="k", timestamp=v)
    with ssfile.open(path) as r:
        msgs = list(r)
    assert [m.timestamp_ms for m in msgs] == [1691735330440] * 4
    for m in msgs:
        assert m.timestamp == dt.datetime(2023, 8, 11, 6, 28, 50, 440000, tzinfo=UTC)
        assert m.timestamp.utcoffset() == dt.timedelta(0)


# ---- EOS rules ---------------------------------------------------------------------------------------


def _last_frame_is_eos(path) -> bool:
    with ssfile.open(path) as r:
        events = list(r.events())
    return bool(events) and isinstance(events[-1], EndOfStream)


def test_close_writes_eos_unless_told_not_to(tmp_path):
    with ssfile.open(tmp_path / "a.ss", "w") as w:
        w.write(b"1", stream_key="k")
    assert _last_frame_is_eos(tmp_path / "a.ss")
    with ssfile.open(tmp_path / "b.ss", "w", eos=False) as w:
        w.write(b"1", stream_key="k")
    assert not _last_frame_is_eos(tmp_path / "b.ss")
    w = ssfile.open(tmp_path / "c.ss", "w")
    w.write(b"1", stream_key="k")
    w.close(eos=False)
    w.close()  # idempotent: no EOS sneaks in on a second close
    msgs, ended = read_all(tmp_path / "c.ss")
    assert [m[4] for m in msgs] == [b"1"] and not ended


def test_no_eos_when_the_with_block_raises(tmp_path):
    path = tmp_path / "boom.ss"
    with pytest.raises(RuntimeError):
        with ssfile.open(path, "w") as w:
            w.write(b"kept", stream_key="k", timestamp=5)
            raise RuntimeError("boom")
    assert read_all(path) == ([("k", 0, 1, 5, b"kept")], False)


def test_writer_refuses_writes_after_close(tmp_path):
    w = ssfile.open(tmp_path / "x.ss", "w")
    w.close()
    with pytest.raises(ssfile.SSError, match="closed"):
        w.write(b"", stream_key="k")


def test_modes(tmp_path):
    path = tmp_path / "m.ss"
    ssfile.open(path, "x").close()
    with pytest.raises(FileExistsError):
        ssfile.open(path, "x")
    with pytest.raises(ValueError, match="mode"):
        ssfile.open(path, "rw")


# ---- bounded memory ----------------------------------------------------------------------------------


def test_reading_a_large_file_keeps_buffers_small(tmp_path):
    path = tmp_path / "big.ss"
    n = 30_000
    with ssfile.open(path, "w", eos=False) as w:
        for i in range(n):
            w.write(b"p" * 100, stream_key=f"s{i % 4}", timestamp=i)
    size = os.path.getsize(path)
    chunk = 64 * 1024
    assert size > 40 * chunk
    peak_buffer = peak_batch = count = 0
    with ssfile.open(path, chunk_size=chunk) as r:
        dec = r._dec
        for _ in r:
            count += 1
            if count % 500 == 0:
                peak_buffer = max(peak_buffer, len(dec._buf), dec.buffered)
                peak_batch = max(peak_batch, len(r._events))
    assert count == n
    assert peak_buffer <= 2 * chunk
    assert peak_batch <= chunk // 32 + 1  # a batch never holds more than one chunk's frames


def test_a_frame_larger_than_the_chunk_is_read_whole(tmp_path):
    path = tmp_path / "huge.ss"
    payload = os.urandom(300_000)
    with ssfile.open(path, "w", beacon_interval=4096) as w:
        w.write(payload, stream_key="k", timestamp=1)
        w.write(b"after", stream_key="k", timestamp=2)
    with ssfile.open(path, chunk_size=1000) as r:
        assert [m.payload for m in r] == [payload, b"after"] and r.ended


# ---- truncation --------------------------------------------------------------------------------------


def _torn(tmp_path, cut_into_last: int):
    path = tmp_path / "torn.ss"
    msgs = [("k", i % 2, i, 1000 + i, bytes([i]) * (20 + i)) for i in range(50)]
    write_all(path, msgs, interval=512, eos=False)
    with ssfile.open(path) as r:
        offsets = [m.offset for m in r]
    size = os.path.getsize(path)
    os.truncate(path, size - cut_into_last)
    return path, msgs, offsets[-1]


@pytest.mark.parametrize("cut", [1, 3, 20, 60])
def test_truncated_last_frame_raises_after_every_complete_message(tmp_path, cut):
    path, msgs, last = _torn(tmp_path, cut)
    got = []
    with ssfile.open(path) as r:
        with pytest.raises(ssfile.TruncatedError) as info:
            for m in r:
                got.append((m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload))
    assert got == msgs[:-1]
    assert info.value.offset == last
    assert f"offset {last}" in str(info.value) and "torn.ss" in str(info.value)


def test_tolerate_truncation_ends_cleanly(tmp_path):
    path, msgs, last = _torn(tmp_path, 5)
    with ssfile.open(path, tolerate_truncation=True) as r:
        got = [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]
        assert got == msgs[:-1]
        assert r.torn_tail == last and not r.ended


def test_untorn_file_has_no_torn_tail(tmp_path):
    path = tmp_path / "ok.ss"
    write_all(path, [("k", 0, 1, 1, b"x")], eos=False)
    with ssfile.open(path, tolerate_truncation=True) as r:
        assert len(list(r)) == 1 and r.torn_tail is None


def test_checksum_mismatch_reported_after_prior_messages(tmp_path):
    path = tmp_path / "crc.ss"
    write_all(path, [("k", 0, i, i, b"payload-%d" % i) for i in range(10)], eos=True)
    with ssfile.open(path) as r:
        offsets = [m.offset for m in r]
    data = bytearray(path.read_bytes())
    victim = offsets[6]
    data[victim + 1 + 1 + 28] ^= 0xFF  # first payload byte (key "k")
    path.write_bytes(bytes(data))
    seen = []
    with ssfile.open(path) as r:
        with pytest.raises(ssfile.ChecksumMismatch) as info:
            for m in r:
                seen.append(m.sequence)
    assert seen == list(range(6)) and info.value.offset == victim
    with ssfile.open(path, check_crc=False) as r:
        assert len(list(r)) == 10 and r.ended


def test_break_and_iterate_again_loses_nothing(tmp_path):
    """``for m in r: break`` then iterating again continues with the next message."""
    import ssfile

    path = tmp_path / "b.ss"
    with ssfile.open(path, "w", beacon_interval=1024) as w:
        for i in range(3000):
            w.write(b"%d" % i, stream_key="k")
    with ssfile.open(path) as r:
        got = []
        for stop in (1, 7, 300, 1000):
            for m in r:
                got.append(m.sequence)
                if len(got) >= stop:
                    break
        import itertools

        evs = list(itertools.islice((e for e in r.events() if isinstance(e, ssfile.Message)), 5))
        got += [m.sequence for m in evs]
        got += [m.sequence for m in r]
    assert got == list(range(1, 3001))


@pytest.mark.parametrize("fsync", [False, True])
def test_a_parked_writer_gives_the_same_bytes(tmp_path, fsync):
    """park() closes the file and keeps the writer's state: parking after every message, with
    a buffer smaller than some messages, gives the bytes of a writer that stayed open."""

    def holds(path):
        """The writer lock is held, or (where /proc tells) the file is open."""
        fd = os.open(path, os.O_RDWR)
        try:
            platform.lock_writer(fd, str(path))
            platform.unlock_writer(fd)
        except ssfile.SSError:
            return True
        finally:
            os.close(fd)
        try:
            fds = os.listdir("/proc/self/fd")
        except FileNotFoundError:  # no /proc (macOS, Windows, their simulations)
            return False
        return any(os.path.realpath(f"/proc/self/fd/{fd}") == str(path) for fd in fds)

    def run(path, park):
        options = dict(beacon_interval=256, created_at=0, file_name="x.ss", buffer_size=100)
        with ssfile.open(path, "w", fsync=fsync, **options) as w:
            for i in range(60):
                w.write(b"p" * (i * 7 % 150), stream_key=f"k{i % 4}", timestamp=i)
                if park:
                    w.park()
                    w.park()  # twice: nothing more happens
                    assert not holds(path)
            if park:
                w.flush()  # parked and flushed: nothing to write, no fsync of a closed file
            w.write_eos(timestamp=60)  # (the default is now)
        return path.read_bytes()

    assert run(tmp_path / "parked.ss", True) == run(tmp_path / "open.ss", False)
    assert ssfile.verify(tmp_path / "parked.ss").clean


def test_a_writer_of_a_descriptor_cannot_park(tmp_path):
    with open(tmp_path / "x.ss", "wb") as f, ssfile.Writer(f.fileno(), created_at=0) as w:
        with pytest.raises(ValueError, match="cannot park"):
            w.park()


@pytest.mark.parametrize("data", [b"", b"S", b"Ss\x01", b"Ss\x01\x04a.ss"])
def test_a_file_cut_inside_its_header_is_closed_and_named(tmp_path, data):
    """With tolerate_truncation the reader used to raise "missing file header" without the
    path and leave the file open: a ResourceWarning at the next garbage collection (seen in
    tests/test_write_faults.py, whose gc.collect() turns warnings into errors)."""
    import gc
    import warnings

    path = tmp_path / "cut.ss"
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ssfile.FormatError, match="header") as info:
            ssfile.open(path, tolerate_truncation=True)
        message = str(info.value)
        del info  # the traceback holds the reader until then
        gc.collect()
    assert [w for w in seen if issubclass(w.category, ResourceWarning)] == []
    assert str(path) in message
