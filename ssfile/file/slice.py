"""Slices of a recording: stream and shard filters, a time window, a starting sequence, a limit.

    with ssfile.open("rec.ss") as r:
        for m in Slice(streams=("orders",), since=t0, until=t1).messages(r):
            ...

Semantics (the same for the API and ``ssfile cat``):

* a message is *selected* when its stream is one of ``streams`` (all if empty) and its
  shard is ``shard`` (all if None);
* ``since``: selected messages stamped before ``since`` are skipped.  The reader first
  seeks to the first message (of any stream) stamped at or after ``since`` -- everything
  before it is earlier than ``since`` -- so this costs a seek, not a scan;
* ``from_seq`` (one stream; shard 0 unless given): selected messages numbered below it are
  skipped, after a seek to the first message of that (stream, shard) numbered at or above;
* ``until``: the window is half-open, ``[since, until)``: output stops before the first
  message stamped at or after ``until`` that passes every other filter (stream, shard,
  ``since``, ``from_seq``) (in file order: for the usual recording,
  whose timestamps do not go back, that is exactly "every message before ``until``"; a
  later message whose timestamp goes back below ``until`` is not shown);
* ``limit``: at most that many messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..codec.events import EndOfStream
from ..errors import UsageError
from ..format.records import Beacon
from ..timefmt import TimeLike, to_ms
from ..types import Message
from .reader import Reader


def next_messages(reader: Reader) -> list[Message] | None:
    """The messages of the reader's next decoded batch ([] if it held none); None at the end.

    The batch is whatever the decoder produced from one chunk, so a caller pays per batch
    for anything it does between batches (crossing threads, flushing output).
    """
    reader._reclaim()
    if reader._index < len(reader._events):
        batch = reader._events[reader._index :]
        reader._events, reader._index = [], 0
    else:
        batch = reader._batch()
    if not batch:
        return None
    msg_type = Message
    msgs = [ev for ev in batch if type(ev) is msg_type]
    if len(msgs) != len(batch):
        for i, ev in enumerate(batch):
            if isinstance(ev, Beacon):
                reader.last_beacon = ev
            elif isinstance(ev, EndOfStream):
                reader.ended = True
                return [m for m in batch[:i] if type(m) is msg_type]
    return msgs


@dataclass(frozen=True)
class Slice:
    """Which messages to take from a reader (see the module docstring).

    ``since``/``until``: any time :func:`ssfile.timefmt.to_ms` takes (int ms, datetime with
    naive = UTC, pandas.Timestamp, numpy.datetime64, text such as ``"2026-01-01T00:08:20Z"``);
    they are kept as int ms, and a bad one fails here, naming the argument."""

    streams: tuple[str, ...] = ()
    shard: int | None = None
    since: TimeLike | None = None
    until: TimeLike | None = None
    from_seq: int | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.from_seq is not None and len(self.streams) != 1:
            raise UsageError("a starting sequence needs exactly one stream")
        if self.limit is not None and self.limit < 0:
            raise UsageError(f"limit must be >= 0, not {self.limit}")
        # times in ms from here on: a bad time fails now, with the argument's name
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_ms(value, name))

    def position(self, reader: Reader) -> None:
        """Seek ``reader`` to where the slice can start."""
        if self.since is not None:
            reader.seek_time(self.since)
        elif self.from_seq is not None:
            reader.seek_sequence(self.streams[0], self.shard or 0, self.from_seq)

    def batches(self, reader: Reader, *, seek: bool = True) -> Iterator[list[Message]]:
        """Lists of selected messages (maybe empty, for a caller that flushes per batch)."""
        if seek:
            self.position(reader)
        keep = self._filter()
        until = None if self.until is None else to_ms(self.until)  # already ms
        left = self.limit
        if left == 0:
            return
        while True:
            batch = next_messages(reader)
            if batch is None:
                return
            out = [m for m in batch if keep(m)]
            if until is not None:
                for i, m in enumerate(out):
                    if m.timestamp_ms >= until:
                        yield out[:i] if left is None else out[: min(i, left)]
                        return
            if left is not None:
                if len(out) >= left:
                    yield out[:left]
                    return
                left -= len(out)
            yield out

    def messages(self, reader: Reader, *, seek: bool = True) -> Iterator[Message]:
        for batch in self.batches(reader, seek=seek):
            yield from batch

    def _filter(self) -> Callable[[Message], bool]:
        keys = frozenset(self.streams)
        shard = self.shard
        if self.from_seq is not None and shard is None:
            shard = 0
        since = None if self.since is None else to_ms(self.since)
        seq = self.from_seq

        def keep(m: Message) -> bool:
            return (
                (not keys or m.stream_key in keys)
                and (shard is None or m.shard_id == shard)
                and (since is None or m.timestamp_ms >= since)
                and (seq is None or m.sequence >= seq)
            )

        return keep


__all__ = ["Slice", "next_messages"]
