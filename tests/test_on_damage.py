"""``on_damage``: every reader goes past damage (issue 12, item 4), and resync is fast (item 9).

The oracle is the repair scan (``verify_bytes`` with a sink): the frames it reads whole,
with good checksums, up to the first EOS.  Every reading API with ``on_damage="skip"`` must
yield exactly those messages (same offsets, same fields), in order, once, with a
:class:`ssfile.DamageWarning` per skipped range; with ``on_damage="raise"`` the first damage
raises an error naming where the skip would start.  Independently of the code under test,
every message the damage did not touch must be among them (test_damage's oracle).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
import warnings

import pytest
import ssfile._speedups as C
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_damage import (
    FIXTURES,
    T0,
    apply,
    damages,
    frame_ranges,
    is_subsequence,
    original,
    untouched,
    write_file,
)

import ssfile
from ssfile.check import verify_bytes
from ssfile.codec.events import EndOfStream
from ssfile.codec.layout import OK, FrameRead, Layout
from ssfile.codec.resync import _candidate_pure, find_next

# ---- the oracle ------------------------------------------------------------------------------


def oracle(data):
    """(offset, key, shard, seq, ts, payload) of what the repair scan keeps, up to the EOS."""
    got = []

    class Sink:
        def start(self, diag):
            pass

        def item(self, item):
            if isinstance(item, FrameRead) and item.status == OK:
                got.append(item)

    verify_bytes(data, None, Sink())
    out = []
    for f in got:
        if f.is_eos:
            break
        out.append((f.offset, f.key, f.shard, f.seq, f.ts, f.payload))
    return out


def rows(messages):
    return [
        (m.offset, m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload)
        for m in messages
    ]


def read_skip(source, **options):
    """(rows, damage ranges, warnings) of a Reader with on_damage="skip"."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ssfile.open(source, on_damage="skip", **options) as r:
            got = rows(r)
            damage = list(r.damage)
    found = [w.message for w in caught if issubclass(w.category, ssfile.DamageWarning)]
    return got, damage, found


def clean_interval(data):
    return int.from_bytes(data[12 + data[3] : 16 + data[3]], "big")


def header_hit(hits, insert_at):
    return any(a < 128 for a, b in hits if b > a) or (insert_at is not None and insert_at < 128)


def check_all_apis(path, data, clean=None, hits=None, insert_at=None, shift=0):
    """Every reading API against the oracle on the damaged ``data`` at ``path``."""
    path.write_bytes(data)
    want = oracle(data)
    got, damage, warned = read_skip(path, tolerate_truncation=True)
    assert got == want, (len(got), len(want), damage)
    assert len({r[0] for r in got}) == len(got)  # never twice
    assert [rg for w in warned for rg in w.ranges] == damage
    assert all(n > 0 for _, n in damage) and damage == sorted(damage)
    for (a, n), (b, _) in zip(damage, damage[1:]):
        assert a + n <= b  # ranges do not overlap
    if clean is not None:  # the writer's list: every untouched message is kept
        frames, beacons, interval = frame_ranges(clean)
        keep = untouched(frames, hits, insert_at, shift, interval, beacons)
        plain = [
            (m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload)
            for m in keep
            if not isinstance(m, EndOfStream)
        ]
        assert is_subsequence(plain, [r[1:] for r in got])
    # raise: the same messages up to the first damage, then an error naming its offset
    before = [r for r in got if not damage or r[0] < damage[0][0]]
    seen = []
    try:
        with ssfile.open(path, tolerate_truncation=True) as r:
            for m in r:
                seen.append(m)
        assert not damage, damage
        assert rows(seen) == got
    except ssfile.FormatError as err:
        assert not isinstance(err, ssfile.TruncatedError)
        # the first check that fails: in the first damaged range, or (a length read from
        # damaged bytes) in a record that range's bad frame claimed
        assert damage and damage[0][0] <= err.offset, (err, damage)
        assert rows(seen) == before
    # the same bytes from a stream that cannot be memory-mapped
    assert read_skip(io.BytesIO(data), tolerate_truncation=True)[0] == want
    # asyncio, slices
    assert rows(asyncio.run(_aread(path))) == want
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ssfile.DamageWarning)
        with ssfile.open(path, on_damage="skip", tolerate_truncation=True) as r:
            assert rows(ssfile.Slice().messages(r)) == want
        # the exports
        cols = ssfile.to_numpy(path, on_damage="skip", payload="bytes", tolerate_truncation=True)
        assert [
            (int(o), k, int(s), int(q), int(t), p)
            for o, k, s, q, t, p in zip(
                cols.offset,
                cols.stream_key(),
                cols.shard_id,
                cols.sequence,
                cols.timestamp.astype("int64"),
                cols.payload,
            )
        ] == want
        assert cols.damage == damage
        frame = ssfile.to_pandas(path, on_damage="skip", tolerate_truncation=True)
        assert frame["offset"].tolist() == [r[0] for r in want]
        assert frame.attrs["ssfile"]["damage"] == damage
    return want, damage


async def _aread(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ssfile.DamageWarning)
        async with ssfile.aopen(path, on_damage="skip", tolerate_truncation=True) as r:
            return await r.read_all()


# ---- hypothesis: damage anywhere, every API ---------------------------------------------------


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_every_api_yields_exactly_the_intact_messages(tmp_path, data):
    clean = original(data.draw(st.sampled_from(sorted(FIXTURES))))
    ops = data.draw(damages(clean))
    damaged, hits, insert_at, shift, _ = apply(clean, ops)
    # a damaged header is repair's business (the reader refuses the file); when too many
    # beacon leads are hit, verify reads with another interval while readers trust the
    # header: the oracle does not apply
    assume(not header_hit(hits, insert_at))
    assume(verify_bytes(damaged).scan_interval == clean_interval(clean))
    check_all_apis(tmp_path / "d.ss", damaged, clean, hits, insert_at, shift)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.sampled_from([128, 256, 640, 1024]),
    st.lists(st.tuples(st.sampled_from(["a", "bb", "c.d"]), st.binary(max_size=300)), max_size=30),
    st.data(),
)
def test_generated_files_and_runs_of_damage(tmp_path, interval, msgs, data):
    rows_in = [(k, 0, i + 1, T0 + i, p) for i, (k, p) in enumerate(msgs)]
    clean = write_file(tmp_path / "g.ss", interval, rows_in, data.draw(st.booleans()))
    size = len(clean)
    assume(size > 129)
    buf = bytearray(clean)
    hits = []
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(128, size - 1))
        n = data.draw(st.integers(1, 200))
        kind = data.draw(st.sampled_from(["zero", "random", "ff"]))
        n = min(n, size - at)
        fill = {"zero": bytes(n), "ff": b"\xff" * n}.get(kind) or bytes(
            data.draw(st.binary(min_size=n, max_size=n))
        )
        buf[at : at + n] = fill
        hits.append((at, at + n))
    check_all_apis(tmp_path / "g-d.ss", bytes(buf), clean, hits)


# ---- spelled-out cases -------------------------------------------------------------------------


def big_file(path, n=20_000, interval=ssfile.DEFAULT_BEACON_INTERVAL):
    rng = random.Random(7)
    with ssfile.open(path, "w", beacon_interval=interval, created_at=T0) as w:
        for i in range(n):
            key = ("alpha", "beta", "gamma.1")[i % 3]
            w.write(bytes(rng.randrange(256) for _ in range(rng.randrange(10, 60))), stream_key=key)
    return path.read_bytes()


def info_json(path):
    res = subprocess.run(
        [sys.executable, "-m", "ssfile", "info", "--json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return res.returncode, json.loads(res.stdout) if res.stdout else None, res.stderr


def test_info_counts_every_intact_message_past_zeroed_bytes(tmp_path):
    """The issue's case: 128 zeroed bytes in the middle were reported as a torn tail."""
    data = bytearray(big_file(tmp_path / "big.ss"))
    mid = len(data) // 2
    data[mid : mid + 128] = bytes(128)
    path = tmp_path / "zeroed.ss"
    path.write_bytes(bytes(data))
    want = oracle(bytes(data))
    assert len(want) > 19_990
    code, got, err = info_json(path)
    assert code == 1, err
    assert got["messages"] == len(want)
    assert got["torn_tail_bytes"] == 0 and got["eos"]
    ranges = [(d["offset"], d["length"]) for d in got["damaged_ranges"]]
    assert len(ranges) == 1
    (offset, length) = ranges[0]
    assert offset <= mid and mid + 128 <= offset + length < mid + 128 + 200
    assert got["damaged_bytes"] == length
    text = subprocess.run(
        [sys.executable, "-m", "ssfile", "info", str(path)], capture_output=True, text=True
    )
    assert text.returncode == 1
    assert f"at offset {offset}..{offset + length} ({length} bytes)" in text.stdout
    assert f"messages:         {len(want)}" in text.stdout


def test_tolerate_truncation_only_forgives_a_torn_tail(tmp_path):
    data = bytearray(big_file(tmp_path / "b.ss", n=3000, interval=4096))
    frames, _, _ = frame_ranges(bytes(data))
    start = frames[100][0]
    k = data[start]
    data[start + 1 + k + 24] = 0x7F  # a length running far past the end of the file
    path = tmp_path / "len.ss"
    path.write_bytes(bytes(data))
    for tolerate in (False, True):
        with (
            pytest.raises(ssfile.FormatError) as err,
            ssfile.open(path, tolerate_truncation=tolerate) as r,
        ):
            list(r)
        assert not isinstance(err.value, ssfile.TruncatedError)
        assert err.value.offset == start and "intact data follows" in str(err.value)
    got, damage, warned = read_skip(path, tolerate_truncation=True)
    assert got == oracle(bytes(data)) and len(got) == 2999
    assert damage[0][0] == start and len(warned) == 1
    # a real torn tail is still one, and still forgiven
    torn = path.with_name("torn.ss")
    torn.write_bytes(bytes(data[: frames[-5][0] + 7]))
    with (
        pytest.warns(ssfile.DamageWarning),
        ssfile.open(torn, tolerate_truncation=True, on_damage="skip") as r,
    ):
        n = sum(1 for _ in r)
        assert r.torn_tail == frames[-5][0]
    assert n == len(frames) - 5 - 1  # the frames before the torn one, less the damaged one


def test_the_raise_error_names_the_offset_and_skip_warns(tmp_path):
    data = bytearray(big_file(tmp_path / "b.ss", n=2000, interval=2048))
    frames, _, _ = frame_ranges(bytes(data))
    start = frames[700][0]
    data[start + 1] = ord("!")  # an invalid key byte
    path = tmp_path / "key.ss"
    path.write_bytes(bytes(data))
    with pytest.raises(ssfile.FieldError, match=f"at offset {start}"), ssfile.open(path) as r:
        list(r)
    with pytest.warns(ssfile.DamageWarning) as caught, ssfile.open(path, on_damage="skip") as r:
        got = list(r)
    assert len(got) == 1999
    w = caught[0].message
    assert w.ranges == [(start, frames[701][0] - start)] and w.bytes == w.ranges[0][1]
    assert str(path) in str(w) and f"offset {start}..{frames[701][0]}" in str(w)


def test_invalid_on_damage_values_are_refused(tmp_path):
    path = tmp_path / "ok.ss"
    big_file(path, n=10)
    for call in (
        lambda: ssfile.open(path, on_damage="ignore"),
        lambda: ssfile.to_numpy(path, on_damage="warn"),
        lambda: ssfile.to_pandas(path, on_damage=None),
        lambda: asyncio.run(_aopen_bad(path)),
    ):
        with pytest.raises(ValueError, match="on_damage must be 'raise' or 'skip'"):
            call()
    res = subprocess.run(
        [sys.executable, "-m", "ssfile", "cat", str(path), "--on-damage", "maybe"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "--on-damage" in res.stderr


async def _aopen_bad(path):
    async with ssfile.aopen(path, on_damage="later"):
        pass


def test_cat_on_damage_skip(tmp_path):
    data = bytearray(big_file(tmp_path / "b.ss", n=3000, interval=4096))
    frames, _, _ = frame_ranges(bytes(data))
    data[frames[50][0] + 10 : frames[50][0] + 40] = bytes(30)
    start, _, msg = frames[2000]
    data[start + 1 + len(msg.stream_key) + 28 + 2] ^= 0x55  # a payload byte
    path = tmp_path / "cat.ss"
    path.write_bytes(bytes(data))
    want = oracle(bytes(data))
    res = subprocess.run(
        [sys.executable, "-m", "ssfile", "cat", "--format", "ndjson", "--on-damage", "skip"]
        + [str(path)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    got = [(x["header"]["stream_key"], x["header"]["sequence"]) for x in lines]
    assert got == [(r[1], r[3]) for r in want]
    with ssfile.open(path, on_damage="skip") as r, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        list(r)
        damage = r.damage
    reported = [x for x in res.stderr.splitlines() if "skipped damaged bytes" in x]
    assert len(reported) == len(damage) == 2
    for line, (a, n) in zip(reported, damage):
        assert f"skipped damaged bytes at offset {a}..{a + n} ({n} bytes)" in line
    plain = subprocess.run(
        [sys.executable, "-m", "ssfile", "cat", str(path)], capture_output=True, text=True
    )
    assert plain.returncode == 1 and len(plain.stdout.splitlines()) == 50
    assert f"at offset {damage[0][0]}" in plain.stderr


def test_seek_over_a_damaged_beacon_and_after_damage(tmp_path):
    interval = 1024
    data = bytearray(big_file(tmp_path / "b.ss", n=4000, interval=interval))
    beacon = 40 * interval
    data[beacon + 7 : beacon + 9] = b"\xff\xff"  # a marker's key: not a valid key any more
    data[90 * interval + 300] ^= 0xFF
    path = tmp_path / "seek.ss"
    path.write_bytes(bytes(data))
    want = oracle(bytes(data))
    with pytest.raises(ssfile.FormatError), ssfile.open(path) as r:
        list(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ssfile.DamageWarning)
        for target in (T0 - 1, want[len(want) // 3][4], want[-10][4], want[-1][4] + 1):
            with ssfile.open(path, on_damage="skip") as r:
                first = r.seek_time(target)
                rest = rows(r)
            expect = [x for x in want if x[4] >= target]
            expect = want[want.index(expect[0]) :] if expect else []
            assert rest == expect, target
            assert (first is None) == (not expect)
        key, shard, seq = want[-100][1], want[-100][2], want[-100][3]
        with ssfile.open(path, on_damage="skip") as r:
            got = r.seek_sequence(key, shard, seq)
            assert (got.stream_key, got.sequence) == (key, seq)
            assert rows(r) == want[len(want) - 100 :]
        with ssfile.open(path, on_damage="skip") as r:
            r.seek_end()
            assert list(r) == []


def test_a_seek_meeting_a_damaged_beacon_names_the_file_and_offset(tmp_path):
    """In raise mode a damaged beacon met by the bisection is an error naming the file and
    the beacon's offset, from the reader and from every export's time window (the error
    once came without the file's name)."""
    interval = 1024
    data = bytearray(big_file(tmp_path / "b.ss", n=4000, interval=interval))
    beacon = 2 * interval
    data[beacon : beacon + 8] = b"\xff" * 8
    path = tmp_path / "seek-raise.ss"
    path.write_bytes(bytes(data))
    want = oracle(bytes(data))
    since = want[len(want) // 2][4]

    def seek(how, *args):
        with ssfile.open(path) as r:
            getattr(r, how)(*args)

    calls = [
        lambda: seek("seek_time", since),
        lambda: seek("seek_beacon", 2),
        lambda: ssfile.to_numpy(path, since=since),
        lambda: ssfile.to_arrow(path, since=since),
        lambda: ssfile.to_pandas(path, since=since, until=since + 100),
    ]
    for call in calls:
        with pytest.raises(ssfile.FormatError) as caught:
            call()
        assert str(path) in str(caught.value) and f"offset {beacon}" in str(caught.value)
        assert caught.value.offset == beacon


def test_follow_mode_reads_past_damage_as_the_file_grows(tmp_path):
    data = bytearray(big_file(tmp_path / "b.ss", n=3000, interval=2048))
    frames, _, _ = frame_ranges(bytes(data))
    cut = frames[1500][0]
    data[cut - 200 : cut - 150] = os.urandom(50)  # damage just before the cut
    want = oracle(bytes(data))
    path = tmp_path / "follow.ss"
    path.write_bytes(bytes(data[: cut - 100]))
    got: list = []

    def follow():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ssfile.DamageWarning)
            with ssfile.open(path, follow=True, on_damage="skip") as r:
                got.extend(rows(r))  # ends at the EOS

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    time.sleep(0.3)
    with open(path, "ab") as f:  # the rest arrives in pieces
        for i in range(cut - 100, len(data), 7000):
            f.write(data[i : i + 7000])
            f.flush()
            time.sleep(0.02)
    t.join(30)
    assert not t.is_alive()
    assert got == want


def test_damage_in_the_last_interval_and_to_the_end(tmp_path):
    data = bytearray(big_file(tmp_path / "b.ss", n=1000, interval=4096))
    data[-300:-250] = bytes(50)
    check_all_apis(tmp_path / "last.ss", bytes(data))
    garbage = bytes(data) + os.urandom(5000)  # after the EOS: not read at all
    check_all_apis(tmp_path / "after-eos.ss", garbage)
    no_eos = bytes(data[:-40]) + os.urandom(3000)  # random bytes to the end, no EOS
    want, damage = check_all_apis(tmp_path / "tail.ss", no_eos)
    assert damage and damage[-1][0] + damage[-1][1] == len(no_eos)


# ---- resync speed: the candidate test, C against pure Python -----------------------------------


@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=600)
    | st.lists(st.sampled_from(b"\r\x00\x01\x02aZ.-\xfa"), max_size=600).map(bytes),
    st.data(),
)
def test_c_candidate_test_equals_the_pure_one(buf, data):
    n = len(buf)
    start = data.draw(st.integers(0, n))
    stop = data.draw(st.integers(start, n))
    seg = data.draw(st.integers(stop, n))
    size = data.draw(st.integers(seg, n))
    cross = data.draw(st.booleans())
    assert C.resync_candidate(buf, start, stop, seg, size, cross) == _candidate_pure(
        buf, start, stop, seg, size, cross
    )


def test_resync_finds_the_same_frames_through_garbage_both_ways(tmp_path):
    clean = big_file(tmp_path / "b.ss", n=2000, interval=8192)
    rng = random.Random(3)
    data = bytearray(clean)
    for at in (20_000, 50_000, 51_000):
        data[at : at + 3000] = bytes(rng.randrange(256) for _ in range(3000))
    layout = Layout(bytes(data), 8192)
    found = [find_next(layout, at)[0] for at in (20_000, 50_000, 51_000, len(data) - 100)]
    env = dict(os.environ, SSFILE_PURE="1")
    code = (
        "import sys; from ssfile.codec.layout import Layout; "
        "from ssfile.codec import resync; assert resync._CANDIDATE is None; "
        "data = open(sys.argv[1], 'rb').read(); lay = Layout(data, 8192); "
        "print([resync.find_next(lay, a)[0] for a in (20_000, 50_000, 51_000, len(data) - 100)])"
    )
    path = tmp_path / "g.ss"
    path.write_bytes(bytes(data))
    pure = subprocess.run(
        [sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True
    )
    assert pure.stdout.strip() == str(found), pure.stderr
    assert all(q is not None for q in found[:3])


# ---- the file streamer's consumers -------------------------------------------------------------


def test_file_consumers_skip_damage(tmp_path):
    from ssfile.streamer import ConsumerOptions, connect

    data = bytearray(big_file(tmp_path / "b.ss", n=3000, interval=4096))
    frames, _, _ = frame_ranges(bytes(data))
    data[frames[400][0] + 5 : frames[400][0] + 60] = bytes(55)
    data[frames[2500][0]] = 0xFF  # an impossible key length
    path = tmp_path / "stream.ss"
    path.write_bytes(bytes(data))
    want = oracle(bytes(data))

    async def consume(on_damage):
        streamer = await connect(f"file://{path}", on_damage=on_damage)
        try:
            c = await streamer.create_consumer(
                ["alpha", "beta", "gamma.1"],
                ConsumerOptions(auto_stream_reset="earliest", follow=False),
            )
            got = []
            try:
                while True:
                    got.extend(await c.next_batch())
            except ssfile.StreamError:
                pass  # the stream has ended
            return got
        finally:
            await streamer.disconnect()

    with pytest.warns(ssfile.DamageWarning) as caught:
        got = asyncio.run(consume("skip"))
    assert rows(got) == want
    assert len(caught) == 2
    with pytest.raises(ssfile.FormatError) as err:
        asyncio.run(consume("raise"))
    assert err.value.offset == frames[400][0]
    with pytest.raises(ValueError, match="on_damage"):
        asyncio.run(connect(f"file://{path}", on_damage="drop"))
