"""One numeric field of one stream's JSON payloads over time, and its min/max downsampling.

A *field path* names a value inside a JSON-object payload: ``qty``, ``reading.temp`` (the
same value as ``to_numpy(json=True)``'s column ``payload.reading.temp``), ``items[0].price``
(``[i]`` indexes an array, which ``jsonflat`` keeps whole as a leaf).  Numbers and booleans
(as 0/1) are values; a payload without a finite number at the path counts as *missing*,
one that is not JSON text as *not JSON*, one that is not UTF-8 (or holds control
characters other than tab and newlines) as *binary*.

The messages come from the vectorised scan (:mod:`.columns`, one stream's rows and payloads);
the C extractor (``json_field`` in ssfile/_speedups.c, :func:`field_values`) then finds the
path in each payload without building Python objects; :func:`field_one` (``json.loads``) is
its reference and its fallback.  :func:`preview` reads only evenly spaced windows of the
file, for a first plot in well under a second.  :func:`extend` reads only what a growing file gained.
:func:`downsample` keeps, per pixel-wide time bucket, the smallest and the largest value
(with the offsets of their messages), so a plot of millions of points stays exact in shape.
"""

from __future__ import annotations

import json
import json.scanner
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..codec.accel import speedups
from ..errors import FormatError, SSError
from ..file.reader import Reader
from . import _deps
from .columns import Selection, scan

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not text (as the viewer says)
_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d{1,9})\]")


def parse_path(text: str) -> tuple[str | int, ...]:
    """``"items[0].price"`` -> ``("items", 0, "price")``; ValueError naming the bad spot."""
    parts: list[str | int] = []
    at = 0
    while at < len(text):
        m = _PART.match(text, at)
        if (
            m is None
            or (at == 0 and text.startswith("."))
            or (m.group(1) and at and text[at] != ".")
        ):
            raise ValueError(
                f"bad field path {text[:80]!r} at character {at + 1}: use names joined by '.' "
                "and [N] for array items, e.g. reading.temp or items[0].price"
            )
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        at = m.end()
    if not parts:
        raise ValueError("empty field path: name a JSON field such as qty or reading.temp")
    return tuple(parts)


@dataclass
class Series:
    """The points of one field: ``timestamp_ms``, ``value`` (float64) and ``offset`` (the
    message's frame) as numpy arrays in file order, plus why other messages gave no point."""

    stream: str
    path: str
    timestamp_ms: Any
    value: Any
    offset: Any
    messages: int = 0  # messages of the stream read
    missing: int = 0  # JSON with no number at the path
    not_json: int = 0  # UTF-8 text that is not a JSON object
    binary: int = 0  # not UTF-8
    resume: int | None = None  # frame offset the next extend starts at (its message is known)
    ended: bool = False  # an EOS frame ended the data
    stopped: str | None = None  # an error that ended the read early (damage), with its offset
    sorted: bool = True  # timestamps never go back
    preview: bool = False  # a sample (see :func:`preview`), not every message
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.value)


#: what a payload gives at a field path (the C extractor's status codes, ssfile/_speedups.c)
VALUE, MISSING, NOT_JSON, BINARY, UNDECIDED = range(5)


def _walk(doc: Any, keys: tuple[str | int, ...]) -> tuple[int, float]:
    """(status, value) of the number at ``keys`` in the parsed payload ``doc``."""
    if type(doc) is not dict:
        return NOT_JSON, math.nan
    node: Any = doc  # a dict, a list or a leaf as the path goes down
    for k in keys:
        if type(k) is int:
            node = node[k] if type(node) is list and k < len(node) else None
        else:
            node = node.get(k) if type(node) is dict else None
        if node is None:
            break
    if type(node) in (int, float, bool):
        try:
            v = float(node)
        except OverflowError:
            v = math.nan
        if math.isfinite(v):
            return VALUE, v
    return MISSING, math.nan


def field_one(raw: bytes, keys: tuple[str | int, ...]) -> tuple[int, float]:
    """(status, value) of one payload the plain way: ``json.loads``, then the path.

    The reference the C extractor (``json_field`` in ssfile/_speedups.c) is tested against."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return BINARY, math.nan
    except (ValueError, RecursionError):
        return (BINARY if _CONTROL.search(raw) else NOT_JSON), math.nan
    return _walk(doc, keys)


def _values_py(buf: bytes, bounds: list[int], keys: tuple[str | int, ...], np: Any) -> Any:
    """(values, status) per payload ``buf[bounds[i]:bounds[i + 1]]``, in Python.

    When the payloads are ASCII (the usual JSON), the buffer is decoded once and json's
    scanner parses each payload in place; a payload it does not parse exactly from its first
    to its last byte (whitespace around it, not JSON, ...) goes the plain way, so the result
    is always :func:`field_one`'s."""
    n = len(bounds) - 1
    values = np.full(n, np.nan)
    status = np.empty(n, np.uint8)
    text = buf.decode("ascii") if buf.isascii() else None
    scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
    walk = _walk
    for i in range(n):
        a, b = bounds[i], bounds[i + 1]
        if text is not None and a < b:
            try:
                doc, end = scan_once(text, a)
            except (StopIteration, ValueError, RecursionError):
                end = -1
            if end == b:
                status[i], values[i] = walk(doc, keys)
                continue
        status[i], values[i] = field_one(buf[a:b], keys)
    return values, status


def c_parts(keys: tuple[str | int, ...]) -> tuple[bytes | int, ...] | None:
    """The path as the C extractor takes it (None: too long for it)."""
    if len(keys) > 32:
        return None
    return tuple(k.encode("utf-8", "surrogatepass") if isinstance(k, str) else k for k in keys)


def field_values(buf: Any, lengths: Any, keys: tuple[str | int, ...]) -> tuple[Any, Any]:
    """``(values, status)``: float64 (NaN where no value) and uint8 (``VALUE``, ``MISSING``,
    ``NOT_JSON``, ``BINARY``) for the payloads back to back in ``buf`` (bytes or a uint8
    array) with int64 ``lengths``.  In C when the accelerator is built (no Python object
    per payload; what it leaves undecided, :func:`field_one` decides), else in Python."""
    np = _deps.numpy()
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    parts = c_parts(keys)
    if speedups is None or not hasattr(speedups, "json_field") or parts is None:
        bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64).tolist()
        data = buf if isinstance(buf, bytes) else np.asarray(buf, np.uint8).tobytes()
        out: tuple[Any, Any] = _values_py(data, bounds, keys, np)
        return out
    values = np.empty(len(lengths), np.float64)
    status = np.empty(len(lengths), np.uint8)
    speedups.json_field(buf, lengths, parts, values, status)
    undecided = np.flatnonzero(status == UNDECIDED)
    if len(undecided):
        ends = np.cumsum(lengths)
        view = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
        for i in undecided.tolist():
            b = int(ends[i])
            status[i], values[i] = field_one(bytes(view[b - int(lengths[i]) : b]), keys)
    return values, status


#: the full read scans the file in pieces of about this many bytes (cut at frames after
#: beacons): memory and the time the GIL is held between the C loops stay bounded
CHUNK_BYTES = 64 << 20


def _pieces(path: str, start: int | None) -> list[int | None]:
    """Frame offsets cutting the file from ``start`` into pieces of ~``CHUNK_BYTES``: the
    first frame after a beacon, found by a seek (a beacon that cannot be read ends the
    cutting: the rest is one piece)."""
    out: list[int | None] = [start]
    size = os.path.getsize(path)
    at = (start or 0) + CHUNK_BYTES
    if at >= size:
        return out
    with Reader(path, check_crc=False, tolerate_truncation=True) as reader:
        interval = reader.header.beacon_interval
        while at < size:
            try:
                reader.seek_beacon(at // interval)
                m = next(iter(reader), None)
            except SSError:
                break
            if m is None or m.offset is None:
                break
            if m.offset > (out[-1] or 0):
                out.append(m.offset)
            at = max(at, m.offset) + CHUNK_BYTES
    return out


def _read(path: str, stream: str, keys: tuple[str | int, ...], start: int | None) -> Series:
    np = _deps.numpy()
    select = Selection(streams=frozenset({stream}))
    stopped = None
    cuts = _pieces(path, start)
    parts: list[tuple[Any, Any, Any]] = []
    counts = np.zeros(5, np.int64)
    messages, ended, resume = 0, False, start
    for j, first in enumerate(cuts):
        stop = cuts[j + 1] if j + 1 < len(cuts) else None
        while True:
            try:
                got = scan(
                    path,
                    payload="buffer",
                    check_crc=True,
                    select=select,
                    start=first,
                    stop=stop,
                    tolerate_truncation=True,
                )
                break
            except FormatError as err:  # damage: plot what comes before it, say where it stopped
                if err.offset is None or (stop is not None and err.offset >= stop):
                    raise
                stopped, stop = str(err), err.offset
        c = got.columns
        pieces = got.payloads
        buf = pieces[0] if len(pieces) == 1 else np.concatenate(pieces or [np.zeros(0, np.uint8)])
        ts, offsets, lengths = c["timestamp_ms"], c["offset"], c["length"]
        if j == 0 and start is not None:  # the message at ``start`` was read last time
            skip = len(offsets) - int((offsets > start).sum())
            buf = buf[int(lengths[:skip].sum()) :]
            ts, offsets, lengths = ts[skip:], offsets[skip:], lengths[skip:]
        values, status = field_values(buf, lengths, keys)
        del buf, pieces, got.payloads
        have = status == VALUE
        counts += np.bincount(status, minlength=5)
        parts.append((ts[have], values[have], offsets[have]))
        messages += len(values)
        ended = got.ended
        resume = int(offsets[-1]) if len(offsets) else resume
        if stopped:
            break
    t, v, o = (p[0] if len(parts) == 1 else np.concatenate(p) for p in zip(*parts))
    out = Series(
        stream,
        "",
        t,
        v,
        o,
        messages=messages,
        ended=ended,
        stopped=stopped,
        missing=int(counts[MISSING]),
        not_json=int(counts[NOT_JSON]),
        binary=int(counts[BINARY]),
    )
    out.resume = resume
    return out


def field_series(path: str | os.PathLike[str], stream: str, field_path: str) -> Series:
    """Every point of ``field_path`` in ``stream``'s messages (see the module docstring)."""
    keys = parse_path(field_path)
    out = _read(os.fspath(path), stream, keys, None)
    out.path = field_path
    out.sorted = bool((_deps.numpy().diff(out.timestamp_ms) >= 0).all())
    return out


#: :func:`preview`: windows read, bytes per window, messages kept per window
PREVIEW_WINDOWS = 320
PREVIEW_WINDOW_BYTES = 8 << 10
PREVIEW_PER_WINDOW = 32


def preview(path: str | os.PathLike[str], stream: str, field_path: str) -> Series:
    """A quick sample of :func:`field_series`: the stream's messages in ``PREVIEW_WINDOWS``
    stretches of ``PREVIEW_WINDOW_BYTES`` spread evenly over the file (each starts at a
    beacon, reached by a seek), at most ``PREVIEW_PER_WINDOW`` of them each.  Its cost does
    not grow with the file; a recording in time order is sampled over its whole time range.
    ``preview`` is True and the counts are the sample's; damage ends a window early, never
    the preview."""
    name = os.fspath(path)
    keys = parse_path(field_path)
    np = _deps.numpy()
    ts: list[int] = []
    offsets: list[int] = []
    payloads: list[bytes] = []
    # reads of a window's size: the reader's usual large reads would read far past it
    with Reader(name, tolerate_truncation=True, chunk_size=PREVIEW_WINDOW_BYTES) as reader:
        beacons = max(0, os.path.getsize(name) - 1) // reader.header.beacon_interval + 1
        windows, covered = PREVIEW_WINDOWS, -1  # the last offset read (windows may overlap)
        for j in range(windows):
            try:
                reader.seek_beacon(j * beacons // windows)
                end, kept = -1, 0
                for m in reader:
                    if m.offset is None:  # pragma: no cover - a file reader knows offsets
                        break
                    end = m.offset + PREVIEW_WINDOW_BYTES if end < 0 else end
                    if m.offset >= end:
                        break
                    if m.offset <= covered:
                        continue
                    covered = m.offset
                    if m.stream_key == stream:
                        ts.append(m.timestamp_ms)
                        offsets.append(m.offset)
                        payloads.append(m.payload)
                        kept += 1
                        if kept >= PREVIEW_PER_WINDOW:
                            break
            except SSError:
                continue
    values, status = field_values(
        b"".join(payloads), np.array([len(p) for p in payloads], np.int64), keys
    )
    have = status == VALUE
    counts = np.bincount(status, minlength=4)
    t = np.array(ts, np.int64)[have]
    order = np.argsort(t, kind="stable")
    return Series(
        stream,
        field_path,
        t[order],
        values[have][order],
        np.array(offsets, np.int64)[have][order],
        messages=len(payloads),
        missing=int(counts[MISSING]),
        not_json=int(counts[NOT_JSON]),
        binary=int(counts[BINARY]),
        preview=True,
    )


def extend(series: Series, path: str | os.PathLike[str]) -> Series:
    """``series`` with the messages a growing file gained since it was read (a new object)."""
    np = _deps.numpy()
    if series.resume is None or series.ended or series.stopped:
        return field_series(path, series.stream, series.path) if series.resume is None else series
    more = _read(os.fspath(path), series.stream, parse_path(series.path), series.resume)
    ts = np.concatenate([series.timestamp_ms, more.timestamp_ms])
    out = Series(
        series.stream,
        series.path,
        ts,
        np.concatenate([series.value, more.value]),
        np.concatenate([series.offset, more.offset]),
        messages=series.messages + more.messages,
        missing=series.missing + more.missing,
        not_json=series.not_json + more.not_json,
        binary=series.binary + more.binary,
        resume=more.resume,
        ended=more.ended,
        stopped=more.stopped,
    )
    tail = ts[max(0, len(series.value) - 1) :]
    out.sorted = series.sorted and bool((np.diff(tail) >= 0).all())
    return out


def downsample(series: Series, lo: int | None, hi: int | None, buckets: int) -> dict[str, Any]:
    """The points in ``[lo, hi)`` ms: all of them when there are at most ``2 * buckets``,
    else per bucket (``buckets`` equal spans) the minimum and the maximum, in time order.

    Returns ``{"lo", "hi", "exact", "points": n in range, "t", "v", "offset"}`` (lists).
    """
    np = _deps.numpy()
    t, v, off = series.timestamp_ms, series.value, series.offset
    if not series.sorted:
        order = np.argsort(t, kind="stable")
        t, v, off = t[order], v[order], off[order]
        series.timestamp_ms, series.value, series.offset, series.sorted = t, v, off, True
    if not len(t):
        return {"lo": lo, "hi": hi, "exact": True, "points": 0, "t": [], "v": [], "offset": []}
    lo = int(t[0]) if lo is None else lo
    hi = int(t[-1]) + 1 if hi is None else max(hi, lo + 1)
    a, b = np.searchsorted(t, [lo, hi])
    t, v, off = t[a:b], v[a:b], off[a:b]
    n = len(t)
    base = {"lo": lo, "hi": hi, "points": n}
    if n <= 2 * buckets:
        return base | {"exact": True, "t": t.tolist(), "v": v.tolist(), "offset": off.tolist()}
    # bucket k holds [lo + k*span/buckets, lo + (k+1)*span/buckets): its slice of the sorted
    # times by a binary search per edge, then one argmin and one argmax per bucket
    edges = lo + (np.arange(buckets + 1, dtype=np.int64) * (hi - lo) + buckets - 1) // buckets
    cuts = np.searchsorted(t, edges).tolist()
    pick_list: list[int] = []
    for k in range(buckets):
        a, b = cuts[k], cuts[k + 1]
        if a == b:
            continue
        part = v[a:b]
        i, j = a + int(part.argmin()), a + int(part.argmax())
        pick_list += (i,) if i == j else (min(i, j), max(i, j))
    pick = np.array(pick_list, dtype=np.int64)
    return base | {
        "exact": False,
        "t": t[pick].tolist(),
        "v": v[pick].tolist(),
        "offset": off[pick].tolist(),
    }
