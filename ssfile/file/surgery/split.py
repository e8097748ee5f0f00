"""``ssfile.split(src, pattern, ...)``: cut one recording into several complete files.

Exactly one way of cutting:

* ``every`` (int ms or a timedelta): by time period.  Periods are aligned on the epoch
  (``every=3_600_000`` gives whole UTC hours): a new piece starts at the first message
  whose period (``timestamp // every``) differs from the current piece's;
* ``size`` (bytes): a new piece starts before a message that could take the current piece
  (EOS frame included) past ``size`` bytes, so every piece is at most ``size`` bytes unless
  it holds a single larger message;
* ``count``: ``count`` messages per piece (the last may hold fewer);
* ``by_stream``: one piece per stream key (all its shards), in the order the keys first
  appear.  Any number of streams works within the open-file limit: at most
  :func:`open_budget` pieces hold an open file; writing to another one parks the least
  recently written (:meth:`~ssfile.file.writer.Writer.park`: its file is closed, its state
  kept, and reopened at its end when it is written again), so each piece gets the same bytes
  as if it had stayed open.

Pieces keep the messages in file order, so reading the pieces one after the other gives the
input's messages (``concat`` of the pieces is the input, up to beacons and header).  Each
piece is a complete file with its own header (``created_at`` = its first message's
timestamp, its file name = its own), fresh beacons (``beacon_interval``, default the
input's) and an EOS frame.

``pattern`` names the pieces: ``{n}`` is the piece number (1, 2, ...; a format spec such as
``{n:03}`` works), ``{stream}`` the stream key (``by_stream`` only).  A pattern must hold
``{n}`` (``{stream}`` or ``{n}`` for ``by_stream``); a pattern that gives two pieces the
same name, or names the input, is refused.  Pieces are written under temporary names and
all renamed into place at the end: an error leaves no piece behind (and files from an
earlier run untouched).
"""

from __future__ import annotations

import datetime as _dt
import os
import string
from collections import Counter, OrderedDict
from collections.abc import Callable

from ... import platform
from ...errors import UsageError
from ...format import constants as K
from ...types import Message
from ..reader import Reader
from .endpoints import SMALL_BUFFER, Output, PathLike, note_damage, open_input, producing
from .summary import Summary

#: the EOS frame: fixed part + the 21-byte reserved key + the 3-byte payload
EOS_FRAME = K.FRAME_FIXED + len(K.INTERNAL_KEY) + len(K.EOS_PAYLOAD)


def parse_pattern(pattern: str, by_stream: bool) -> Callable[[int, str], str]:
    """(piece number, stream key) -> piece name; UsageError for a pattern that cannot name
    every piece differently."""
    fields = set()
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as err:
        raise UsageError(f"invalid output pattern {pattern!r}: {err}") from None
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in ("n", "stream") or conversion is not None or "{" in (spec or ""):
            raise UsageError(
                f"invalid output pattern {pattern!r}: only {{n}} and {{stream}} may be used"
            )
        fields.add(field_name)
    if "stream" in fields and not by_stream:
        raise UsageError(f"output pattern {pattern!r}: {{stream}} is only for --by-stream")
    needed = ("stream", "n") if by_stream else ("n",)
    if not fields & set(needed):
        what = "{stream} or {n}" if by_stream else "{n}"
        raise UsageError(
            f"output pattern {pattern!r} must contain {what}: every piece needs its own name"
        )

    def piece_name(n: int, stream: str) -> str:
        try:
            return pattern.format(n=n, stream=stream)
        except (ValueError, TypeError) as err:
            raise UsageError(f"invalid output pattern {pattern!r}: {err}") from None

    piece_name(1, "k")  # a bad format spec fails now
    return piece_name


#: the most pieces of ``by_stream`` that hold an open file at once, whatever the limit
MAX_OPEN_PIECES = 1024
#: open files left to the rest of the process (the input, stdio, a piece being created...)
RESERVED_FILES = 16


def open_budget() -> int:
    """How many pieces of ``by_stream`` may hold an open file at once: half of what the open
    files limit leaves after :data:`RESERVED_FILES`, between 1 and :data:`MAX_OPEN_PIECES`."""
    spare = (platform.open_files_limit() - RESERVED_FILES) // 2
    return max(1, min(MAX_OPEN_PIECES, spare))


def _ms(every: int | _dt.timedelta) -> int:
    if isinstance(every, _dt.timedelta):
        return every // _dt.timedelta(milliseconds=1)
    return every


class _Pieces:
    """The pieces written so far (temporary files until :meth:`commit_all`)."""

    def __init__(self, src: PathLike, name: Callable[[int, str], str], interval: int) -> None:
        self.src = src
        self.name = name
        self.interval = interval
        self.all: list[Output] = []
        self.names: dict[str, str] = {}  # real path -> the name as produced

    def new(self, first: Message, buffer_size: int | None = None) -> Output:
        target = self.name(len(self.all) + 1, first.stream_key)
        real = os.path.realpath(target)
        if real in self.names:
            raise UsageError(
                f"the output pattern gives two pieces the same name {target!r}: "
                "add {n} (or {stream}) to it"
            )
        out = Output(
            target,
            inputs=[self.src],
            beacon_interval=self.interval,
            created_at=first.timestamp_ms,
            buffer_size=buffer_size,
        )
        self.names[real] = target
        self.all.append(out)
        return out

    def commit_all(self) -> None:
        for out in self.all:
            out.close()
        for out in self.all:
            out.commit()


def _bound(out: Output, m: Message, pairs: int, longest_key: int) -> int:
    """An upper bound on the piece's size if ``m`` and then the EOS frame were written."""
    interval = out.writer.header.beacon_interval
    markers = min(pairs + 2, K.num_markers(interval))  # + m's pair + the EOS frame's pair
    beacon = K.BEACON_FIXED + markers * (K.MARKER_FIXED + max(longest_key, len(K.INTERNAL_KEY)))
    span = K.FRAME_FIXED + len(m.stream_key) + len(m.payload) + EOS_FRAME
    start = out.offset
    total = span
    while True:  # each boundary crossed adds at most one beacon, which may cross another
        boundaries = (start + total) // interval - start // interval
        grown = span + boundaries * beacon
        if grown <= total:
            return start + total
        total = grown


def split(
    src: PathLike,
    pattern: str,
    *,
    every: int | _dt.timedelta | None = None,
    size: int | None = None,
    count: int | None = None,
    by_stream: bool = False,
    beacon_interval: int | None = None,
    on_damage: str = "raise",
) -> Summary:
    """Split ``src`` into pieces named by ``pattern`` (see the module docstring).

    Returns a :class:`~.summary.Summary` whose ``outputs`` lists the pieces in order.
    """
    ways = [every is not None, size is not None, count is not None, bool(by_stream)]
    if sum(ways) != 1:
        raise UsageError("split needs exactly one of every, size, count or by_stream")
    period = None if every is None else _ms(every)
    if period is not None and period <= 0:
        raise UsageError(f"split every: a period must be positive, not {period} ms")
    if count is not None and (isinstance(count, bool) or count < 1):
        raise UsageError(f"split count must be >= 1, not {count!r}")
    if size is not None and size < K.HEADER_SIZE + EOS_FRAME:
        raise UsageError(
            f"split size {size} is too small: a file takes at least {K.HEADER_SIZE + EOS_FRAME} bytes"
        )
    name = parse_pattern(pattern, by_stream)
    source = os.fspath(src)
    summary = Summary("split", [source])
    with open_input(src, on_damage) as reader:
        interval = reader.header.beacon_interval if beacon_interval is None else beacon_interval
        pieces = _Pieces(src, name, interval)
        tally: Counter[tuple[str, int]] = Counter()  # every message read is written
        with producing(pieces.all):
            try:
                if by_stream:
                    _by_stream(reader, pieces, source, tally)
                else:
                    _in_order(reader, pieces, source, tally, period, size, count)
            finally:
                summary.add(tally, tally)
            note_damage(reader, summary)
            pieces.commit_all()
    summary.outputs.extend((out.target, out.messages) for out in pieces.all)
    return summary


def _in_order(
    reader: Reader,
    pieces: _Pieces,
    source: str,
    tally: Counter[tuple[str, int]],
    period: int | None,
    size: int | None,
    count: int | None,
) -> None:
    out: Output | None = None
    current = -1  # the current piece's period (every)
    pairs: set[tuple[str, int]] = set()
    longest = 0
    for m in reader:
        tally[m.stream_key, m.shard_id] += 1
        start = out is None
        if not start:
            assert out is not None
            if period is not None:
                start = m.timestamp_ms // period != current
            elif count is not None:
                start = out.messages >= count
            elif size is not None:
                start = _bound(out, m, len(pairs), max(longest, len(m.stream_key))) > size
        if start:
            if out is not None:
                out.close()  # finished: its bytes go to disk now, not at the end
            out = pieces.new(m)
            pairs = set()
            longest = 0
            if period is not None:
                current = m.timestamp_ms // period
        assert out is not None
        out.write(m, source)
        pairs.add((m.stream_key, m.shard_id))
        longest = max(longest, len(m.stream_key))


def _by_stream(
    reader: Reader, pieces: _Pieces, source: str, tally: Counter[tuple[str, int]]
) -> None:
    outs: dict[str, Output] = {}
    budget = open_budget()
    # the pieces that may hold an open file, least recently written first; the others are parked
    recent: OrderedDict[str, Output] = OrderedDict()
    crowded = False  # more pieces than the budget: the order of recent matters from now on
    for m in reader:
        tally[m.stream_key, m.shard_id] += 1
        key = m.stream_key
        out = recent.get(key)
        if out is None:
            if len(recent) >= budget:
                recent.popitem(last=False)[1].park()
            out = outs.get(key)
            if out is None:
                out = outs[key] = pieces.new(m, SMALL_BUFFER)
                crowded = len(outs) > budget
            recent[key] = out
        elif crowded:
            recent.move_to_end(key)
        out.write(m, source)


__all__ = ["open_budget", "parse_pattern", "split"]
