"""The overview of a recording, read once and then kept up to date as the file grows.

One pass of ``ssfile.verify``'s checked scan (:func:`ssfile.check.scan.scan` feeding its
:class:`~ssfile.check.checker.Checker`) gives every panel of the page its numbers: the
summary, the per-stream table, the integrity verdict and the timeline counts.  They are one
:class:`Tally`, so they always describe the same bytes, ``[0, through)``.

:meth:`Tally.advance` reads only what was added since the last call: the scan restarts at
``through``, the end of the last record that is final.  A record at the end of the file that
may still be being written (a frame or beacon cut by the end of the file) is not counted
yet: it is reported as the *tail* and read again next time.

Counts, defined once (the README of the page repeats them):

* ``messages``: data frames read whole with a matching checksum, before any end-of-stream
  frame (what every reader yields).  The stream table, the timeline and the integrity
  panel's "intact messages" are this same count.
* ``damaged``: data frames read whole whose checksum does not match (not in ``messages``).
* the EOS frame is reported as such (``eos``), never as a message; data frames after it
  (which no reader returns) are counted apart as ``after_eos``.

:meth:`Tally.check_file` notices a file that was replaced (another inode, or other bytes
where we already read) or truncated, says so in ``events``, and starts again when needed.
"""

from __future__ import annotations

import mmap
import os
import time
from collections import Counter
from dataclasses import dataclass, field

from ..check.checker import Checker
from ..check.diagnosis import Diagnosis, Problem
from ..check.header import check_header
from ..check.scan import BeaconItem, GapItem, scan
from ..codec.layout import OK, FrameRead, Layout
from ..file.summary import stream_rows
from ..format import constants as K

BINS = 300  # timeline bars served at most
MAX_BUCKETS = 4096  # timeline buckets kept; their width doubles to stay under this
TOP_STREAMS = 12  # streams drawn one by one; the rest are summed as "(other)"
PROBLEMS_SHOWN = 500
SIGNATURE = 64  # bytes before ``through`` compared to notice a file rewritten in place


@dataclass(slots=True)
class StreamCount:
    messages: int = 0
    first_sequence: int = 0
    last_sequence: int = 0
    first_timestamp_ms: int = 0
    last_timestamp_ms: int = 0
    payload_bytes: int = 0


class Grid:
    """Messages per stream per time bucket of ``width`` ms (bucket ``k``: ``[k*w, (k+1)*w)``).

    The width doubles (pairs of buckets merge) whenever the time span would need more than
    ``MAX_BUCKETS`` buckets, so the memory is bounded and adding a message is O(1).
    """

    def __init__(self) -> None:
        self.width = 1
        self.counts: dict[str, Counter[int]] = {}
        self.lo: int | None = None  # smallest and largest timestamp seen
        self.hi: int | None = None

    def add(self, stamps: dict[str, list[int]]) -> None:
        every = [ts for values in stamps.values() for ts in values]
        if not every:
            return
        lo, hi = min(every), max(every)
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        width = self.width
        while self.hi // width - self.lo // width + 1 > MAX_BUCKETS:
            width *= 2
        if width != self.width:
            factor = width // self.width
            for key, counter in self.counts.items():
                merged: Counter[int] = Counter()
                for k, n in counter.items():
                    merged[k // factor] += n
                self.counts[key] = merged
            self.width = width
        for key, values in stamps.items():
            bucket = self.counts.get(key)
            if bucket is None:
                bucket = self.counts[key] = Counter()
            bucket.update(ts // width for ts in values)

    def to_json_dict(self, bins: int = BINS) -> dict[str, object]:
        """At most ``bins`` bars of whole buckets: bar ``i`` covers
        ``[start_ms + i*w, start_ms + (i+1)*w)`` with ``w = (end_ms - start_ms) / bins``."""
        if self.lo is None or self.hi is None:
            return {"start_ms": None, "end_ms": None, "bins": bins, "streams": []}
        first, last = self.lo // self.width, self.hi // self.width
        span = last - first + 1
        group = -(-span // bins)
        n = -(-span // group)
        rows = []
        for key, counter in self.counts.items():
            bars = [0] * n
            for k, c in counter.items():
                bars[(k - first) // group] += c
            rows.append((key, sum(bars), bars))
        rows.sort(key=lambda r: (-r[1], r[0]))
        streams: list[dict[str, object]] = [
            {"stream_key": k, "total": t, "counts": c} for k, t, c in rows[:TOP_STREAMS]
        ]
        rest = rows[TOP_STREAMS:]
        if rest:
            other = [sum(r[2][i] for r in rest) for i in range(n)]
            streams.append(
                {"stream_key": None, "others": len(rest), "total": sum(other), "counts": other}
            )
        start = first * self.width
        return {
            "start_ms": start,
            "end_ms": start + n * group * self.width,
            "bins": n,
            "streams": streams,
        }


@dataclass
class Tail:
    """Bytes at the end of the file that are not counted yet: a record cut by the end of the
    file (being written, or cut for good) or damage that nothing readable follows yet."""

    offset: int
    size: int
    kind: str  # "torn-frame", "torn-beacon" or "damage"
    reason: str


@dataclass
class Tally:
    """Counts of one file, for the bytes ``[0, through)``; see the module docstring."""

    path: str
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file read
    head: bytes = b""  # its first 128 bytes
    signature: bytes = b""  # the SIGNATURE bytes before ``through``
    diag: Diagnosis | None = None
    checker: Checker | None = None
    through: int = 0
    size: int = 0  # the file size at the last advance
    mtime_ns: int = 0
    messages: int = 0
    payload_bytes: int = 0
    damaged: int = 0
    eos_offset: int | None = None
    eos_end: int | None = None
    after_eos: int = 0
    streams: dict[tuple[str, int], StreamCount] = field(default_factory=dict)
    grid: Grid = field(default_factory=Grid)
    tail: Tail | None = None
    header_error: str | None = None
    events: list[dict[str, object]] = field(default_factory=list)
    generation: int = 0  # +1 each time the file is read again from the start
    advanced_at: float = 0.0  # time.time() of the last advance

    # ---- the file under us -----------------------------------------------------------------

    def check_file(self) -> os.stat_result:
        """Notice a replaced or truncated file (an event, and a fresh start when what was
        counted is gone); return the file's current stat."""
        st = os.stat(self.path)
        if self.identity is None:
            return st
        if (st.st_dev, st.st_ino) != self.identity:
            self._restart("replaced", "the file was replaced (another file now has its name)")
            return st
        if st.st_size < self.size:
            what = f"the file was truncated from {self.size} to {st.st_size} bytes"
            if st.st_size < self.through:
                self._restart("truncated", what + ": counted messages are gone")
            else:
                self.events.append(_event("truncated", what + " (only the uncounted tail)"))
                self.size = st.st_size
                return st
        if self.through and not self._same_bytes():
            self._restart("replaced", "the file was rewritten: the bytes already read changed")
        return st

    def _same_bytes(self) -> bool:
        with open(self.path, "rb") as f:
            head = f.read(K.HEADER_SIZE)
            f.seek(max(0, self.through - SIGNATURE))
            sig = f.read(min(SIGNATURE, self.through))
        return head == self.head and sig == self.signature

    def _restart(self, kind: str, message: str) -> None:
        events = self.events + [_event(kind, message + "; reading it again from the start")]
        fresh = Tally(self.path, events=events, generation=self.generation + 1)
        self.__dict__.update(fresh.__dict__)

    # ---- reading -----------------------------------------------------------------------------

    def behind(self, st: os.stat_result) -> int:
        """Bytes after ``through``: what the next advance reads."""
        return max(0, st.st_size - self.through)

    def changed(self, st: os.stat_result) -> bool:
        return st.st_size != self.size or st.st_mtime_ns != self.mtime_ns or self.identity is None

    def advance(self) -> int:
        """Read what the file gained since the last call; returns the bytes looked at."""
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())
            self.mtime_ns = st.st_mtime_ns
            if st.st_size < K.HEADER_SIZE:
                self.size = st.st_size
                return 0
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                start = self.through
                self._read(buf, st)
                return len(buf) - start

    def _read(self, buf: mmap.mmap, st: os.stat_result) -> None:
        size = len(buf)
        if self.diag is None:
            self.identity = (st.st_dev, st.st_ino)
            self.head = bytes(buf[: K.HEADER_SIZE])
            self.diag = Diagnosis(self.path, size)
            hc = check_header(buf, self.diag)  # type: ignore[arg-type]  # an mmap reads like bytes
            self.diag.header = hc.header
            self.diag.scan_interval = hc.scan_interval
            self.through = K.HEADER_SIZE
            if hc.scan_interval is None:
                self.header_error = "the header cannot be read: nothing after it is counted"
                self.size = size
                return
            self.checker = Checker(self.diag, hc.scan_interval)
        if self.checker is None:
            self.size = size
            return
        self._scan(Layout(buf, self.checker.interval), size)
        self.size = size
        self.diag.size = size
        self.signature = bytes(buf[max(0, self.through - SIGNATURE) : self.through])
        self.advanced_at = time.time()

    def _scan(self, layout: Layout, size: int) -> None:
        """Feed every final record from ``through`` on; hold back what the end of the file cuts."""
        assert self.checker is not None
        stamps: dict[str, list[int]] = {}
        held: list[object] = []
        self.tail = None
        for item in scan(layout, self.through):
            if isinstance(item, FrameRead):
                self._commit(held)
                self._frame(item, stamps)
                self.checker.feed(item)
                self.through = item.end
            elif isinstance(item, BeaconItem) and item.expected is not None:
                self._commit(held)
                self.checker.feed(item)
                self.through = item.read.offset + item.read.beacon.size  # type: ignore[union-attr]
            else:  # damage, bad beacons and the beacons met inside damage: final once followed
                held.append(item)
                if isinstance(item, GapItem) and not item.torn:
                    self.through = item.end
        if held:
            gap = next((g for g in held if isinstance(g, GapItem) and g.torn), None)
            if gap is None:
                self._commit(held)
            else:  # cut by the end of the file: maybe still being written; look again next time
                first = held[0]
                at = first.start if isinstance(first, GapItem) else first.read.offset  # type: ignore[attr-defined]
                self.tail = Tail(at, size - at, gap.kind, gap.reason)
                self.through = at
        self.grid.add(stamps)

    def _commit(self, held: list[object]) -> None:
        assert self.checker is not None
        for item in held:
            self.checker.feed(item)
        held.clear()

    def _frame(self, f: FrameRead, stamps: dict[str, list[int]]) -> None:
        if f.key == K.INTERNAL_KEY:
            if f.is_eos and self.eos_offset is None:
                self.eos_offset, self.eos_end = f.offset, f.end
            return
        if f.status != OK:
            self.damaged += 1
            return
        if self.eos_offset is not None:
            self.after_eos += 1
            return
        self.messages += 1
        n = len(f.payload)
        self.payload_bytes += n
        key = (f.key, f.shard)
        st = self.streams.get(key)
        if st is None:
            st = self.streams[key] = StreamCount(0, f.seq, f.seq, f.ts, f.ts)
        st.messages += 1
        st.last_sequence, st.last_timestamp_ms = f.seq, f.ts
        st.payload_bytes += n
        got = stamps.get(f.key)
        if got is None:
            got = stamps[f.key] = []
        got.append(f.ts)

    # ---- what the page shows -----------------------------------------------------------------

    def to_json_dict(self) -> dict[str, object]:
        """Every panel's numbers, for the bytes ``[0, through)`` (and the tail after it)."""
        d = self.diag
        header = d.header.to_json_dict() if d is not None and d.header is not None else None
        return {
            "generation": self.generation,
            "through": self.through,
            "size": self.size,
            "advanced_at_ms": int(self.advanced_at * 1000),
            "header": header,
            "header_error": self.header_error,
            "messages": self.messages,
            "payload_bytes": self.payload_bytes,
            "damaged": self.damaged,
            "beacons": d.beacons if d is not None else 0,
            "eos": None
            if self.eos_offset is None
            else {
                "offset": self.eos_offset,
                "after_messages": self.after_eos,
                "bytes_after": max(0, self.size - (self.eos_end or 0)),
            },
            "tail": None if self.tail is None else vars(self.tail).copy(),
            "streams": self._streams(),
            "integrity": self._integrity(),
            "timeline": self.grid.to_json_dict(),
            "events": list(self.events),
        }

    def _streams(self) -> list[dict[str, object]]:
        return stream_rows(self.streams)

    def _integrity(self) -> dict[str, object]:
        """verify's verdict on ``[0, through)``, plus what the end of the file says now."""
        d = self.diag
        if d is None:
            return {"clean": None, "problems": [], "problems_total": 0, "problem_counts": {}}
        extra, pending = self._final_problems()
        problems = d.sorted_problems() + extra + pending
        problems.sort(key=lambda p: p.offset)
        counts = Counter(d.counts)
        counts.update(p.code for p in extra + pending)
        error_codes = {p.code for p in problems if p.severity == "error"}
        shown = [
            p.to_json_dict() | ({"pending": True} if p in pending else {})
            for p in problems[:PROBLEMS_SHOWN]
        ]
        return {
            "clean": d.readable
            and not any(p.severity == "error" for p in problems if p not in pending),
            "pending": [p.to_json_dict() for p in pending],
            "errors": sum(counts[code] for code in error_codes),
            "problems": shown,
            "problems_total": sum(counts.values()),
            "problem_counts": dict(sorted(counts.items())),
            "intact_messages": self.messages,
            "damaged_messages": self.damaged,
            "unreadable": [list(r) for r in d.unreadable],
            "unreadable_bytes": d.unreadable_bytes,
            "lost_streams": [
                {"stream_key": k, "shard_id": s, "why": why}
                for (k, s), why in sorted(d.lost_streams.items())
            ],
        }

    def _final_problems(self) -> tuple[list[Problem], list[Problem]]:
        """What ``Checker.finish`` would add if the file ended here: (final problems, problems
        of the end of the file that a writer still writing would make go away)."""
        d, c = self.diag, self.checker
        out: list[Problem] = []
        pending: list[Problem] = []
        if d is None or c is None:
            return out, pending
        if c.after_eos:
            out.append(
                Problem(
                    "error",
                    "data-after-eos",
                    c.after_eos[0],
                    f"{len(c.after_eos)} record(s) after the EOS at {d.eos_offsets[0]}: "
                    "every reader stops at the EOS and never sees them",
                )
            )
        t = self.tail
        if t is not None:
            code = "torn-tail" if t.kind != "damage" else "unreadable"
            pending.append(
                Problem(
                    "error",
                    code,
                    t.offset,
                    f"{t.size} bytes [{t.offset}, {t.offset + t.size}) not read yet: {t.reason} "
                    "(a writer may still be writing them)",
                )
            )
        elif self.size >= K.HEADER_SIZE and self.size % c.interval == 0:
            pending.append(
                Problem(
                    "error",
                    "missing-beacon",
                    self.size,
                    "file ends exactly at a beacon boundary without the beacon (the writer "
                    "stopped before writing it, or is about to write it)",
                )
            )
        return out, pending


def _event(kind: str, message: str) -> dict[str, object]:
    return {"kind": kind, "message": message, "at_ms": int(time.time() * 1000)}


def tally(path: str) -> Tally:
    """A tally of the whole file as it is now."""
    t = Tally(os.fspath(path))
    t.check_file()
    t.advance()
    return t
