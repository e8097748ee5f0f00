"""ssfile.stats: every figure recomputed by a plain loop over ssfile.Reader."""

from __future__ import annotations

import random
import sys

import matplotlib
import matplotlib.pyplot
import pandas as pd
import pytest
from ss_strategies import encode_file

import ssfile
from ssfile.export.plot import plot_rate

matplotlib.use("Agg")
T0 = 1_767_225_600_000


def recording(tmp_path, seed=1, n=600):
    """Several streams with repeated, skipped and stepped-back sequences, gaps and a clock
    that sometimes goes backwards."""
    rng = random.Random(seed)
    seqs: dict[tuple[str, int], int] = {}
    msgs, ts = [], T0
    for _ in range(n):
        key, shard = rng.choice([("clock", 0), ("orders", 0), ("orders", 1), ("sensors", 2)])
        seq = seqs.get((key, shard), 0) + rng.choice([1, 1, 1, 2, 5, 0, -3])
        seqs[(key, shard)] = seq = max(seq, 0)
        ts += rng.choice([0, 1, 3, 10, 250, -20])
        msgs.append((key, shard, seq, ts, b"{}"))
    path = tmp_path / "rec.ss"
    path.write_bytes(encode_file(512, msgs))
    return path


def by_stream(path):
    groups: dict[tuple[str, int], list] = {}
    with ssfile.open(path) as r:
        for m in r:
            groups.setdefault((m.stream_key, m.shard_id), []).append(m)
    return groups


def test_per_stream_figures(tmp_path):
    path = recording(tmp_path)
    got = ssfile.stats(path).streams
    groups = by_stream(path)
    assert sorted(got.index.tolist()) == sorted(groups)
    for (key, shard), msgs in groups.items():
        row = got.loc[(key, shard)]
        times = [m.timestamp_ms for m in msgs]
        seqs = [m.sequence for m in msgs]
        assert row["count"] == len(msgs)
        assert row["first"] == pd.Timestamp(min(times), unit="ms", tz="UTC")
        assert row["last"] == pd.Timestamp(max(times), unit="ms", tz="UTC")
        duration = (max(times) - min(times)) / 1000
        assert row["duration_s"] == pytest.approx(duration)
        assert row["rate_per_s"] == pytest.approx(len(msgs) / duration)
        ordered = sorted(times)
        assert row["max_gap_s"] == pytest.approx(
            max(b - a for a, b in zip(ordered, ordered[1:])) / 1000
        )
        out_of_order = sum(1 for i in range(1, len(seqs)) if seqs[i] <= max(seqs[:i]))
        assert row["out_of_order"] == out_of_order
        assert row["missing"] == max(seqs) - min(seqs) + 1 - len(set(seqs))
        assert row["time_backwards"] == sum(1 for a, b in zip(times, times[1:]) if b < a)
    assert got["out_of_order"].sum() > 0 and got["missing"].sum() > 0  # the data exercises them


def test_largest_gaps(tmp_path):
    path = recording(tmp_path, seed=2)
    gaps = ssfile.stats(path, top_gaps=5).gaps
    every = []
    for msgs in by_stream(path).values():
        times = sorted(m.timestamp_ms for m in msgs)
        every += [(b - a) / 1000 for a, b in zip(times, times[1:])]
    assert gaps["gap_s"].tolist() == sorted(every, reverse=True)[:5]
    assert ((gaps["end"] - gaps["start"]).dt.total_seconds() == gaps["gap_s"]).all()


def test_single_message_has_no_rate(tmp_path):
    path = tmp_path / "one.ss"
    path.write_bytes(encode_file(1024, [("solo", 0, 1, T0, b"x")]))
    row = ssfile.stats(path).streams.loc[("solo", 0)]
    assert row["count"] == 1 and pd.isna(row["rate_per_s"]) and pd.isna(row["max_gap_s"])


@pytest.mark.parametrize("interval", ["1s", "250ms"])
def test_resampled_counts(tmp_path, interval):
    path = recording(tmp_path, seed=3)
    counts = ssfile.stats(path).counts(interval)
    step = pd.Timedelta(interval)
    expected: dict[tuple[pd.Timestamp, str], int] = {}
    for (key, _shard), msgs in by_stream(path).items():
        for m in msgs:
            t = pd.Timestamp(m.timestamp_ms, unit="ms", tz="UTC").floor(step)
            expected[(t, key)] = expected.get((t, key), 0) + 1
    for (t, key), n in expected.items():
        assert counts.loc[t, key] == n
    assert counts.to_numpy().sum() == sum(expected.values())
    assert (counts.index[1:] - counts.index[:-1] == step).all()  # empty intervals are rows of 0


def test_filters_pass_through(tmp_path):
    path = recording(tmp_path, seed=4)
    got = ssfile.stats(path, streams="orders", shards=1).streams
    assert got.index.tolist() == [("orders", 1)]


def test_plot_rate(tmp_path):
    path = recording(tmp_path, seed=5)
    st = ssfile.stats(path)
    ax = st.plot_rate("1s")
    counts = st.counts("1s")
    assert [line.get_label() for line in ax.get_lines()] == list(counts.columns)
    assert ax.get_lines()[0].get_ydata().tolist() == counts.iloc[:, 0].tolist()
    ax2 = plot_rate(st.counts("500ms"), "500ms")
    assert ax2.get_lines()[0].get_ydata().tolist() == (st.counts("500ms").iloc[:, 0] * 2).tolist()
    ax.figure.savefig(tmp_path / "rate.png")
    assert (tmp_path / "rate.png").stat().st_size > 1000
    matplotlib.pyplot.close("all")


def test_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    path = recording(tmp_path, seed=6, n=20)
    st = ssfile.stats(path)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ssfile.MissingDependency, match=r"pip install 'ssfile\[plot\]'"):
        st.plot_rate()
