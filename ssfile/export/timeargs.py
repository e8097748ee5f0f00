"""``since``/``until``/``streams``/``shards`` arguments, normalised."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any

from ..timefmt import parse_time
from ..types import datetime_to_ms
from .columns import Selection

TimeArg = int | str | _dt.datetime | None


def time_ms(value: Any, what: str) -> int | None:
    """int ms, a datetime (naive = UTC; pandas Timestamps too), a numpy datetime64, or text
    that :func:`ssfile.timefmt.parse_time` accepts (ISO 8601, upstream format, epoch ms)."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return datetime_to_ms(value)
    if isinstance(value, str):
        return parse_time(value)
    if type(value).__name__ == "datetime64":
        return int(value.astype("datetime64[ms]").astype("int64"))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be int milliseconds, a datetime or a string, not {value!r}")
    return value


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
