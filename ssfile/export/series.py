"""One numeric field of one stream's JSON payloads over time, and its min/max downsampling.

A *field path* names a value inside a JSON-object payload: ``qty``, ``reading.temp`` (the
same value as ``to_numpy(json=True)``'s column ``payload.reading.temp``), ``items[0].price``
(``[i]`` indexes an array, which ``jsonflat`` keeps whole as a leaf).  Numbers and booleans
(as 0/1) are values; a payload without a finite number at the path counts as *missing*,
one that is not JSON text as *not JSON*, one that is not UTF-8 (or holds control
characters other than tab and newlines) as *binary*.

The messages come from the vectorised scan (:mod:`.columns`, one stream's rows and payloads);
each payload is then parsed once.  :func:`extend` reads only what a growing file gained.
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

from ..errors import FormatError
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
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.value)


def _walk(doc: Any, keys: tuple[str | int, ...], counts: dict[str, int]) -> float | None:
    """The finite number at ``keys`` in the parsed payload ``doc`` (None: counted as why)."""
    if type(doc) is not dict:
        counts["not_json"] += 1
        return None
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
            return v
    counts["missing"] += 1
    return None


def _parse(raw: bytes, keys: tuple[str | int, ...], counts: dict[str, int]) -> float | None:
    """One payload the plain way: ``json.loads`` (whitespace around the value allowed)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        counts["binary"] += 1
        return None
    except (ValueError, RecursionError):
        counts["binary" if _CONTROL.search(raw) else "not_json"] += 1
        return None
    return _walk(doc, keys, counts)


def _values(buf: bytes, bounds: list[int], keys: tuple[str | int, ...], counts: dict[str, int]):  # type: ignore[no-untyped-def]
    """(value or None) per payload ``buf[bounds[i]:bounds[i + 1]]``; counts why None.

    When the payloads are ASCII (the usual JSON), the buffer is decoded once and json's
    scanner parses each payload in place; a payload it does not parse exactly from its first
    to its last byte (whitespace around it, not JSON, ...) goes the plain way, so the result
    is always ``json.loads``'s."""
    out: list[float | None] = []
    append = out.append
    text = buf.decode("ascii") if buf.isascii() else None
    scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
    walk = _walk
    for i in range(len(bounds) - 1):
        a, b = bounds[i], bounds[i + 1]
        if text is not None and a < b:
            try:
                doc, end = scan_once(text, a)
            except (StopIteration, ValueError, RecursionError):
                end = -1
            if end == b:
                append(walk(doc, keys, counts))
                continue
        append(_parse(buf[a:b], keys, counts))
    return out


def _read(path: str, stream: str, keys: tuple[str | int, ...], start: int | None) -> Series:
    np = _deps.numpy()
    select = Selection(streams=frozenset({stream}))
    stopped = None
    stop = None
    while True:
        try:
            got = scan(
                path,
                payload="buffer",
                check_crc=True,
                select=select,
                start=start,
                stop=stop,
                tolerate_truncation=True,
            )
            break
        except FormatError as err:  # damage: plot what comes before it, and say where it stopped
            if err.offset is None or (stop is not None and err.offset >= stop):
                raise
            stopped, stop = str(err), err.offset
    c = got.columns
    buf = np.concatenate(got.payloads).tobytes() if got.payloads else b""
    bounds = np.concatenate([[0], np.cumsum(c["length"])]).astype(np.int64)
    ts, offsets = c["timestamp_ms"], c["offset"]
    if start is not None:  # the message at ``start`` was read last time
        skip = len(offsets) - int((offsets > start).sum())
        ts, offsets, bounds = ts[skip:], offsets[skip:], bounds[skip:]
    counts: dict[str, int] = {"missing": 0, "not_json": 0, "binary": 0}
    values = _values(buf, bounds.tolist(), keys, counts)
    have = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    out = Series(
        stream,
        "",
        ts[have],
        np.array([v for v in values if v is not None], dtype=np.float64),
        offsets[have],
        messages=len(values),
        ended=got.ended,
        stopped=stopped,
        missing=counts["missing"],
        not_json=counts["not_json"],
        binary=counts["binary"],
    )
    out.resume = int(offsets[-1]) if len(offsets) else start
    return out


def field_series(path: str | os.PathLike[str], stream: str, field_path: str) -> Series:
    """Every point of ``field_path`` in ``stream``'s messages (see the module docstring)."""
    keys = parse_path(field_path)
    out = _read(os.fspath(path), stream, keys, None)
    out.path = field_path
    out.sorted = bool((_deps.numpy().diff(out.timestamp_ms) >= 0).all())
    return out


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
