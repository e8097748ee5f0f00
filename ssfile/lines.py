"""The stdio line format: one message per line, ``[timestamp | stream_key | sequence | shard_id] payload``.

Pure functions, shared by ``ssfile encode`` and the stdio backend.  The grammar is
upstream's (``sea-streamer-stdio``, notes §7.1)::

    line      = meta-line | raw-line
    meta-line = "[" meta "]" rest     ; "[" first on the line; the first "]" closes the block
    meta      = 1*(any char but "]")  ; split on "|", each part trimmed of Unicode whitespace
    raw-line  = anything else         ; "[]", "[abc" without "]", " [a] x": the whole line

Parts are read left to right.  The first part may be a timestamp; then comes a stream key
(1-249 chars of ``[A-Za-z0-9._-]``), then a sequence number, then a shard id (u64 each:
an optional ``+`` and ASCII digits).  So the valid shapes are ``[ts]``, ``[ts | key]``,
``[ts | key | seq]``, ``[ts | key | seq | shard]``, ``[key]``, ``[key | seq]`` and
``[key | seq | shard]``.  A purely numeric first part such as ``[123]`` is a stream key.

Timestamps (UTC): upstream's ``YYYY-MM-DDTHH:MM:SS[.F]`` (no zone).  With ``extended=True``
(the default) a first part that upstream would reject anyway may also be ISO 8601 with a
zone or a space (``2024-05-01T10:00:00Z``, ``2024-05-01 10:00:00+02:00``) or epoch
milliseconds written ``@1714557600000`` -- a bare number stays a stream key, as upstream
says, so extensions never change the meaning of a line upstream accepts.  Timestamps must
lie in 1970-01-01 .. 9999-12-31 (what a file can hold).

Payload of a meta-line: from the first non-whitespace character after ``]`` to the end of
the line; trailing whitespace stays.  The caller removes the line end first
(:func:`strip_line_end`: one ``\\n`` or ``\\r\\n``, so CRLF input gives the same payloads
as LF input; upstream keeps the ``\\r``, which we do not copy).  If everything after ``]``
is whitespace, the payload is that whitespace, unchanged (upstream's quirk).  A raw line is
a payload with every field missing.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import NamedTuple

from .errors import UsageError
from .timefmt import parse_upstream
from .types import MAX_TIMESTAMP_MS, MAX_U64, datetime_to_ms, format_timestamp

#: Rust's ``char::is_whitespace`` (Unicode White_Space); Python's ``isspace`` differs
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
MAX_KEY_CHARS = 249
_KEY = re.compile(r"[A-Za-z0-9._\-]+\Z")
_U64 = re.compile(r"\+?[0-9]+\Z")
_EPOCH_MS = re.compile(r"@[0-9]+\Z")
_TIME_SHAPE = re.compile(r"[+-]?[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]")
_EXPECTED = {
    0: "expected a timestamp or a stream key",
    1: "expected a stream key",
    2: "expected a sequence number (unsigned 64-bit integer)",
    3: "expected a shard id (unsigned 64-bit integer)",
    4: "too many parts: at most [timestamp | stream_key | sequence | shard_id]",
}


class Line(NamedTuple):
    """One parsed line; missing fields are None (the caller picks defaults)."""

    timestamp_ms: int | None
    stream_key: str | None
    sequence: int | None
    shard_id: int | None
    payload: str


class LineError(UsageError):
    """A line that does not follow the grammar; ``reason`` says why, ``line`` where."""


def strip_line_end(raw: bytes) -> bytes:
    """``raw`` without its line end: one trailing ``\\r\\n`` or ``\\n`` (a lone ``\\r`` stays)."""
    if raw.endswith(b"\n"):
        return raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    return raw


def parse_line(text: str, *, line: int | None = None, extended: bool = True) -> Line:
    """Parse one line (without its ``\\n``).  Raises :class:`LineError`."""
    if not text.startswith("["):
        return Line(None, None, None, None, text)
    close = text.find("]", 1)
    if close <= 1:  # no "]" at all, or "[]": a raw line
        return Line(None, None, None, None, text)
    meta, rest = text[1:close], text[close + 1 :]
    fields: list[object] = [None, None, None, None]  # ts, key, seq, shard
    for number, raw in enumerate(meta.split("|"), 1):
        part = raw.strip(WHITESPACE)
        if not part:
            raise LineError(f"empty part {number} in [{meta}]", line=line)
        _classify(part, number, fields, meta, line, extended)
    payload = rest.lstrip(WHITESPACE) or rest
    return Line(fields[0], fields[1], fields[2], fields[3], payload)  # type: ignore[arg-type]


def _state(fields: list[object]) -> int:
    """0 nothing yet, 1 timestamp only, 2 key (no sequence), 3 key+sequence, 4 all four."""
    ts, key, seq, shard = fields
    if key is None:
        return 1 if ts is not None else 0
    if seq is None:
        return 2
    return 3 if shard is None else 4


def _classify(
    part: str, number: int, fields: list[object], meta: str, line: int | None, extended: bool
) -> None:
    state = _state(fields)
    if state == 0:
        ts = parse_timestamp(part, extended=extended)
        if ts is not None:
            fields[0] = _in_range(ts, part, line)
            return
    if state <= 1 and _KEY.match(part) and len(part) <= MAX_KEY_CHARS:
        fields[1] = part
        return
    if state in (2, 3):
        value = parse_u64(part)
        if value is not None:
            fields[state] = value
            return
    raise LineError(f"part {number} {part!r} of [{meta}]: {_why(part, state)}", line=line)


def _why(part: str, state: int) -> str:
    """The most helpful reason for an unrecognised part."""
    if state <= 1 and _KEY.match(part):
        return f"stream key longer than {MAX_KEY_CHARS} characters"
    if state == 0 and _TIME_SHAPE.match(part):
        return (
            "invalid timestamp: use YYYY-MM-DDTHH:MM:SS[.fff] (UTC), ISO 8601 with a zone, "
            "or @epoch_ms"
        )
    if state in (2, 3) and _U64.match(part):
        return f"{'sequence' if state == 2 else 'shard id'} exceeds 2^64-1"
    return _EXPECTED[state]


def parse_timestamp(part: str, *, extended: bool = True) -> int | None:
    """A first part as a timestamp (int ms, maybe out of range), or None if it is not one."""
    if not part.isascii():
        return None
    ms = parse_upstream(part)
    if ms is not None or not extended or _KEY.match(part):
        return ms  # a key-shaped part (e.g. 20240501 or 2024-05-01) is never an extension
    if _EPOCH_MS.match(part):
        return int(part[1:])
    if not _TIME_SHAPE.match(part):
        return None
    try:
        value = _dt.datetime.fromisoformat(part)
    except ValueError:
        return None
    return datetime_to_ms(value)


def _in_range(ms: int, part: str, line: int | None) -> int:
    if not 0 <= ms <= MAX_TIMESTAMP_MS:
        raise LineError(f"timestamp {part!r} is outside 1970-01-01 .. 9999-12-31", line=line)
    return ms


def parse_u64(part: str) -> int | None:
    """Rust's ``str::parse::<u64>``: optional ``+``, ASCII digits, at most 2^64-1."""
    if not _U64.match(part):
        return None
    value = int(part)
    return value if value <= MAX_U64 else None


# ---- formatting -----------------------------------------------------------------------------


def unrepresentable(payload: bytes) -> str | None:
    """Why ``payload`` cannot survive a round trip through a line, or None if it can."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "payload is not valid UTF-8"
    if "\n" in text:
        return "payload contains a newline"
    stripped = text.lstrip(WHITESPACE)
    if stripped and stripped != text:
        return "payload starts with whitespace (the parser drops it)"
    return None


def format_line(
    stream_key: str, shard_id: int, sequence: int, timestamp_ms: int, payload: bytes
) -> str:
    """``[ts | key | seq | shard] payload``, which :func:`parse_line` reads back exactly.

    Raises :class:`ValueError` for a message a line cannot carry (see :func:`unrepresentable`;
    also an empty stream key, which files allow but lines do not).
    """
    reason = unrepresentable(payload)
    if reason is None and not (_KEY.match(stream_key) and len(stream_key) <= MAX_KEY_CHARS):
        reason = f"stream key {stream_key!r} cannot be written in a line"
    if reason is not None:
        raise ValueError(reason)
    text = payload.decode("utf-8")
    # an empty or all-whitespace payload goes right after "]": the parser keeps it as is
    sep = " " if text.strip(WHITESPACE) else ""
    return f"[{format_timestamp(timestamp_ms)} | {stream_key} | {sequence} | {shard_id}]{sep}{text}"


# ---- batches (the stdio backend's hot path; C twins in ssfile/_speedups.c) ---------------

#: one parsed line as the stdio backend uses it: (timestamp_ms, stream_key, sequence,
#: shard_id, payload bytes), missing fields None
RawFields = tuple[int | None, str | None, int | None, int | None, bytes]


def parse_raw(raw: bytes) -> RawFields | None:
    """One line's bytes (line end removed) parsed, or None if the line is invalid (then
    :func:`parse_line` on its text says why).  The payload is the line's own bytes."""
    try:
        parsed = parse_line(raw.decode("utf-8"))
    except (UnicodeDecodeError, LineError):
        return None
    return (*parsed[:4], parsed.payload.encode("utf-8"))


def parse_lines(raws: list[bytes]) -> list[RawFields | None]:
    """:func:`parse_raw` of every line.  The C twin may also answer None for a valid line it
    leaves to Python (a rare shape); where it answers, it answers the same."""
    return [parse_raw(raw) for raw in raws]


def line_payload_ok(payload: bytes) -> bool:
    """Whether ``payload`` can be a line's payload (:func:`unrepresentable` finds nothing)."""
    return unrepresentable(payload) is None


def format_lines(items: list[tuple[str, int, int, int, bytes]]) -> bytes:
    """``(stream_key, shard_id, sequence, timestamp_ms, payload)`` items, each one a line can
    carry (:func:`format_line` checks that), as lines ending in ``\\n``, encoded."""
    out = []
    for key, shard, seq, ts, payload in items:
        text = payload.decode("utf-8")
        sep = " " if text.strip(WHITESPACE) else ""
        out.append(f"[{format_timestamp(ts)} | {key} | {seq} | {shard}]{sep}{text}\n")
    return "".join(out).encode("utf-8")
