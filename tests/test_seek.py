"""Seeking a Reader by time, sequence, beacon; always equal to a linear scan from the start."""

from __future__ import annotations

import io
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ssfile
from ssfile.codec.encoder import Encoder
from ssfile.errors import SeekError
from ssfile.format.records import FileHeader

KEYS = ["a", "b", "c", "d", "e", "zz", "SEA_STREAMER_WILDCARD"]


class CountingFile(io.RawIOBase):
    """A read-only file over bytes that counts what is read from it."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = (
            pos if whence == 0 else (self._pos + pos if whence == 1 else len(self._data) + pos)
        )
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else min(len(self._data), self._pos + n)
        out = self._data[self._pos : end]
        self._pos = end
        self.bytes_read += len(out)
        return out


@st.composite
def sessions(draw):
    """A file built from 1-3 writer sessions, as raw bytes.

    Session kinds: "continue" (ssfile's append: marker state resumes) and "restart"
    (upstream's append: marker state and rotation start empty; its messages are not older
    and not numbered lower than the earlier ones, the documented condition for exactness).
    "eos-quirk": the first session ends with an EOS before beacon 1 and the next session is
    appended after it (upstream keeps that EOS); a reader stops at it.
    """
    interval = draw(st.sampled_from([128, 256, 640, 1024, 2048, 4096, 8192]))
    streams = draw(
        st.lists(
            st.tuples(st.sampled_from(KEYS), st.integers(0, 3)), min_size=1, max_size=6, unique=True
        )
    )
    ts_mode = draw(st.sampled_from(["monotone", "per-stream", "random"]))
    big = draw(st.sampled_from([0, 0, interval // 2, 3 * interval]))
    enc = Encoder(FileHeader("t.ss", 1, interval))
    enc.start()
    out = bytearray()
    clock = 1000
    seqs = {s: draw(st.integers(0, 5)) for s in streams}
    skew = {s: draw(st.integers(-500, 500)) for s in streams}
    n_sessions = draw(st.integers(1, 3))
    ts_floor = 0  # raised at each restart; later "continue" sessions inherit it
    max_ts = 0
    for i in range(n_sessions):
        kind = "first" if i == 0 else draw(st.sampled_from(["continue", "restart", "eos-quirk"]))
        if kind == "eos-quirk":
            if enc.offset + 56 >= interval:
                kind = "restart"
            else:
                enc.end_of_stream(clock)
        if kind in ("restart", "eos-quirk"):
            out += enc.take()
            enc = Encoder(FileHeader("t.ss", 1, interval), offset=len(out))
            enc.start()
            ts_floor = max(
                clock + 600, max_ts
            )  # a later session is not older than any earlier message
            clock = ts_floor
        active = draw(
            st.lists(st.sampled_from(streams), min_size=1, max_size=len(streams), unique=True)
        )
        for _ in range(draw(st.integers(0, 60))):
            s = draw(st.sampled_from(active))
            clock += draw(st.integers(0, 3))
            if ts_mode == "monotone":
                ts = clock
            elif ts_mode == "per-stream":
                ts = clock + skew[s] + (600 if kind in ("restart", "eos-quirk") else 0)
            else:
                ts = clock + draw(st.integers(-300, 300))
            ts = max(ts, ts_floor)
            seqs[s] += draw(st.integers(1, 3)) if ts_mode != "random" else draw(st.integers(0, 2))
            size = draw(st.sampled_from([0, 5, 40, 200, big]))
            enc.encode(s[0], s[1], seqs[s], max(ts, 0), bytes(size))
            max_ts = max(max_ts, ts)
    if draw(st.booleans()):
        enc.end_of_stream(clock)
    out += enc.take()
    return bytes(out)


def linear(data: bytes) -> list[ssfile.Message]:
    with ssfile.Reader(io.BytesIO(data)) as r:
        return list(r)


def expected_from(msgs, match):  # type: ignore[no-untyped-def]
    for i, m in enumerate(msgs):
        if match(m):
            return msgs[i:]
    return []


def _candidates(msgs, attr):  # type: ignore[no-untyped-def]
    values = {getattr(m, attr) for m in msgs}
    return sorted(values | {v + 1 for v in values} | {0, 10**12})


@given(sessions(), st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_seek_time_equals_linear_scan(data, draw):
    msgs = linear(data)
    target = draw.draw(st.sampled_from(_candidates(msgs, "timestamp_ms")))
    with ssfile.Reader(io.BytesIO(data)) as r:
        first = r.seek_time(target)
        got = list(r)
    want = expected_from(msgs, lambda m: m.timestamp_ms >= target)
    assert got == want
    assert first == (want[0] if want else None)
    if want:
        assert [m.offset for m in got] == [m.offset for m in want]


@given(sessions(), st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_seek_sequence_equals_linear_scan(data, draw):
    msgs = linear(data)
    pairs = sorted({(m.stream_key, m.shard_id) for m in msgs}) or [("a", 0)]
    key, shard = draw.draw(st.sampled_from(pairs + [("nope", 0)]))
    seq = draw.draw(st.sampled_from(_candidates(msgs, "sequence")))
    with ssfile.Reader(io.BytesIO(data)) as r:
        first = r.seek_sequence(key, shard, seq)
        got = list(r)
    want = expected_from(
        msgs, lambda m: m.stream_key == key and m.shard_id == shard and m.sequence >= seq
    )
    assert got == want
    assert first == (want[0] if want else None)


@given(sessions(), st.lists(st.integers(0, 10**4), min_size=1, max_size=4))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_repeated_seeks_on_one_reader(data, targets):
    msgs = linear(data)
    with ssfile.Reader(io.BytesIO(data)) as r:
        for t in targets:
            r.seek_time(t)
            assert list(r) == expected_from(msgs, lambda m: m.timestamp_ms >= t)
        r.rewind()
        assert list(r) == msgs


def _big_file(tmp_path: pathlib.Path, n: int = 20000, interval: int = 16384) -> bytes:
    path = tmp_path / "big.ss"
    with ssfile.open(path, "w", beacon_interval=interval) as w:
        for i in range(n):
            w.write(b"p" * (i % 50), stream_key="abc"[i % 3], shard_id=i % 2, timestamp=10_000 + i)
    return path.read_bytes()


def test_bytes_read_per_seek_stay_near_one_interval(tmp_path):
    data = _big_file(tmp_path)
    interval = 16384
    beacons = len(data) // interval
    msgs = linear(data)
    for target in (10_000, 12_345, 19_999, 29_999, 40_000):
        f = CountingFile(data)
        with ssfile.Reader(f) as r:
            r.seek_time(5_000)  # absorbs the once-per-reader first-interval EOS check
            f.bytes_read = 0
            first = r.seek_time(target)
            spent = f.bytes_read
            want = expected_from(msgs, lambda m: m.timestamp_ms >= target)
            assert first == (want[0] if want else None)
        # log2(B)+1 beacon reads of at most one page each, then about two intervals of scan
        probes = beacons.bit_length() + 1
        assert spent <= probes * 4096 + 2 * interval + 64 * 1024, (target, spent)
        assert spent < len(data) / 4


def test_sequence_seek_reads_little(tmp_path):
    data = _big_file(tmp_path)
    f = CountingFile(data)
    with ssfile.Reader(f) as r:
        r.seek_time(0)
        f.bytes_read = 0
        m = r.seek_sequence("b", 1, 3000)
        assert (m.stream_key, m.shard_id) == ("b", 1) and m.sequence >= 3000
        assert f.bytes_read < len(data) / 4


def test_seek_beacon_rewind_and_end(golden_dir):
    data = (golden_dir / "consumer.ss").read_bytes()
    msgs = linear(data)
    with ssfile.Reader(io.BytesIO(data)) as r:
        # upstream's rewind(At(n)) on consumer.ss continues at hello-0, -21, -43, -64, -86
        for n, seq in [(0, 0), (1, 21), (2, 43), (3, 64), (4, 86)]:
            assert r.seek_beacon(n) == n
            assert next(iter(r)).sequence == seq
        assert r.seek_beacon(99) == 4
        r.seek_end()
        assert list(r) == [] and r.ended
        r.rewind()
        assert list(r) == msgs


def test_golden_files_seek_like_a_scan(golden_dir):
    for name in ("consumer", "multi-stream", "long-payloads", "no-eos", "sample-1"):
        data = (golden_dir / f"{name}.ss").read_bytes()
        msgs = linear(data)
        times = sorted({m.timestamp_ms for m in msgs})
        with ssfile.Reader(io.BytesIO(data)) as r:
            for t in times[:: max(1, len(times) // 17)] + [times[-1] + 1]:
                r.seek_time(t)
                assert list(r) == expected_from(msgs, lambda m: m.timestamp_ms >= t), (name, t)
            for m0 in msgs[:: max(1, len(msgs) // 13)]:
                r.seek_sequence(m0.stream_key, m0.shard_id, m0.sequence)
                want = expected_from(
                    msgs,
                    lambda m: (
                        (m.stream_key, m.shard_id) == (m0.stream_key, m0.shard_id)
                        and m.sequence >= m0.sequence
                    ),
                )
                assert list(r) == want, (name, m0)


def test_seek_accepts_datetimes(golden_dir):
    with ssfile.open(golden_dir / "consumer.ss") as r:
        msgs = list(r)
        m = r.seek_time(msgs[50].timestamp)
        assert m == msgs[50] or m.timestamp_ms == msgs[50].timestamp_ms


def test_seek_on_a_pipe_is_a_clear_error(golden_dir):
    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with ssfile.Reader(Pipe((golden_dir / "consumer.ss").read_bytes())) as r:
        with pytest.raises(SeekError, match="not a seekable"):
            r.seek_time(0)


def test_empty_beacon_at_an_append_point_decides_nothing():
    """A file cut exactly at a boundary, then appended: the append writes an empty beacon
    there, which must not be taken for "no stream written before" (it would skip session 1)."""
    interval = 4096
    enc = Encoder(FileHeader("t.ss", 1, interval))
    enc.start()
    enc.encode("a", 0, 1, 100, bytes(1000))
    enc.encode("a", 0, 2, 200, bytes(interval - 128 - 33 - 1000 - 33))
    first = enc.take()[:interval]  # ends exactly on beacon 1, before its bytes
    assert len(first) == interval
    enc = Encoder(FileHeader("t.ss", 1, interval), offset=interval)
    enc.start()  # the empty beacon of an append on a boundary
    enc.encode("a", 0, 3, 300, b"x")
    data = first + enc.take()
    msgs = linear(data)
    assert [m.sequence for m in msgs] == [1, 2, 3]
    with ssfile.Reader(io.BytesIO(data)) as r:
        assert r.seek_time(150) == msgs[1]
        assert r.seek_sequence("a", 0, 2) == msgs[1]


def test_eos_before_beacon_1_stops_a_seek_like_a_scan():
    """Upstream appends after an EOS that lies before beacon 1; readers stop at that EOS."""
    interval = 1 << 12
    enc = Encoder(FileHeader("t.ss", 1, interval))
    enc.start()
    enc.encode("a", 0, 1, 100, b"x")
    enc.end_of_stream(101)
    head = enc.take()
    enc = Encoder(FileHeader("t.ss", 1, interval), offset=len(head))
    enc.start()
    for i in range(2, 400):
        enc.encode("a", 0, i, 100 + i, bytes(50))
    data = head + enc.take()
    assert [m.sequence for m in linear(data)] == [1]
    with ssfile.Reader(io.BytesIO(data)) as r:
        assert r.seek_time(300) is None and list(r) == []
        assert r.ended
        assert r.seek_sequence("a", 0, 200) is None and list(r) == []


@given(sessions(), st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_slice_equals_its_definition_on_a_linear_scan(data, draw):
    msgs = linear(data)
    pairs = sorted({(m.stream_key, m.shard_id) for m in msgs}) or [("a", 0)]
    times = _candidates(msgs, "timestamp_ms")
    streams = tuple(
        draw.draw(st.lists(st.sampled_from(sorted({p[0] for p in pairs})), max_size=2, unique=True))
    )
    shard = draw.draw(st.sampled_from([None, 0, 1, 2]))
    since = draw.draw(st.sampled_from([None] + times))
    until = draw.draw(st.sampled_from([None] + times))
    from_seq = draw.draw(st.sampled_from([None, 0, 3, 10, 40])) if len(streams) == 1 else None
    limit = draw.draw(st.sampled_from([None, 0, 1, 5]))
    spec = ssfile.Slice(
        streams=streams, shard=shard, since=since, until=until, from_seq=from_seq, limit=limit
    )
    with ssfile.Reader(io.BytesIO(data)) as r:
        got = list(spec.messages(r))
    # the definition, on a plain scan from the start
    want = []
    eff_shard = 0 if from_seq is not None and shard is None else shard
    for m in msgs:
        if (streams and m.stream_key not in streams) or (
            eff_shard is not None and m.shard_id != eff_shard
        ):
            continue
        if (since is not None and m.timestamp_ms < since) or (
            from_seq is not None and m.sequence < from_seq
        ):
            continue
        if until is not None and m.timestamp_ms >= until:
            break
        want.append(m)
    if limit is not None:
        want = want[:limit]
    assert got == want
