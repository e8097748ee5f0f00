"""Plain data: messages, headers and the timestamp helpers.  Imports nothing internal."""

from __future__ import annotations

import datetime as _dt

UTC = _dt.UTC
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)

#: the largest timestamp upstream can read back: 9999-12-31T23:59:59.999Z
MAX_TIMESTAMP_MS = 253_402_300_799_999
MAX_U64 = (1 << 64) - 1


def ms_to_datetime(ms: int) -> _dt.datetime:
    """Milliseconds since the epoch -> aware UTC datetime."""
    return _EPOCH + _dt.timedelta(milliseconds=ms)


def datetime_to_ms(value: _dt.datetime) -> int:
    """Aware (or naive = UTC) datetime -> int milliseconds, truncated like upstream."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_timestamp(ms: int) -> str:
    """Upstream's TIMESTAMP_FORMAT: ``YYYY-MM-DDTHH:MM:SS.F`` with the shortest exact fraction.

    Total: a value outside ``[0, MAX_TIMESTAMP_MS]`` (never read from a valid file) gives
    ``<out of range: N ms>`` instead of raising."""
    if not 0 <= ms <= MAX_TIMESTAMP_MS:
        return f"<out of range: {ms} ms>"
    secs, milli = divmod(ms, 1000)
    days, rem = divmod(secs, 86_400)
    date = _dt.date.fromordinal(719_163 + days)  # 719163 = date(1970,1,1).toordinal()
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    frac = f"{milli:03d}".rstrip("0") or "0"
    return f"{date.year:04d}-{date.month:02d}-{date.day:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{frac}"


class Message:
    """One data message read from (or written to) a file.

    ``timestamp_ms`` is int milliseconds since the epoch; :attr:`timestamp` is the same
    instant as an aware UTC datetime.  ``offset`` is the absolute file offset of the frame
    (``None`` for messages not read from a file).
    """

    __slots__ = ("stream_key", "shard_id", "sequence", "timestamp_ms", "payload", "offset")

    def __init__(
        self,
        stream_key: str,
        shard_id: int,
        sequence: int,
        timestamp_ms: int,
        payload: bytes,
        offset: int | None = None,
    ) -> None:
        self.stream_key = stream_key
        self.shard_id = shard_id
        self.sequence = sequence
        self.timestamp_ms = timestamp_ms
        self.payload = payload
        self.offset = offset

    def _timestamp(self) -> _dt.datetime:
        return ms_to_datetime(self.timestamp_ms)

    #: ``timestamp_ms`` as an aware UTC datetime.  ssfile.codec.accel replaces the getter
    #: with its C twin (the same value) when the accelerator is loaded.
    timestamp = property(_timestamp)

    def _key(self) -> tuple[object, ...]:
        return (self.stream_key, self.shard_id, self.sequence, self.timestamp_ms, self.payload)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        payload = self.payload if len(self.payload) <= 40 else self.payload[:37] + b"..."
        return (
            f"Message({self.stream_key!r}, shard={self.shard_id}, seq={self.sequence}, "
            f"ts={format_timestamp(self.timestamp_ms)}, payload={payload!r})"
        )
