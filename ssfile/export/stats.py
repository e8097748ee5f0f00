"""``ssfile.stats``: per-stream statistics, resampled counts and a rate plot."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _deps
from .arrays import to_numpy
from .frame import columns_to_frame
from .timeargs import TimeArg

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

GROUP = ["stream_key", "shard_id"]


@dataclass
class Stats:
    """What :func:`stats` found.

    ``streams``: one row per (stream_key, shard_id): ``count``, ``first``/``last``
    timestamps, ``duration_s``, ``rate_per_s`` (count / duration, NaN for a single
    instant), ``max_gap_s`` (largest time between consecutive messages, in time order),
    ``out_of_order`` (messages whose sequence is not above every earlier sequence of the
    stream in file order: repeats and steps back), ``missing`` (sequence numbers absent
    between the lowest and the highest), ``time_backwards`` (messages older than the one
    before them in file order).  ``gaps``: the largest time gaps overall, with where they
    start and end.  ``frame``: the header columns everything was computed from.
    """

    streams: pd.DataFrame
    gaps: pd.DataFrame
    frame: pd.DataFrame

    def __repr__(self) -> str:
        from ..display import stats_repr

        return stats_repr(self)

    def _repr_html_(self) -> str:
        from ..display import stats_html

        return stats_html(self)

    def counts(self, interval: str = "1s") -> pd.DataFrame:
        """Messages per ``interval`` (a pandas frequency such as ``"100ms"``, ``"1min"``),
        one column per stream key, indexed by the interval start."""
        return resample_counts(self.frame, interval)

    def plot_rate(self, interval: str = "1s", ax: Any = None) -> Axes:
        """Plot messages per second per stream (needs ``pip install 'ssfile[plot]'``)."""
        from .plot import plot_rate

        return plot_rate(self.counts(interval), interval, ax=ax)  # type: ignore[no-any-return]


def stats(
    path: str | os.PathLike[str],
    streams: str | Iterable[str] | None = None,
    shards: int | Iterable[int] | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    *,
    top_gaps: int = 10,
    check_crc: bool = True,
    tolerate_truncation: bool = False,
    on_damage: str = "raise",
) -> Stats:
    """Statistics of ``path`` (see :class:`Stats`); filters as :func:`ssfile.to_numpy`."""
    cols = to_numpy(
        path,
        streams,
        shards,
        since,
        until,
        payload=False,
        check_crc=check_crc,
        tolerate_truncation=tolerate_truncation,
        on_damage=on_damage,
    )
    frame = columns_to_frame(cols, payload=False)
    return Stats(per_stream(frame), largest_gaps(frame, top_gaps), frame)


def per_stream(frame: Any) -> Any:
    """The ``streams`` table of :class:`Stats`."""
    pd = _deps.pandas()
    keys = [frame[k] for k in GROUP]
    g = frame.groupby(GROUP, observed=True, sort=True)
    out = g["timestamp"].agg(count="size", first="min", last="max")
    out["duration_s"] = (out["last"] - out["first"]).dt.total_seconds()
    out["rate_per_s"] = out["count"] / out["duration_s"].where(out["duration_s"] > 0)
    in_time = frame.sort_values("timestamp", kind="stable")
    gaps = in_time.groupby(GROUP, observed=True)["timestamp"].diff().dt.total_seconds()
    out["max_gap_s"] = gaps.groupby([in_time[k] for k in GROUP], observed=True).max()
    seq = frame["sequence"].astype("float64")  # exact below 2**53; float keeps uint64 order
    highest_before = seq.groupby(keys, observed=True).cummax().groupby(keys, observed=True).shift()
    out["out_of_order"] = (seq <= highest_before).groupby(keys, observed=True).sum()
    span = g["sequence"].max().astype("float64") - g["sequence"].min().astype("float64") + 1
    out["missing"] = (span - g["sequence"].nunique()).astype("int64")
    back = g["timestamp"].diff() < pd.Timedelta(0)
    out["time_backwards"] = back.groupby(keys, observed=True).sum()
    return out


def largest_gaps(frame: Any, top: int) -> Any:
    """The ``top`` largest gaps between consecutive messages of a (stream, shard)."""
    ordered = frame.sort_values("timestamp", kind="stable")
    prev = ordered.groupby(GROUP, observed=True)["timestamp"].shift()
    gaps = ordered[GROUP].assign(
        start=prev, end=ordered["timestamp"], gap_s=(ordered["timestamp"] - prev).dt.total_seconds()
    )
    return gaps.dropna(subset=["gap_s"]).nlargest(top, "gap_s").reset_index(drop=True)


def resample_counts(frame: Any, interval: str = "1s") -> Any:
    pd = _deps.pandas()
    grouper = pd.Grouper(key="timestamp", freq=interval)
    counts = frame.groupby([grouper, "stream_key"], observed=True).size()
    return counts.unstack("stream_key", fill_value=0).asfreq(interval, fill_value=0)
