"""Times: the one converter every API uses (:func:`to_ms`), timestamp text (upstream's
formats, ISO 8601, epoch milliseconds) and the command line's relative times.  Pure functions;
numpy and pandas values are recognised without importing either.

Formatting is total (spec/ss-format.md 2.2): a value outside ``[0, MAX_TIMESTAMP_MS]`` is
text ``<out of range: N ms>`` (:func:`format_timestamp`) and JSON ``null``
(:func:`timestamp_json`, always next to the raw integer); it never raises.
"""

from __future__ import annotations

import datetime as _dt
import operator
import re
import time
from typing import TYPE_CHECKING, TypeAlias

from .errors import UsageError
from .types import MAX_TIMESTAMP_MS, UTC, datetime_to_ms, format_timestamp

if TYPE_CHECKING:
    import numpy

__all__ = [
    "TimeLike",
    "format_timestamp",
    "in_range",
    "parse_relative",
    "parse_time",
    "parse_upstream",
    "timestamp_json",
    "to_ms",
]

#: What every ssfile API that takes a time accepts (see :func:`to_ms`).  pandas.Timestamp is
#: a ``datetime``; numpy and pandas are never imported to recognise their values.
TimeLike: TypeAlias = "int | str | _dt.datetime | _dt.date | numpy.datetime64"


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


def to_ms(value: TimeLike, what: str = "time") -> int:
    """Any time an ssfile API takes -> int milliseconds since the epoch (UTC).

    * ``int`` (or a numpy integer): milliseconds, taken as they are;
    * ``datetime.datetime``, ``pandas.Timestamp`` (a datetime): naive means UTC; an aware one
      is converted; sub-millisecond parts are truncated;
    * ``datetime.date``: its midnight, UTC;
    * ``numpy.datetime64`` (any unit): truncated to milliseconds;
    * ``str``: ISO 8601 (no zone = UTC; ``Z`` or an offset), upstream's
      ``YYYY-MM-DDTHH:MM:SS[.fff]`` or epoch milliseconds as digits (:func:`parse_time`;
      text outside 1970-01-01 .. 9999-12-31 is refused).

    ``what`` names the argument in errors.  Raises :class:`~ssfile.errors.UsageError` (a
    ``ValueError``) for text that is not a time and for NaT, ``TypeError`` for any other type
    (``bool`` and ``float`` included: a float could be seconds as well as milliseconds).
    Writers refuse timestamps outside the format's range; readers take any instant.
    """
    if isinstance(value, str):
        try:
            return parse_time(value)
        except UsageError as err:
            raise UsageError(f"{what}: {err}") from None
    if isinstance(value, _dt.datetime):
        if value != value:  # pandas.NaT is a datetime that equals nothing
            raise UsageError(f"{what}: NaT is not a time")
        return datetime_to_ms(value)
    if isinstance(value, _dt.date):
        return datetime_to_ms(_dt.datetime(value.year, value.month, value.day, tzinfo=UTC))
    if type(value).__name__ == "datetime64" and hasattr(value, "astype"):  # numpy, duck-typed
        if str(value) == "NaT":
            raise UsageError(f"{what}: NaT is not a time")
        return int(value.astype("datetime64[ms]").astype("int64"))
    if not isinstance(value, bool | float) and hasattr(value, "__index__"):
        return operator.index(value)  # int, numpy integers
    raise TypeError(
        f"{what} must be int milliseconds, a datetime, a pandas.Timestamp, a numpy.datetime64 "
        f"or text (ISO 8601, YYYY-MM-DDTHH:MM:SS.fff, epoch ms), not {value!r}"
    )


_RELATIVE = re.compile(r"([+-]?)(\d+(?:\.\d+)?)(ms|s|m|h|d|w)\Z")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_relative(text: str, now_ms: int | None = None) -> int | None:
    """A relative time of the command line -> int ms, or None if ``text`` is not one.

    ``now``; ``-10m`` or ``10m``: ten minutes before now (a duration without a sign means
    "ago"); ``+10m``: ten minutes after now.  Units: ms, s, m (minutes), h, d, w; a decimal
    number is fine (``1.5h``).  ``now_ms`` defaults to the wall clock.
    """
    s = text.strip()
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if s == "now":
        return now
    m = _RELATIVE.match(s)
    if m is None:
        return None
    sign, number, unit = m.groups()
    delta = int(float(number) * _UNIT_MS[unit])
    return now + delta if sign == "+" else now - delta
