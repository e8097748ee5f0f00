"""argparse types for numbers and times: a bad value is an argparse error (usage, exit 2)."""

from __future__ import annotations

import argparse
import math


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def positive_int(text: str) -> int:
    """An integer >= 1 (counts: ``--count``, ``--messages``, ``--page-size``)."""
    value = _integer(text)
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    """A finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, not {text!r}")
    return value


TIME_HELP = (
    "T: ISO 8601 (no zone = UTC), YYYY-MM-DDTHH:MM:SS.fff, epoch ms (digits), or relative to "
    "now: now, -10m or 10m (ten minutes ago: no sign means ago), +5m (in five minutes); "
    "units ms, s, m, h, d, w"
)


def parse_time_option(text: str) -> int:
    """A time option's value -> int ms: absolute (:func:`ssfile.timefmt.parse_time`: ISO 8601,
    ``YYYY-MM-DDTHH:MM:SS.fff``, epoch ms) or relative to now
    (:func:`ssfile.timefmt.parse_relative`: ``now``, ``-10m``, ``2h`` = 2 hours ago, ``+5m``).
    Raises :class:`~ssfile.errors.UsageError`."""
    from ..errors import UsageError
    from ..timefmt import in_range, parse_relative, parse_time

    relative = parse_relative(text)
    if relative is not None:
        if not in_range(relative):
            raise UsageError(f"time {text!r} is out of range (1970-01-01 .. 9999-12-31)")
        return relative
    try:
        return parse_time(text)
    except UsageError as err:
        raise UsageError(f"{err}; or relative to now: now, -10m, 2h (= 2h ago), +5m") from None


def time_arg(text: str) -> int:
    """argparse ``type=`` for time options (``--since``, ``--until``, ``--offset``):
    :func:`parse_time_option`, its error an argparse error (exit 2)."""
    from ..errors import UsageError

    try:
        return parse_time_option(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
