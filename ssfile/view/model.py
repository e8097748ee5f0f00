"""Paging over a recording by file offset, in both directions, never reading the whole file.

A page is found by seeking (beacons) and a short forward scan: forward from an offset
("the next messages at or after X"), or backward before one ("the last messages before X",
by scanning growing windows that end at X).  The cursor of a page is a plain file offset,
so pages stay stable while a live file grows.

Damage does not stop the table.  When the reader meets bytes it cannot decode at offset E,
the messages before E are recovered (through a view of the file that ends at E), a
:class:`Damage` record notes the gap, and reading resumes at the next beacon after E, the
next place a reader can re-synchronise.  Checksums are not checked here (a payload with a
bad checksum is still shown); verify's findings mark those frames in the API.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import ssfile

from ..file.slice import next_messages

HEADER_END = 128  # the first frame starts after the 128-byte file header
CHUNK = 64 * 1024  # read size: a page needs little, a seek reads one chunk
SCAN_BUDGET = 16 << 20  # bytes one request may scan looking for filtered messages
MAX_RESYNCS = 64  # damaged stretches one request steps over


@dataclass(frozen=True)
class Filter:
    """Which messages a page shows: some streams (all if empty), one shard (all if None)."""

    streams: frozenset[str] = frozenset()
    shard: int | None = None

    def keep(self, m: ssfile.Message) -> bool:
        return (not self.streams or m.stream_key in self.streams) and (
            self.shard is None or m.shard_id == self.shard
        )


ALL = Filter()


@dataclass(frozen=True)
class Damage:
    """Bytes from ``offset`` that could not be read; reading went on at ``resume`` (None: never)."""

    offset: int
    resume: int | None
    reason: str

    def to_json_dict(self) -> dict[str, object]:
        return {"offset": self.offset, "resume": self.resume, "reason": self.reason}


@dataclass
class Scan:
    """What a forward scan found: messages in file order, damage, and where it stopped.

    ``cursor`` is where the next forward scan starts (one past the last message looked at);
    ``at_end`` says the readable data ended (end of file, EOS or a torn tail).
    """

    messages: list[ssfile.Message] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    cursor: int = HEADER_END
    at_end: bool = False
    ended: bool = False
    torn_tail: int | None = None


class _Prefix(io.RawIOBase):
    """The first ``end`` bytes of a file, as a seekable read-only file."""

    def __init__(self, f: BinaryIO, end: int) -> None:
        self._f, self._end, self._pos = f, end, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        n = max(0, min(len(buf), self._end - self._pos))
        self._f.seek(self._pos)
        data = self._f.read(n)
        buf[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._end}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def file_size(path: str) -> int:
    return os.stat(path).st_size


def open_reader(source: str | BinaryIO) -> ssfile.Reader:
    return ssfile.open(source, check_crc=False, tolerate_truncation=True, chunk_size=CHUNK)


def position(reader: ssfile.Reader, offset: int) -> bool:
    """Put ``reader`` where messages at or after ``offset`` start; False if it cannot get
    there (the beacon it needs is missing, as at the growing end of a live file)."""
    interval = reader.header.beacon_interval
    if offset < interval:
        reader.rewind()
        return True
    wanted = offset // interval
    return reader.seek_beacon(wanted) == wanted


def _recover(path: str, start: int, stop: int) -> list[ssfile.Message]:
    """The messages in ``[start, stop)``, read through a view of the file that ends at ``stop``."""
    with open(path, "rb") as f:
        try:
            with open_reader(_Prefix(f, stop)) as r:  # type: ignore[arg-type]  # a seekable raw file
                if not position(r, start):
                    return []
                return [m for m in r if m.offset >= start]  # type: ignore[operator]
        except ssfile.FormatError:
            return []


def _next_beacon(offset: int, interval: int) -> int:
    return (offset // interval + 1) * interval


def scan_forward(
    path: str,
    start: int,
    keep: Callable[[ssfile.Message], bool] = ALL.keep,
    *,
    limit: int | None = None,
    stop: int | None = None,
    budget: int | None = SCAN_BUDGET,
) -> Scan:
    """Messages that ``keep`` accepts, from offset ``start`` on (up to ``stop``, exclusive),
    at most ``limit`` of them, scanning at most about ``budget`` bytes."""
    out = Scan(cursor=max(start, HEADER_END))
    size = file_size(path)
    with open_reader(path) as r:
        interval = r.header.beacon_interval
        at = out.cursor
        pending: Damage | None = None  # a torn frame that is damage if anything reads after it
        if not position(r, at):
            out.at_end = True
            return out
        while True:
            try:
                batch = next_messages(r)
            except ssfile.FormatError as err:
                bad = err.offset if err.offset is not None else r.offset
                _take(out, _recover(path, out.cursor, bad), start, keep, limit, stop)
                if _full(out, limit, stop) or (stop is not None and bad >= stop):
                    return out
                at = _resync(r, out, bad, interval, size, err.reason)  # type: ignore[assignment]
                if at is None:
                    return out
                continue
            if batch is None:
                torn = r.torn_tail
                if torn is not None and _next_beacon(torn, interval) < size and pending is None:
                    # cut short with beacons after it: damage, if anything reads after it
                    cursor = out.cursor
                    at = _resync(  # type: ignore[assignment]
                        r,
                        out,
                        torn,
                        interval,
                        size,
                        "frame cut short: its length "
                        "runs past a later beacon or the end of the file",
                    )
                    pending = out.damage.pop()
                    if at is not None:
                        continue
                    out.cursor = cursor
                out.at_end = True
                out.ended = r.ended
                out.torn_tail = torn if pending is None else pending.offset
                if pending is not None:
                    out.cursor = pending.offset  # a live file's long message being written
                return out
            if pending is not None and batch:
                out.damage.append(pending)
                pending = None
            done = _take(out, batch, start, keep, limit, stop)
            if done or (budget is not None and r.offset - at > budget):
                return out


def _take(
    out: Scan,
    batch: list[ssfile.Message],
    start: int,
    keep: Callable[[ssfile.Message], bool],
    limit: int | None,
    stop: int | None,
) -> bool:
    """Add the kept messages of ``batch`` to ``out``; True once the scan is complete."""
    for m in batch:
        if m.offset < start:  # type: ignore[operator]
            continue
        if stop is not None and m.offset >= stop:  # type: ignore[operator]
            out.cursor = stop
            return True
        out.cursor = m.offset + 1  # type: ignore[operator]
        if keep(m):
            out.messages.append(m)
            if limit is not None and len(out.messages) >= limit:
                return True
    return False


def _full(out: Scan, limit: int | None, stop: int | None) -> bool:
    return (limit is not None and len(out.messages) >= limit) or (
        stop is not None and out.cursor >= stop
    )


def _resync(
    r: ssfile.Reader, out: Scan, bad: int, interval: int, size: int, reason: str
) -> int | None:
    """Record the damage at ``bad`` and move ``r`` to the next beacon that reads; its offset."""
    resume = _next_beacon(bad, interval)
    while True:
        if resume >= size or len(out.damage) >= MAX_RESYNCS:
            out.damage.append(Damage(bad, None, reason))
            out.at_end = resume >= size
            out.cursor = max(out.cursor, min(resume, size))
            return None
        try:
            if position(r, resume):
                out.damage.append(Damage(bad, resume, reason))
                out.cursor = resume
                return resume
        except ssfile.FormatError:
            pass
        resume += interval


def page_after(
    path: str, start: int, flt: Filter = ALL, limit: int = 100, stop: int | None = None
) -> Scan:
    """The first ``limit`` selected messages at or after offset ``start`` (and before
    ``stop``: a live page reads up to where the overview has counted)."""
    return scan_forward(path, start, flt.keep, limit=limit, stop=stop)


@dataclass
class Back:
    """A backward page: messages before an offset, in file order."""

    messages: list[ssfile.Message]
    damage: list[Damage]
    lowest: int  # the scan covered [lowest, before)
    at_start: bool  # nothing selected lies before ``lowest``


def page_before(
    path: str, before: int, flt: Filter = ALL, limit: int = 100, budget: int = SCAN_BUDGET
) -> Back:
    """The last ``limit`` selected messages before offset ``before``.

    Windows ending at ``before`` grow (doubling from one beacon interval or 256 KiB) until
    enough messages are found, the file start is reached or ``budget`` bytes were scanned.
    """
    with open_reader(path) as r:
        interval = r.header.beacon_interval
    hi = min(before, file_size(path) + 1)
    span = max(interval, 256 * 1024)
    found: list[ssfile.Message] = []
    damage: list[Damage] = []
    scanned = 0
    while len(found) < limit and hi > HEADER_END and scanned < budget:
        lo = max(hi - span, 0) // interval * interval
        lo = HEADER_END if lo < interval else lo
        part = scan_forward(path, lo, flt.keep, stop=hi, budget=None)
        skip = max(0, len(part.messages) - (limit - len(found)))
        found = part.messages[skip:] + found
        damage = part.damage + damage
        scanned += hi - lo
        hi, span = lo, span * 2
        if skip:  # more before the page than it holds: the page starts at its first message
            damage = [d for d in damage if d.offset >= found[0].offset]  # type: ignore[operator]
            return Back(found, damage, found[0].offset, False)  # type: ignore[arg-type]
    return Back(found, damage, max(hi, HEADER_END), hi <= HEADER_END)


def find_time(path: str, ms: int) -> int | None:
    """Offset of the first message stamped at or after ``ms`` (None: there is none)."""
    with open_reader(path) as r:
        m = r.seek_time(ms)
        return None if m is None else m.offset


def find_sequence(path: str, stream: str, shard: int, seq: int) -> int | None:
    """Offset of the first message of (stream, shard) numbered at or after ``seq``."""
    with open_reader(path) as r:
        m = r.seek_sequence(stream, shard, seq)
        return None if m is None else m.offset


def message_at(path: str, offset: int) -> ssfile.Message | None:
    """The message whose frame starts at ``offset``, or None."""
    if offset < HEADER_END:
        return None
    got = scan_forward(path, offset, limit=1, budget=None).messages
    return got[0] if got and got[0].offset == offset else None
