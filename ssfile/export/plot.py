"""A quick plot of message rate per stream (matplotlib, the ``plot`` extra)."""

from __future__ import annotations

from typing import Any

from . import _deps


def plot_rate(counts: Any, interval: str = "1s", ax: Any = None) -> Any:
    """Plot ``counts`` (messages per interval, one column per stream, as from
    :meth:`ssfile.export.stats.Stats.counts`) as messages per second; returns the Axes."""
    plt = _deps.pyplot()
    pd = _deps.pandas()
    seconds = pd.Timedelta(interval).total_seconds()
    if ax is None:
        _fig, ax = plt.subplots(figsize=(9, 3.5))
    for key in counts.columns:
        ax.plot(counts.index, counts[key] / seconds, label=str(key), linewidth=1)
    ax.set_ylabel("messages/s")
    ax.set_xlabel(f"time (UTC, {interval} bins)")
    ax.set_title("message rate per stream")
    if len(counts.columns):
        ax.legend(loc="upper right", fontsize="small")
    return ax
