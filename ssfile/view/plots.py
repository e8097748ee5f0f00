"""Plots of payload fields: the series of each (stream, field) read once, kept, and extended.

The first request for a (stream, field) starts the full read through the vectorised export
path (:func:`ssfile.export.series.field_series`: the C columnar scan, then the C field
extractor) in a worker thread; both C loops run without the GIL, so the server goes on
answering.  On a file larger than ``PREVIEW_BYTES`` that first request also reads a
*preview* (:func:`~ssfile.export.series.preview`: evenly spaced windows of the file, a cost
that does not grow with it) and answers with it at once, state ``"preview"``; the page draws
it marked as such and asks again until the exact series is there (state ``"ready"``).  A
smaller file answers ``"pending"`` ("reading") for the moment its full read takes.
After that every request (a zoom, a pan, a redraw) is one
:func:`~ssfile.export.series.downsample` of the kept arrays: min and max per pixel bucket.
The kept series is valid for the file as stat'ed when it was read (inode, size, mtime):
when the file grows, the next request extends it with the new messages only; a replaced or
truncated file is read again.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import ssfile

from ..export.series import Series, downsample, extend, field_series, preview
from . import model

KEPT = 8  # series kept in memory (least recently used dropped)
SAMPLE = 200  # messages looked at to suggest field paths
MAX_FIELDS = 200
PREVIEW_BYTES = 32 << 20  # files larger than this get a preview while the full read runs


class _Entry:
    def __init__(self) -> None:
        self.series: Series | None = None
        self.preview: Series | None = None  # a sample, until the full series is there
        self.future: Future[Series] | None = None
        self.error: str | None = None
        self.stat: tuple[int, int, int] = (0, 0, 0)  # (st_ino, st_size, st_mtime_ns) read


class Plots:
    """The kept series of one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssfile-view-plot")
        # numpy's import: not in the first plot's time.  A daemon thread, not the executor's:
        # a Ctrl-C that stops the main thread inside an import may leave that module's lock
        # held, and a worker waiting on it would keep the interpreter from exiting (the
        # executor's threads are joined at exit; seen as `ssfile view` hanging after Ctrl-C)
        threading.Thread(target=_warm_up, name="ssfile-view-warm-up", daemon=True).start()

    def series(self, stream: str, field: str) -> tuple[str, Series | None, str | None]:
        """("pending"|"preview"|"ready"|"error", the series (or its preview), the error)."""
        st = os.stat(self.path)
        now = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            key = (stream, field)
            e = self._entries.get(key)
            if e is None:
                e = self._entries[key] = _Entry()
                while len(self._entries) > KEPT:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(key)
            if e.future is not None and e.future.done():
                try:
                    e.series, e.error = e.future.result(), None
                except ssfile.SSError as err:
                    e.error = str(err)
                except Exception as err:  # noqa: BLE001 - reported to the page
                    e.error = f"{type(err).__name__}: {err}"
                e.future = None
            if e.future is None and e.stat != now:
                old = e.series
                grown = old is not None and now[0] == e.stat[0] and now[1] >= e.stat[1]
                e.stat = now
                e.future = self._executor.submit(
                    extend if grown else field_series,
                    *((old, self.path) if grown else (self.path, stream, field)),
                )
                if not grown:
                    e.series = e.preview = None
                    if now[1] > PREVIEW_BYTES:
                        e.preview = self._preview(stream, field)
            if e.series is not None:
                return "ready", e.series, e.error
            if e.preview is not None and not e.error:
                return "preview", e.preview, None
            return ("error" if e.error else "pending"), None, e.error

    def _preview(self, stream: str, field: str) -> Series | None:
        """The preview, or None when it cannot be read (the full read will say why)."""
        try:
            return preview(self.path, stream, field)
        except (ssfile.SSError, OSError):
            return None

    def wait(self, timeout: float = 60.0) -> None:
        """Block until no series is being read (tests)."""
        for e in list(self._entries.values()):
            if e.future is not None:
                e.future.result(timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _warm_up() -> None:
    """Import numpy now, in the worker (a missing one is reported by the first plot)."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        pass


def describe(s: Series, lo: int | None, hi: int | None, width: int) -> dict[str, object]:
    """What the page plots: the (downsampled) points and how many messages gave none, why."""
    out: dict[str, object] = {
        "messages": s.messages,
        "values": len(s),
        "missing": s.missing,
        "not_json": s.not_json,
        "binary": s.binary,
        "ended": s.ended,
        "stopped": s.stopped,
        "preview": s.preview,
        "reason": why_empty(s) if not len(s) and not s.preview else None,
    }
    out["data"] = downsample(s, lo, hi, width)  # sorts the series by time once
    if len(s):
        if "range" not in s.extra:  # once per series: it never changes
            s.extra["range"] = {
                "t_min": int(s.timestamp_ms[0]),
                "t_max": int(s.timestamp_ms[-1]),
                "v_min": float(s.value.min()),
                "v_max": float(s.value.max()),
            }
        out |= s.extra["range"]
    return out


def why_empty(s: Series) -> str:
    """Why a series has no point, in one line."""
    if not s.messages:
        return f"stream {s.stream!r} has no messages" + (
            f" before the damage ({s.stopped})" if s.stopped else ""
        )
    if s.binary == s.messages:
        return (
            f"the {s.messages} payloads of stream {s.stream!r} are binary (not UTF-8 text): "
            "they hold no JSON field to plot"
        )
    if s.binary + s.not_json == s.messages:
        return (
            f"no payload of stream {s.stream!r} is a JSON object ({s.binary} binary, "
            f"{s.not_json} text that is not a JSON object): there is no field to plot"
        )
    return (
        f"no message of stream {s.stream!r} has a number at {s.path!r} ({s.missing} JSON "
        f"payloads without it, {s.not_json} not JSON, {s.binary} binary)"
    )


def suggest_fields(path: str, stream: str) -> dict[str, object]:
    """Numeric field paths found in the first messages of ``stream`` (for the page's picker)."""
    scan = model.page_after(path, 0, model.Filter(frozenset({stream})), limit=SAMPLE)
    found: dict[str, int] = {}
    kinds = {"json": 0, "other": 0}
    for m in scan.messages:
        try:
            doc = json.loads(m.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            kinds["other"] += 1
            continue
        kinds["json"] += 1
        for name in _numeric_paths(doc, ""):
            found[name] = found.get(name, 0) + 1
    fields = sorted(found, key=lambda k: (-found[k], k))[:MAX_FIELDS]
    return {"stream": stream, "sampled": len(scan.messages), "kinds": kinds, "fields": fields}


def _numeric_paths(doc: Any, prefix: str, depth: int = 0) -> list[str]:
    if depth > 8:
        return []
    out: list[str] = []
    items = (
        [(f"{prefix}.{k}" if prefix else k, v) for k, v in doc.items() if _nameable(k)]
        if isinstance(doc, dict)
        else [(f"{prefix}[{i}]", v) for i, v in enumerate(doc[:3])]
    )
    for name, value in items:
        if isinstance(value, (dict, list)):
            out += _numeric_paths(value, name, depth + 1)
        elif isinstance(value, (int, float)):
            out.append(name)
    return out


def _nameable(key: str) -> bool:
    """Whether a field path can name this key (no '.', '[' or ']' in it)."""
    return bool(key) and not any(c in key for c in ".[]")
