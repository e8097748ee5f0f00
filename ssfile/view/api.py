"""The viewer's JSON API as pure handlers: ``Api.handle(route, query) -> dict``.

No HTTP here: the server maps ``GET /api/<route>?<query>`` to :meth:`Api.handle` and an
:class:`ApiError` to a 4xx response.  The API is documented in ``static/README.md``.
"""

from __future__ import annotations

import os

import ssfile

from ..errors import UsageError
from ..export.series import parse_path
from ..timefmt import parse_time
from ..types import format_timestamp
from . import model, payload, plots
from .jobs import JobBoard

MAX_LIMIT = 1000
MAX_OFFSET = 1 << 62
MAX_MS = (1 << 63) - 1
MAX_WIDTH = 4000  # plot buckets (pixels) per request


class ApiError(Exception):
    """A request the API refuses: an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---- query parsing ----------------------------------------------------------------------------

Query = dict[str, list[str]]


def _check_names(query: Query, allowed: set[str]) -> None:
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ApiError(
            400, f"unknown parameter {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"parameter {name!r} given {len(values)} times")
    return values[0]


def _int(query: Query, name: str, lo: int, hi: int, default: int | None = None) -> int | None:
    text = _one(query, name)
    if text is None:
        return default
    if not text.isdigit():
        raise ApiError(400, f"parameter {name!r} must be a whole number, not {text[:40]!r}")
    value = int(text[:20]) if len(text) <= 19 else hi + 1
    if not lo <= value <= hi:
        raise ApiError(400, f"parameter {name!r} must be between {lo} and {hi}, not {text[:40]}")
    return value


def _filter(query: Query) -> model.Filter:
    streams = frozenset(query.get("stream", []))
    return model.Filter(streams, _int(query, "shard", 0, MAX_OFFSET))


# ---- rendering --------------------------------------------------------------------------------


def message_row(m: ssfile.Message) -> dict[str, object]:
    return {
        "offset": m.offset,
        "stream_key": m.stream_key,
        "shard_id": m.shard_id,
        "sequence": m.sequence,
        "timestamp": format_timestamp(m.timestamp_ms),
        "timestamp_ms": m.timestamp_ms,
        "size": len(m.payload),
        "kind": payload.kind_of(m.payload),
        "preview": payload.preview(m.payload),
    }


class Api:
    """Handlers over one file.  ``jobs`` keeps the overview (summary, streams, integrity,
    timeline: one tally) current; ``plots`` keeps the series of plotted fields."""

    ROUTES = ("summary", "timeline", "messages", "message", "series", "fields")

    def __init__(self, path: str, jobs: JobBoard, plotter: plots.Plots | None = None) -> None:
        self.path = os.fspath(path)
        self.jobs = jobs
        self.plots = plotter or plots.Plots(self.path)

    def handle(self, route: str, query: Query) -> dict[str, object]:
        if route not in self.ROUTES:
            raise ApiError(
                404, f"no such API route {route[:60]!r} (routes: {', '.join(self.ROUTES)})"
            )
        try:
            return getattr(self, f"_{route}")(query)  # type: ignore[no-any-return]
        except UsageError as err:
            raise ApiError(400, str(err)) from None
        except ssfile.FormatError as err:
            raise ApiError(422, f"cannot read the file there: {err}") from None
        except ssfile.SeekError as err:
            raise ApiError(422, f"cannot seek: {err}") from None
        except FileNotFoundError:
            raise ApiError(410, f"the file {self.path} is gone (deleted or renamed)") from None

    # ---- routes -------------------------------------------------------------------------------

    def _summary(self, query: Query) -> dict[str, object]:
        """The file and the overview: summary, streams, integrity, timeline of one tally."""
        _check_names(query, set())
        overview = self.jobs.status()
        st = os.stat(self.path)
        try:
            with ssfile.open(self.path) as r:
                header = r.header.to_json_dict()
        except ssfile.FormatError as err:
            header, error = None, str(err)
        else:
            error = None  # type: ignore[assignment]
        return {
            "file": self.path,
            "name": os.path.basename(self.path),
            "size": st.st_size,
            "mtime_ms": st.st_mtime_ns // 1_000_000,
            "header": header,
            "error": error,
            "overview": overview,
        }

    def _timeline(self, query: Query) -> dict[str, object]:
        _check_names(query, set())
        st = self.jobs.status()
        result = st["result"]
        return st | {
            "result": result["timeline"] if isinstance(result, dict) else None,
            "through": result["through"] if isinstance(result, dict) else None,
        }

    def _series(self, query: Query) -> dict[str, object]:
        _check_names(query, {"stream", "field", "width", "from_ms", "to_ms"})
        stream, field = _one(query, "stream"), _one(query, "field")
        if not stream or field is None:
            raise ApiError(400, "parameters 'stream' and 'field' are required")
        try:
            parse_path(field)
        except ValueError as err:
            raise ApiError(400, str(err)) from None
        width = _int(query, "width", 10, MAX_WIDTH, 800)
        lo, hi = _int(query, "from_ms", 0, MAX_MS), _int(query, "to_ms", 0, MAX_MS)
        assert width is not None
        state, series, error = self.plots.series(stream, field)
        out: dict[str, object] = {"state": state, "error": error, "stream": stream, "field": field}
        if series is not None:
            out |= plots.describe(series, lo, hi, width)
        return out

    def _fields(self, query: Query) -> dict[str, object]:
        _check_names(query, {"stream"})
        stream = _one(query, "stream")
        if not stream:
            raise ApiError(400, "parameter 'stream' is required")
        return plots.suggest_fields(self.path, stream)

    def _message(self, query: Query) -> dict[str, object]:
        _check_names(query, {"offset"})
        offset = _int(query, "offset", 0, MAX_OFFSET)
        if offset is None:
            raise ApiError(400, "parameter 'offset' is required")
        m = model.message_at(self.path, offset)
        if m is None:
            raise ApiError(404, f"no message starts at offset {offset}")
        return message_row(m) | {
            "payload": payload.describe(m.payload),
            "problems": self._problems(offset, offset + 1),
        }

    def _messages(self, query: Query) -> dict[str, object]:
        _check_names(
            query,
            {
                "from",
                "before",
                "end",
                "time",
                "seq",
                "seq_stream",
                "seq_shard",
                "stream",
                "shard",
                "limit",
                "stop",
            },
        )
        flt = _filter(query)
        limit = _int(query, "limit", 1, MAX_LIMIT, 100)
        assert limit is not None
        modes = [k for k in ("from", "before", "end", "time", "seq") if k in query]
        if len(modes) > 1:
            raise ApiError(
                400, f"give at most one of from, before, end, time, seq (got {', '.join(modes)})"
            )
        mode = modes[0] if modes else "from"
        stop = _int(query, "stop", 0, MAX_OFFSET)
        if stop is not None and mode != "from":
            raise ApiError(400, "parameter 'stop' goes with 'from' only")
        if mode == "before" or mode == "end":
            before = (
                model.file_size(self.path) + 1
                if mode == "end"
                else _int(query, "before", 0, MAX_OFFSET)
            )
            assert before is not None
            return self._backward(before, flt, limit)
        target = self._target(mode, query)
        if target is None:  # a time or sequence after everything: the last page
            return self._backward(model.file_size(self.path) + 1, flt, limit) | {"target": None}
        out = self._forward(target, flt, limit, stop)
        if mode in ("time", "seq"):
            out["target"] = target
        return out

    # ---- helpers ------------------------------------------------------------------------------

    def _target(self, mode: str, query: Query) -> int | None:
        if mode == "time":
            return model.find_time(self.path, parse_time(_one(query, "time") or ""))
        if mode == "seq":
            stream = _one(query, "seq_stream")
            if stream is None:
                raise ApiError(
                    400, "parameter 'seq' needs 'seq_stream' (and optionally 'seq_shard')"
                )
            seq = _int(query, "seq", 0, (1 << 64) - 1)
            shard = _int(query, "seq_shard", 0, MAX_OFFSET, 0)
            assert seq is not None and shard is not None
            return model.find_sequence(self.path, stream, shard, seq)
        start = _int(query, "from", 0, MAX_OFFSET, model.HEADER_END)
        assert start is not None
        return start

    def _forward(
        self, start: int, flt: model.Filter, limit: int, stop: int | None = None
    ) -> dict[str, object]:
        scan = model.page_after(self.path, start, flt, limit, stop)
        first = scan.messages[0].offset if scan.messages else start
        return self._page(scan.messages, scan.damage, start, scan.cursor) | {
            "at_start": start <= model.HEADER_END,
            "at_end": scan.at_end,
            "prev": {"before": first},
            "next": {"from": scan.cursor},
            "ended": scan.ended,
            "torn_tail": scan.torn_tail,
        }

    def _backward(self, before: int, flt: model.Filter, limit: int) -> dict[str, object]:
        back = model.page_before(self.path, before, flt, limit)
        size = model.file_size(self.path)
        stop = min(before, size)
        last = back.messages[-1].offset + 1 if back.messages else back.lowest  # type: ignore[operator]
        return self._page(back.messages, back.damage, back.lowest, stop) | {
            "at_start": back.at_start,
            "at_end": before > size,
            "prev": {"before": back.messages[0].offset if back.messages else back.lowest},
            "next": {"from": last},
            "ended": None,
            "torn_tail": None,
        }

    def _page(
        self, messages: list[ssfile.Message], damage: list[model.Damage], start: int, stop: int
    ) -> dict[str, object]:
        return {
            "messages": [message_row(m) for m in messages],
            "damage": [d.to_json_dict() for d in damage],
            "problems": self._problems(start, stop),
            "range": {"start": start, "stop": stop},
            "size": model.file_size(self.path),
        }

    def _problems(self, start: int, stop: int) -> list[dict[str, object]] | None:
        """verify's problems at offsets in ``[start, stop)``; None until the tally is ready."""
        result = self.jobs.peek()
        if not isinstance(result, dict):
            return None
        problems = result["integrity"]["problems"]  # type: ignore[index]
        return [p for p in problems if start <= p["offset"] < stop]
