"""Timestamp text: upstream's formats, ISO 8601 and epoch milliseconds.  Pure functions.

Formatting is total (spec/ss-format.md 2.2): a value outside ``[0, MAX_TIMESTAMP_MS]`` is
text ``<out of range: N ms>`` (:func:`format_timestamp`) and JSON ``null``
(:func:`timestamp_json`, always next to the raw integer); it never raises.
"""

from __future__ import annotations

import datetime as _dt
import re

from .errors import UsageError
from .types import MAX_TIMESTAMP_MS, UTC, datetime_to_ms, format_timestamp

__all__ = ["format_timestamp", "in_range", "parse_upstream", "parse_time", "timestamp_json"]


def in_range(ms: int) -> bool:
    """Whether ``ms`` is a timestamp a ``.ss`` file can hold (0 .. 9999-12-31T23:59:59.999)."""
    return 0 <= ms <= MAX_TIMESTAMP_MS


def timestamp_json(ms: int) -> str | None:
    """The JSON value for a timestamp: its text, or None (``null``) when out of range."""
    return format_timestamp(ms) if 0 <= ms <= MAX_TIMESTAMP_MS else None


# upstream TIMESTAMP_FORMAT (and the stdio one without fraction): no zone, UTC
_UPSTREAM = re.compile(r"([+-]?\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\Z")


def parse_upstream(text: str, *, fraction_required: bool = False) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS[.F]`` (UTC, no zone) -> ms, or None if ``text`` is not that shape.

    Follows upstream: 1+ fraction digits (the first nine count), fields range-checked.
    Sub-millisecond digits are truncated.
    """
    m = _UPSTREAM.match(text)
    if m is None or (fraction_required and m.group(7) is None):
        return None
    year, month, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or "0")[:9].ljust(9, "0")
    try:
        value = _dt.datetime(year, month, day, hh, mm, ss, tzinfo=UTC)
    except ValueError:
        return None
    return datetime_to_ms(value) + int(frac) // 1_000_000


def parse_time(text: str) -> int:
    """A user-supplied time -> int ms.  Accepts epoch milliseconds (digits only), upstream's
    text format, or ISO 8601 (a missing zone means UTC).  Raises UsageError otherwise."""
    s = text.strip()
    if s.isdigit():
        ms = int(s)
    else:
        up = parse_upstream(s)
        if up is not None:
            ms = up
        else:
            try:
                value = _dt.datetime.fromisoformat(s.replace("z", "Z"))
            except ValueError:
                raise UsageError(
                    f"invalid time {text!r}: use ISO 8601 (UTC unless a zone is given), "
                    "YYYY-MM-DDTHH:MM:SS.fff or epoch milliseconds"
                ) from None
            ms = datetime_to_ms(value)
    if not 0 <= ms <= MAX_TIMESTAMP_MS:
        raise UsageError(f"time {text!r} is out of range (1970-01-01 .. 9999-12-31)")
    return ms
