"""Recording surgery (issue 15): filter, merge, split, concat against a pure-Python list model.

Each operation runs on files written by the Writer from hypothesis-drawn message lists; the
model is the same operation on the list (filter = a comprehension with the documented window
rule, merge = a sorted interleave, split = chunks, concat = list addition).  Every output must

* hold exactly the model's messages (key, shard, sequence, timestamp, payload, in order),
* be byte for byte the file the Writer produces for those messages with the documented header
  (file name, created_at, interval) and EOS (stamped with the largest timestamp), and
* verify clean.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import warnings
from fnmatch import fnmatchcase

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ssfile
from ssfile.file.surgery.merge import ON_CONFLICT

KEYS = ["orders", "orders.eu", "prices", "px-1"]
T0 = 1_700_000_000_000
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- files ---------------------------------------------------------------------------------


def write(path, msgs, interval=512, created_at=T0, eos=True):
    with ssfile.open(path, "w", beacon_interval=interval, created_at=created_at, eos=eos) as w:
        for key, shard, seq, ts, payload in msgs:
            w.write(payload, stream_key=key, shard_id=shard, sequence=seq, timestamp=ts)
    return str(path)


def read(path, **options):
    with ssfile.open(path, **options) as r:
        return [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]


def expected_bytes(target, msgs, interval, created_at):
    """The Writer's file for ``msgs`` with the header and EOS an operation must give."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ref.ss")
        with ssfile.open(
            path,
            "w",
            beacon_interval=interval,
            created_at=created_at,
            file_name=os.path.basename(target),
            eos=False,
        ) as w:
            for key, shard, seq, ts, payload in msgs:
                w.write(payload, stream_key=key, shard_id=shard, sequence=seq, timestamp=ts)
            w.write_eos(timestamp=max((m[3] for m in msgs), default=created_at))
        with open(path, "rb") as f:
            return f.read()


def check_output(path, msgs, interval, created_at):
    assert read(path) == msgs
    with open(path, "rb") as f:
        assert f.read() == expected_bytes(path, msgs, interval, created_at)
    assert ssfile.verify(path).clean


# ---- strategies ----------------------------------------------------------------------------


def payloads():
    obj = st.fixed_dictionaries(
        {"qty": st.integers(0, 10), "sku": st.sampled_from(["SKU-1", "SKU-2"])},
        optional={"side": st.sampled_from(["buy", "sell"])},
    ).map(lambda d: json.dumps(d).encode())
    return st.one_of(obj, st.binary(max_size=60), st.just(b"[1, 2]"))


@st.composite
def messages(draw, keys=KEYS, max_size=40, sorted_ts=False):
    n = draw(st.integers(0, max_size))
    out = []
    for _ in range(n):
        out.append(
            (
                draw(st.sampled_from(keys)),
                draw(st.integers(0, 1)),
                draw(st.integers(0, 30)),
                T0 + draw(st.integers(0, 40)),
                draw(payloads()),
            )
        )
    if sorted_ts:
        ts = sorted(m[3] for m in out)
        out = [(k, s, q, t, p) for (k, s, q, _, p), t in zip(out, ts)]
    return out


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def as_json(payload):
    try:
        return True, json.loads(payload)
    except ValueError:
        return False, None


#: (expression, the same test written in Python over the parsed payload)
JSON_FILTERS = [
    (
        'qty > 5 and sku == "SKU-1"',
        lambda d: is_number(d.get("qty")) and d["qty"] > 5 and d.get("sku") == "SKU-1",
    ),
    ('not (side == "sell")', lambda d: not (d.get("side") == "sell")),
    ("side", lambda d: bool(d.get("side"))),
    (
        'qty in [0, 3, 7] or side != "buy"',
        lambda d: d.get("qty") in (0, 3, 7) or d.get("side", "buy") != "buy",
    ),
    ("qty <= 2", lambda d: is_number(d.get("qty")) and d["qty"] <= 2),
]


def model_filter(msgs, *, streams=(), exclude=(), shard=None, since=None, until=None,
                 from_seq=None, to_seq=None, grep=None, json_test=None):  # fmt: skip
    if shard is None and (from_seq is not None or to_seq is not None):
        shard = 0
    out = []
    for m in msgs:
        key, sh, seq, ts, payload = m
        if streams and not any(fnmatchcase(key, p) for p in streams):
            continue
        if any(fnmatchcase(key, p) for p in exclude):
            continue
        if shard is not None and sh != shard:
            continue
        if since is not None and ts < since:
            continue
        if (from_seq is not None and seq < from_seq) or (to_seq is not None and seq > to_seq):
            continue
        if until is not None and ts >= until:
            break
        if grep is not None and re.search(grep, payload) is None:
            continue
        if json_test is not None:
            ok, doc = as_json(payload)
            if not (ok and json_test(doc if isinstance(doc, dict) else {})):
                continue
        out.append(m)
    return out


# ---- filter ----------------------------------------------------------------------------------


@SETTINGS
@given(
    msgs=messages(),
    interval=st.sampled_from([128, 256, 1024]),
    out_interval=st.sampled_from([None, 200]),
    streams=st.lists(st.sampled_from(["orders*", "prices", "px-?", "nope"]), max_size=2),
    exclude=st.lists(st.sampled_from(["*.eu", "prices"]), max_size=1),
    shard=st.sampled_from([None, 0, 1]),
    since=st.one_of(st.none(), st.integers(T0 - 2, T0 + 42)),
    until=st.one_of(st.none(), st.integers(T0 - 2, T0 + 42)),
    grep=st.sampled_from([None, b"SKU-1", rb"\d\d"]),
    json_filter=st.one_of(st.none(), st.sampled_from(JSON_FILTERS)),
)
def test_filter_is_the_list_comprehension(
    msgs, interval, out_interval, streams, exclude, shard, since, until, grep, json_filter
):
    with tempfile.TemporaryDirectory() as d:
        src = write(os.path.join(d, "in.ss"), msgs, interval)
        dst = os.path.join(d, "out.ss")
        summary = ssfile.filter(
            src,
            dst,
            streams=streams,
            exclude_streams=exclude,
            shard=shard,
            since=since,
            until=until,
            payload_grep=grep,
            json_filter=None if json_filter is None else json_filter[0],
            beacon_interval=out_interval,
        )
        want = model_filter(
            msgs,
            streams=streams,
            exclude=exclude,
            shard=shard,
            since=since,
            until=until,
            grep=grep,
            json_test=None if json_filter is None else json_filter[1],
        )
        check_output(dst, want, out_interval or interval, T0)
        assert summary.messages_written == len(want) and summary.outputs == [(dst, len(want))]
        for (key, sh), c in summary.streams.items():
            assert c.written == sum(1 for m in want if (m[0], m[1]) == (key, sh))


@SETTINGS
@given(
    msgs=messages(keys=["a", "b"]),
    interval=st.sampled_from([128, 256, 4096]),
    data=st.data(),
    streams=st.sampled_from([[], ["a"]]),
)
def test_filter_time_window_edges(msgs, interval, data, streams):
    """since/until drawn from the messages' own timestamps: the edges are exercised."""
    stamps = st.sampled_from(sorted({m[3] for m in msgs}) or [T0])
    since = data.draw(st.one_of(st.none(), stamps), "since")
    until = data.draw(st.one_of(st.none(), stamps), "until")
    with tempfile.TemporaryDirectory() as d:
        src = write(os.path.join(d, "in.ss"), msgs, interval)
        dst = os.path.join(d, "out.ss")
        ssfile.filter(src, dst, streams=streams, since=since, until=until)
        want = model_filter(msgs, streams=streams, since=since, until=until)
        check_output(dst, want, interval, T0)


@SETTINGS
@given(
    msgs=messages(keys=["a", "b"]),
    interval=st.sampled_from([128, 256]),
    from_seq=st.one_of(st.none(), st.integers(0, 31)),
    to_seq=st.one_of(st.none(), st.integers(0, 31)),
    shard=st.sampled_from([None, 1]),
    since=st.one_of(st.none(), st.integers(T0, T0 + 40)),
)
def test_filter_by_sequence(msgs, interval, from_seq, to_seq, shard, since):
    if from_seq is None and to_seq is None:
        from_seq = 0
    if from_seq is not None and to_seq is not None and from_seq > to_seq:
        from_seq, to_seq = to_seq, from_seq
    with tempfile.TemporaryDirectory() as d:
        src = write(os.path.join(d, "in.ss"), msgs, interval)
        dst = os.path.join(d, "out.ss")
        ssfile.filter(
            src, dst, streams="a", shard=shard, from_seq=from_seq, to_seq=to_seq, since=since
        )
        want = model_filter(
            msgs, streams=["a"], shard=shard, from_seq=from_seq, to_seq=to_seq, since=since
        )
        check_output(dst, want, interval, T0)


def big_file(path, n=20_000, interval=65_536):
    msgs = [(("a", "b", "c")[i % 3], 0, i // 3 + 1, T0 + i, b"x" * 1000) for i in range(n)]
    return write(path, msgs, interval), msgs


def test_a_time_window_seeks_instead_of_scanning(tmp_path, monkeypatch):
    """The window [since, until) in the middle of a large file reads about its own part."""
    src, msgs = big_file(tmp_path / "big.ss")
    from ssfile.file import reader as reader_module

    read_bytes = []
    real_fill = reader_module.Reader._fill

    def counting_fill(self):
        before = self._file.tell()
        got = real_fill(self)
        read_bytes.append(self._file.tell() - before)
        return got

    monkeypatch.setattr(reader_module.Reader, "_fill", counting_fill)
    dst = tmp_path / "cut.ss"
    summary = ssfile.filter(src, dst, since=T0 + 10_000, until=T0 + 10_500)
    want = [m for m in msgs if T0 + 10_000 <= m[3] < T0 + 10_500]
    assert read(dst) == want
    size = os.path.getsize(src)
    # the header read (one 1 MiB chunk), a few beacons, the window's ~0.5 MB: not 20 MB
    assert sum(read_bytes) < size / 5, (sum(read_bytes), size)
    assert summary.messages_read < 1_000  # the 500 of the window, a little before and after


def test_filter_arguments_are_checked_before_anything_is_written(tmp_path):
    src = write(tmp_path / "in.ss", [("a", 0, 1, T0, b"{}")])
    dst = tmp_path / "out.ss"
    cases = [
        (dict(from_seq=1), "exactly one --stream"),
        (dict(streams=["a*"], from_seq=1), "not a pattern"),
        (dict(streams=["a"], from_seq=5, to_seq=2), "--from-seq 5 is above --to-seq 2"),
        (dict(payload_grep="("), "invalid payload regex"),
        (dict(json_filter="qty >"), "column 6"),
        (dict(shard=-1), "non-negative"),
    ]
    for kwargs, text in cases:
        with pytest.raises(ssfile.UsageError, match=re.escape(text)):
            ssfile.filter(src, dst, **kwargs)
        assert not dst.exists()
    assert sorted(os.listdir(tmp_path)) == ["in.ss"]


def test_same_file_is_refused_and_nothing_changes(tmp_path):
    src = write(tmp_path / "in.ss", [("a", 0, 1, T0, b"one")])
    before = open(src, "rb").read()
    link = tmp_path / "link.ss"
    os.symlink(src, link)
    for dst in (src, link):
        with pytest.raises(ssfile.UsageError, match="refusing to write"):
            ssfile.filter(src, dst)
    with pytest.raises(ssfile.UsageError, match="refusing to write"):
        ssfile.merge([tmp_path / "in.ss"], link)
    with pytest.raises(ssfile.UsageError, match="refusing to write"):
        ssfile.concat([src], src)
    assert open(src, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["in.ss", "link.ss"]


def test_an_unwritable_message_names_the_input_and_offset(tmp_path):
    """A message the writer refuses (a frame only a hand-made file holds) is an error naming
    the input and the message's offset; the output is not left behind."""
    from ssfile.file.surgery.endpoints import Output
    from ssfile.types import Message

    src = write(tmp_path / "in.ss", [("a", 0, 1, T0, b"x")])
    out = Output(tmp_path / "o.ss", inputs=[src], beacon_interval=256, created_at=T0)
    with pytest.raises(ssfile.EncodeError, match=r"^in\.ss: the message at offset 4242 .*reserved"):
        out.write(Message("SEA_STREAMER_INTERNAL", 0, 1, T0, b"PULSE", 4242), "in.ss")
    out.discard()
    assert sorted(os.listdir(tmp_path)) == ["in.ss"]


# ---- merge -----------------------------------------------------------------------------------


@st.composite
def disjoint_inputs(draw):
    n = draw(st.integers(1, 4))
    keys = [f"s{i}" for i in range(n)]
    return [draw(messages(keys=[k], max_size=15, sorted_ts=True)) for k in keys]


def model_sorted_interleave(inputs):
    tagged = [(m[3], i, j, m) for i, msgs in enumerate(inputs) for j, m in enumerate(msgs)]
    return [t[3] for t in sorted(tagged)]


@SETTINGS
@given(inputs=disjoint_inputs(), intervals=st.lists(st.sampled_from([128, 300]), min_size=4))
def test_merge_is_the_sorted_interleave(inputs, intervals):
    with tempfile.TemporaryDirectory() as d:
        srcs = [
            write(os.path.join(d, f"in{i}.ss"), msgs, intervals[i], created_at=T0 + 100 - i)
            for i, msgs in enumerate(inputs)
        ]
        dst = os.path.join(d, "out.ss")
        summary = ssfile.merge(srcs, dst)
        want = model_sorted_interleave(inputs)
        check_output(dst, want, intervals[0], T0 + 100 - (len(srcs) - 1))
        assert summary.messages_read == summary.messages_written == len(want)


def model_merge(inputs, mode):
    """The documented conflict rules, over the sorted interleave."""
    tagged = sorted((m[3], i, j, m) for i, msgs in enumerate(inputs) for j, m in enumerate(msgs))
    owner, shared, last, out = {}, set(), {}, []
    written_at = {}  # ts -> [(id, payload, input)]
    for ts, i, _, m in tagged:
        key, sh, seq, _, payload = m
        pair = (key, sh)
        if owner.setdefault(pair, i) != i:
            if mode == "error":
                return None
            shared.add(pair)
        if mode == "renumber":
            if pair in shared:
                m = (key, sh, last[pair] + 1, ts, payload)
            last[pair] = m[2]
        if mode == "dedupe":
            seen = written_at.setdefault(ts, [])
            if any(x == (key, sh, seq) and p == payload and j != i for x, p, j in seen):
                continue
            seen.append(((key, sh, seq), payload, i))
        out.append(m)
    return out


@SETTINGS
@given(
    inputs=st.lists(messages(keys=["a", "b"], max_size=12, sorted_ts=True), min_size=1, max_size=3),
    mode=st.sampled_from(ON_CONFLICT),
    copy=st.booleans(),
)
def test_merge_conflicts_follow_the_model(inputs, mode, copy):
    if copy and inputs:  # a second recording of the same messages: what dedupe is for
        inputs = inputs + [list(inputs[0])]
    with tempfile.TemporaryDirectory() as d:
        srcs = [write(os.path.join(d, f"in{i}.ss"), msgs, 256) for i, msgs in enumerate(inputs)]
        dst = os.path.join(d, "out.ss")
        want = model_merge(inputs, mode)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if want is None:
                with pytest.raises(ssfile.UsageError, match=r"stream '[ab]' shard [01] is in both"):
                    ssfile.merge(srcs, dst)
                assert not os.path.exists(dst) and len(os.listdir(d)) == len(srcs)
                return
            summary = ssfile.merge(srcs, dst, on_conflict=mode)
        check_output(dst, want, 256, T0)
        if mode == "keep":
            pairs = [{(m[0], m[1]) for m in msgs} for msgs in inputs]
            shared = {p for p in set().union(*pairs) if sum(p in x for x in pairs) > 1}
            assert len(summary.warnings) == len(shared)
            assert [str(w.message) for w in caught] == summary.warnings
        if mode == "dedupe":
            assert summary.deduplicated == sum(len(x) for x in inputs) - len(want)


def test_merge_keeps_each_inputs_order_when_timestamps_go_back(tmp_path):
    a = write(tmp_path / "a.ss", [("a", 0, 1, T0 + 50, b"a1"), ("a", 0, 2, T0 + 10, b"a2")])
    b = write(tmp_path / "b.ss", [("b", 0, 1, T0 + 20, b"b1"), ("b", 0, 2, T0 + 60, b"b2")])
    ssfile.merge([a, b], tmp_path / "m.ss")
    assert [m[4] for m in read(tmp_path / "m.ss")] == [b"b1", b"a1", b"a2", b"b2"]


def test_merge_error_names_the_stream_and_both_inputs(tmp_path):
    a = write(tmp_path / "a.ss", [("orders", 2, 1, T0, b"x")])
    b = write(tmp_path / "b.ss", [("orders", 2, 1, T0 + 1, b"y")])
    with pytest.raises(ssfile.UsageError) as err:
        ssfile.merge([a, b], tmp_path / "m.ss")
    assert str(err.value) == (
        f"stream 'orders' shard 2 is in both {a} and {b}: choose how to merge it with "
        "--on-conflict renumber, keep or dedupe"
    )
    with pytest.raises(ssfile.UsageError, match="on_conflict must be one of"):
        ssfile.merge([a, b], tmp_path / "m.ss", on_conflict="newest")


def test_merge_holds_one_reader_per_input_not_the_messages(tmp_path, monkeypatch):
    """Bounded memory: the merge pulls messages from the inputs as it writes them."""
    srcs = []
    for i in range(3):
        msgs = [(f"s{i}", 0, j, T0 + 3 * j + i, b"p" * 30) for j in range(5_000)]
        srcs.append(write(tmp_path / f"in{i}.ss", msgs, 4096))
    from ssfile.file.surgery import endpoints

    pending = []
    real_write = endpoints.Output.write
    pulled = []
    from ssfile.file import reader as reader_module

    real_batch = reader_module.Reader._batch

    def batch(self):
        got = real_batch(self)
        pulled.append(sum(1 for ev in got if type(ev) is ssfile.Message))
        return got

    def write_one(self, m, source=None, *, sequence=None):
        pending.append(sum(pulled) - self.messages)  # decoded but not yet written
        return real_write(self, m, source, sequence=sequence)

    monkeypatch.setattr(reader_module.Reader, "_batch", batch)
    monkeypatch.setattr(endpoints.Output, "write", write_one)
    ssfile.merge(srcs, tmp_path / "m.ss")
    assert len(pending) == 15_000
    assert max(pending) <= 3 * 256 + 3  # one decoded batch per input (reader.BATCH events)


# ---- split and concat ---------------------------------------------------------------------


def model_split(msgs, *, every=None, count=None, by_stream=False):
    pieces = []
    if by_stream:
        order = []
        for m in msgs:
            if m[0] not in order:
                order.append(m[0])
        return [[m for m in msgs if m[0] == k] for k in order]
    for m in msgs:
        if not pieces:
            pieces.append([m])
        elif every is not None and m[3] // every != pieces[-1][0][3] // every:
            pieces.append([m])
        elif count is not None and len(pieces[-1]) >= count:
            pieces.append([m])
        else:
            pieces[-1].append(m)
    return pieces


@SETTINGS
@given(
    msgs=messages(max_size=50),
    how=st.one_of(
        st.builds(dict, every=st.sampled_from([1, 7, 50, 1000])),
        st.builds(dict, count=st.integers(1, 12)),
        st.just(dict(by_stream=True)),
    ),
    interval=st.sampled_from([128, 512]),
)
def test_split_then_concat_is_the_identity(msgs, how, interval):
    with tempfile.TemporaryDirectory() as d:
        src = write(os.path.join(d, "in.ss"), msgs, interval)
        pattern = os.path.join(d, "p-{stream}.ss" if how.get("by_stream") else "p-{n:03}.ss")
        summary = ssfile.split(src, pattern, **how)
        want = model_split(msgs, **how)
        assert [n for _, n in summary.outputs] == [len(p) for p in want]
        for (path, _), piece in zip(summary.outputs, want):
            check_output(path, piece, interval, piece[0][3])
            if how.get("by_stream"):
                assert path == pattern.format(stream=piece[0][0])
        names = [p for p, _ in summary.outputs]
        assert sorted(os.listdir(d)) == sorted(["in.ss"] + [os.path.basename(p) for p in names])
        if not how.get("by_stream") and names:
            dst = os.path.join(d, "joined.ss")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # drawn sequences do not continue
                joined = ssfile.concat(names, dst)
            check_output(dst, msgs, interval, msgs[0][3])
            assert joined.messages_written == len(msgs)


@SETTINGS
@given(
    msgs=messages(max_size=60),
    size=st.integers(300, 3000),
    interval=st.sampled_from([128, 256, 4096]),
)
def test_split_by_size_keeps_every_piece_under_the_size(msgs, size, interval):
    with tempfile.TemporaryDirectory() as d:
        src = write(os.path.join(d, "in.ss"), msgs, interval)
        summary = ssfile.split(src, os.path.join(d, "p{n}.ss"), size=size)
        got = []
        for path, n in summary.outputs:
            piece = read(path)
            assert len(piece) == n and ssfile.verify(path).clean
            assert os.path.getsize(path) <= size or n == 1
            got.extend(piece)
        assert got == msgs


def test_split_every_uses_epoch_aligned_periods(tmp_path):
    hour = 3_600_000
    base = 1_700_000_000_000 // hour * hour
    times = [base - 1, base, base + hour - 1, base + hour, base + 3 * hour]
    src = write(tmp_path / "in.ss", [("k", 0, i, t, b"") for i, t in enumerate(times)])
    summary = ssfile.split(src, str(tmp_path / "h{n}.ss"), every=dt.timedelta(hours=1))
    assert [n for _, n in summary.outputs] == [1, 2, 1, 1]
    with ssfile.open(tmp_path / "h2.ss") as r:
        assert r.header.created_at_ms == base and r.header.file_name == "h2.ss"


def test_split_refuses_patterns_that_collide_or_overwrite_the_input(tmp_path):
    src = write(tmp_path / "in.ss", [("a", 0, i, T0 + i, b"") for i in range(5)])
    cases = [
        (str(tmp_path / "p.ss"), dict(count=2), "must contain {n}"),
        (str(tmp_path / "p{stream}.ss"), dict(count=2), "{stream} is only for --by-stream"),
        (str(tmp_path / "p{n!r}.ss"), dict(count=2), "only {n} and {stream}"),
        (str(tmp_path / "p{x}.ss"), dict(count=2), "only {n} and {stream}"),
        (str(tmp_path / "p{n:.0}.ss"), dict(count=2), "invalid output pattern"),
        (str(tmp_path / "p{n}.ss"), dict(count=2, size=9), "exactly one"),
        (str(tmp_path / "p{n}.ss"), dict(), "exactly one"),
        (str(tmp_path / "p{n}.ss"), dict(size=10), "too small"),
        (str(tmp_path / "p{n}.ss"), dict(every=0), "positive"),
    ]
    for pattern, how, text in cases:
        with pytest.raises(ssfile.UsageError, match=re.escape(text)):
            ssfile.split(src, pattern, **how)
    # a format spec can make two names alike: refused when the second piece comes up
    two = write(tmp_path / "two.ss", [("ab", 0, 1, T0, b""), ("ac", 0, 1, T0, b"")])
    with pytest.raises(ssfile.UsageError, match="two pieces the same name"):
        ssfile.split(two, str(tmp_path / "s-{stream:.1}.ss"), by_stream=True)
    os.unlink(two)
    # piece 2 would be the input: refused, and piece 1 is not left behind either
    os.symlink(src, tmp_path / "x2.ss")
    with pytest.raises(ssfile.UsageError, match="refusing to write"):
        ssfile.split(src, str(tmp_path / "x{n}.ss"), count=2)
    assert sorted(os.listdir(tmp_path)) == ["in.ss", "x2.ss"]


def test_concat_says_where_sequences_do_not_continue(tmp_path):
    a = write(
        tmp_path / "a.ss", [("k", 0, 1, T0, b"1"), ("k", 0, 2, T0, b"2"), ("j", 1, 7, T0, b"")]
    )
    b = write(
        tmp_path / "b.ss", [("k", 0, 3, T0, b"3"), ("j", 1, 9, T0, b""), ("new", 0, 5, T0, b"")]
    )
    with ssfile.open(b) as r:
        offset = [m.offset for m in r][1]
    with pytest.warns(UserWarning) as caught:
        summary = ssfile.concat([a, b], tmp_path / "c.ss")
    assert summary.warnings == [
        f"{b}: stream 'j' shard 1 does not continue {a}: sequence 9 at offset {offset}, expected 8"
    ]
    assert [str(w.message) for w in caught] == summary.warnings
    assert [m[2] for m in read(tmp_path / "c.ss")] == [1, 2, 7, 3, 9, 5]


def test_concat_equals_appending_with_the_writer(tmp_path):
    a_msgs = [(("x", "y")[i % 2], 0, i // 2 + 1, T0 + i, b"a" * (i % 50)) for i in range(300)]
    b_msgs = [(("x", "z")[i % 2], 0, 151 + i, T0 + 300 + i, b"b" * (i % 70)) for i in range(200)]
    os.mkdir(tmp_path / "w")
    appended = tmp_path / "w" / "c.ss"
    write(appended, a_msgs, 512)
    with ssfile.open(appended, "a") as w:
        for key, shard, seq, ts, payload in b_msgs:
            w.write(payload, stream_key=key, shard_id=shard, sequence=seq, timestamp=ts)
        w.write_eos(timestamp=T0 + 499)
    a = write(tmp_path / "a.ss", a_msgs, 512)
    b = write(tmp_path / "b.ss", b_msgs, 2048)
    summary = ssfile.concat([a, b], tmp_path / "c.ss")
    assert summary.warnings == []
    # the header names c.ss in both; created_at and interval are a's
    assert open(tmp_path / "c.ss", "rb").read() == open(appended, "rb").read()


# ---- damage ----------------------------------------------------------------------------------


def damaged_file(tmp_path):
    msgs = [(("a", "b")[i % 2], 0, i + 1, T0 + i, b'{"qty": %d}' % i) for i in range(400)]
    src = write(tmp_path / "in.ss", msgs, 1024)
    data = bytearray(open(src, "rb").read())
    data[5000:5064] = bytes(64)  # zeroes in the middle
    cut = len(data) - 30  # and a torn tail
    with open(src, "wb") as f:
        f.write(data[:cut])
    return src, msgs


OPERATIONS = {
    "filter": lambda src, d, on: ssfile.filter(
        src, d / "o.ss", json_filter="qty >= 0", on_damage=on
    ),
    "merge": lambda src, d, on: ssfile.merge([src], d / "o.ss", on_damage=on),
    "concat": lambda src, d, on: ssfile.concat([src], d / "o.ss", on_damage=on),
    "split": lambda src, d, on: ssfile.split(src, str(d / "o{n}.ss"), count=1000, on_damage=on),
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_damaged_input_raise_writes_nothing(tmp_path, name):
    src, _ = damaged_file(tmp_path)
    old = tmp_path / "o.ss"
    old.write_bytes(b"earlier output")
    with pytest.raises(ssfile.FormatError, match=r"in\.ss: .* at offset"):
        OPERATIONS[name](src, tmp_path, "raise")
    assert old.read_bytes() == b"earlier output"
    assert sorted(os.listdir(tmp_path)) == ["in.ss", "o.ss"]


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_damaged_input_skip_keeps_every_intact_message_and_says_what_it_skipped(tmp_path, name):
    src, msgs = damaged_file(tmp_path)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        intact = read(src, on_damage="skip", tolerate_truncation=True)
        with ssfile.open(src, on_damage="skip", tolerate_truncation=True) as r:
            list(r)
            ranges, torn = r.damage, r.torn_tail
    assert 0 < len(intact) < len(msgs) - 1 and set(intact) <= set(msgs)
    with pytest.warns(ssfile.DamageWarning) as caught:
        summary = OPERATIONS[name](src, tmp_path, "skip")
    out = summary.outputs[0][0]
    assert read(out) == intact and ssfile.verify(out).clean
    got = [(d.offset, d.length) for d in summary.damage]
    assert got == ranges + [(torn, os.path.getsize(src) - torn)]
    assert "torn tail" in summary.damage[-1].reason
    assert len(caught) == len(got) and not summary.clean


# ---- split --by-stream within the open-file limit ------------------------------------------


def round_robin(streams, rounds, size=lambda i, r: 8):
    return [
        (f"s{i:04}", i % 3, r + 1, T0 + r * streams + i, bytes([65 + i % 26]) * size(i, r))
        for r in range(rounds)
        for i in range(streams)
    ]


def test_split_by_stream_parks_pieces_beyond_the_budget(tmp_path, monkeypatch):
    """With 3 open pieces for 40 streams, every piece is still the Writer's file byte for
    byte: parked writers reopen where they stopped, also when their buffer fills while parked
    (payloads of 30 KB fill the 64 KiB buffer of a piece in 3 messages)."""
    from ssfile.file.surgery import split as split_module

    monkeypatch.setattr(split_module, "open_budget", lambda: 3)
    parks = []
    park = split_module.Output.park
    monkeypatch.setattr(split_module.Output, "park", lambda self: parks.append(1) or park(self))
    msgs = round_robin(40, 7, size=lambda i, r: 30_000 if i % 5 == 0 else 10 + r)
    src = write(tmp_path / "in.ss", msgs, interval=4096)
    summary = ssfile.split(src, str(tmp_path / "p-{stream}.ss"), by_stream=True)
    assert len(summary.outputs) == 40 and len(parks) >= 40 * 6
    for i in range(40):
        key = f"s{i:04}"
        mine = [m for m in msgs if m[0] == key]
        check_output(str(tmp_path / f"p-{key}.ss"), mine, 4096, mine[0][3])


def test_cli_split_by_stream_with_more_streams_than_open_files(tmp_path):
    """1,500 streams under a limit of 64 open files: before, `Too many open files` (exit 2);
    now every piece is written."""
    import subprocess
    import sys

    msgs = round_robin(1500, 2)
    src = write(tmp_path / "in.ss", msgs)
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "from ssfile.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["split", src, "--by-stream", "-o", str(out / "{stream}.ss"), "--json"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == [f"s{i:04}.ss" for i in range(1500)]
    for i in (0, 777, 1499):
        assert read(out / f"s{i:04}.ss") == [m for m in msgs if m[0] == f"s{i:04}"]
