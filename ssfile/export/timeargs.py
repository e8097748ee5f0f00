"""``since``/``until``/``streams``/``shards`` arguments, normalised."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from ..timefmt import TimeLike, to_ms
from .columns import Selection

#: a ``since``/``until`` argument: any time :func:`ssfile.timefmt.to_ms` takes, or None
TimeArg: TypeAlias = "TimeLike | None"


def time_ms(value: TimeArg, what: str) -> int | None:
    """``value`` in ms (None stays None), through :func:`ssfile.timefmt.to_ms`."""
    return None if value is None else to_ms(value, what)


def selection(
    streams: str | Iterable[str] | None,
    shards: int | Iterable[int] | None,
    since: TimeArg,
    until: TimeArg,
) -> Selection:
    if isinstance(streams, str):
        streams = [streams]
    if isinstance(shards, int):
        shards = [shards]
    return Selection(
        None if streams is None else frozenset(streams),
        None if shards is None else frozenset(int(s) for s in shards),
        time_ms(since, "since"),
        time_ms(until, "until"),
    )
