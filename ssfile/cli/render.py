"""Text renderings of decoded events, byte-compatible with upstream ``ss-decode``.

Two formats, as upstream prints them (notes §8.1):

* ``log``: ``# {header json}``, then ``[<ts> | <key> | <seq> | <shard>] <payload>`` per
  message (the payload raw if it is UTF-8, else ``<BINARY BLOB>``), and ``# [beacon json]``;
* ``ndjson``: ``/* {header json} */``, one JSON object per message, ``/* [beacon json] */``.

Beacon lines follow upstream's lazy parsing: the decoder emits a beacon before the frame it
cuts (and, for a beacon on a frame boundary, before the next frame); upstream prints a beacon
after the message during which it was read.  So the renderers remember the latest beacon and
print it after a message whenever its index differs from the last one printed (only the last
of several beacons inside one frame is printed; nothing after the last message).

JSON follows serde_json (what upstream links): compact, object keys sorted by code point
(= UTF-8 byte order), strings escaping only ``"``, ``\\`` and U+0000-U+001F (``\\b \\t \\n
\\f \\r``, else ``\\u00xx``), numbers as serde_json keeps them: integers that fit u64 or i64
stay integers, every other number is an f64 printed like the ``ryu`` crate (``1.0``,
``1e16``, ``1.5e-7``, ``0.00001``, ``-0.0``).  A payload that serde_json would reject
(NaN/Infinity, numbers beyond f64, lone surrogate escapes, nesting deeper than 127) is
printed as a JSON string instead, as upstream does.  Known difference: we convert decimal
text to f64 with correct rounding; serde_json's default (without ``float_roundtrip``) may
be one unit in the last place off for numbers with more than ~17 significant digits or
extreme exponents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.encoder import encode_basestring as json_string  # serde_json escapes the same set

from ..codec.events import EndOfStream
from ..format.records import Beacon, FileHeader
from ..timefmt import in_range
from ..types import MAX_TIMESTAMP_MS, Message, format_timestamp

BINARY_BLOB = b"<BINARY BLOB>"
MAX_DEPTH = 127  # serde_json's recursion limit: 128 nested containers fail
_U64_MAX = (1 << 64) - 1
_I64_MIN = -(1 << 63)
_SURROGATE = re.compile("[\ud800-\udfff]")


# ---- serde_json compatible JSON ------------------------------------------------------------


class NotSerdeJson(ValueError):
    """The text is not something serde_json would parse into a ``Value``."""


def _parse_int(text: str) -> int | float:
    if len(text) <= 20:
        value = int(text)
        if _I64_MIN <= value <= _U64_MAX:
            # serde_json reads "-0" as the float -0.0
            return -0.0 if value == 0 and text[0] == "-" else value
    return _parse_float(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NotSerdeJson(f"number out of range: {text[:40]}")
    return value


def _reject_constant(name: str) -> None:
    raise NotSerdeJson(f"{name} is not JSON")


_DECODER = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant
)


def format_f64(value: float) -> str:
    """An f64 as serde_json prints it (the ``ryu`` crate's format)."""
    text = repr(value)  # shortest round-trip digits, like ryu
    sign = "-" if text[0] == "-" else ""
    text = text.lstrip("-")
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    if not digits:
        return sign + "0.0"
    kk = len(digits) + int(exp or 0) - len(frac)  # value = 0.<digits> x 10^kk
    digits = digits.rstrip("0")
    length = len(digits)
    k = kk - length
    if 0 <= k and kk <= 16:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= 16:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -5 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    if length == 1:
        return f"{sign}{digits}e{kk - 1}"
    return f"{sign}{digits[0]}.{digits[1:]}e{kk - 1}"


def _string(value: str) -> str:
    if not value.isascii() and _SURROGATE.search(value):
        raise NotSerdeJson("lone surrogate escape")
    return json_string(value)


def dumps(value: object, depth: int = 0) -> str:
    """Serialise a parsed JSON value as serde_json would (compact, keys sorted)."""
    kind = type(value)
    if kind is str:
        return _string(value)  # type: ignore[arg-type]
    if kind is int:
        return str(value)
    if kind is float:
        return format_f64(value)  # type: ignore[arg-type]
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if depth >= MAX_DEPTH:
        raise NotSerdeJson("nesting deeper than serde_json's recursion limit")
    if kind is list:
        return "[" + ",".join([dumps(v, depth + 1) for v in value]) + "]"  # type: ignore[attr-defined]
    if kind is dict:
        items = sorted(value.items())  # type: ignore[attr-defined]
        return "{" + ",".join([_string(k) + ":" + dumps(v, depth + 1) for k, v in items]) + "}"
    raise TypeError(f"not a JSON value: {kind.__name__}")


def parse_serde_json(text: str) -> object:
    """Parse ``text`` as serde_json would accept it; raise :class:`NotSerdeJson` otherwise."""
    try:
        return _DECODER.decode(text)
    except NotSerdeJson:
        raise
    except (ValueError, RecursionError) as err:
        raise NotSerdeJson(str(err)) from None


def payload_json(payload: bytes) -> str:
    """``ss-decode --format ndjson``'s payload: JSON re-serialised, else a string, else bytes."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "[" + ",".join(map(str, payload)) + "]"
    try:
        return dumps(parse_serde_json(text))
    except NotSerdeJson:
        return json_string(text)


# ---- records as upstream's JSON -------------------------------------------------------------


def _time_json(ms: int, stamp: Callable[[int], str] = format_timestamp) -> str:
    """A timestamp as a JSON value: the quoted text, or ``null`` when out of range (a value
    no valid file holds; upstream cannot print it either).  Never raises."""
    return f'"{stamp(ms)}"' if in_range(ms) else "null"


def header_json(header: FileHeader) -> str:
    return (
        f'{{"file_name":{json_string(header.file_name)},'
        f'"created_at":{_time_json(header.created_at_ms)},'
        f'"beacon_interval":{header.beacon_interval}}}'
    )


def message_header_json(
    key: str, shard: int, seq: int, ts_ms: int, stamp: Callable[[int], str] = format_timestamp
) -> str:
    return (
        f'{{"stream_key":{json_string(key)},"shard_id":{shard},"sequence":{seq},'
        f'"timestamp":{_time_json(ts_ms, stamp)}}}'
    )


class Stamps:
    """:func:`format_timestamp` with the date-and-seconds part cached (same text)."""

    def __init__(self) -> None:
        self._second_ms = -1000
        self._prefix = ""
        self._fractions = [f"{ms:03d}".rstrip("0") or "0" for ms in range(1000)]

    def __call__(self, ms: int) -> str:
        into = ms - self._second_ms
        if not 0 <= into < 1000:
            self._second_ms = ms - ms % 1000
            self._prefix = format_timestamp(self._second_ms)[:-1]
            into = ms - self._second_ms
        return self._prefix + self._fractions[into]


def beacon_json(beacon: Beacon) -> str:
    items = [
        f'{{"header":{message_header_json(m.header.stream_key, m.header.shard_id, m.header.sequence, m.header.timestamp_ms)},'  # noqa: E501
        f'"running_checksum":{m.running_checksum}}}'
        for m in beacon.markers
    ]
    return "[" + ",".join(items) + "]"


def message_json(
    msg: Message, header_only: bool, stamp: Callable[[int], str] = format_timestamp
) -> str:
    payload = "null" if header_only else payload_json(msg.payload)
    head = message_header_json(msg.stream_key, msg.shard_id, msg.sequence, msg.timestamp_ms, stamp)
    return f'{{"header":{head},"payload":{payload}}}'


# ---- renderers --------------------------------------------------------------------------------


class _Renderer:
    """Shared state: which beacon was read last and which one was printed last."""

    open_comment = b"# "
    close_comment = b"\n"

    def __init__(self, header_only: bool = False) -> None:
        self.header_only = header_only
        self.beacon: Beacon | None = None
        self.printed = 0  # index of the last beacon printed (0 = none yet)
        self.ended = False

    def comment(self, text: str) -> bytes:
        return self.open_comment + text.encode("utf-8") + self.close_comment

    def beacon_line(self) -> bytes:
        assert self.beacon is not None
        self.printed = self.beacon.index
        return self.comment(beacon_json(self.beacon))

    def header_line(self, header: FileHeader) -> bytes:
        return self.comment(header_json(header))


class NdjsonRenderer(_Renderer):
    """``--format ndjson``."""

    open_comment = b"/* "
    close_comment = b" */\n"

    def __init__(self, header_only: bool = False) -> None:
        super().__init__(header_only)
        self.stamp = Stamps()

    def render(self, events: list[object], out: list[bytes]) -> bool:
        """Append the lines for ``events`` to ``out``; True once the EOS has been rendered."""
        for ev in events:
            kind = type(ev)
            if kind is Message or kind is EndOfStream:
                msg: Message = ev.message if kind is EndOfStream else ev  # type: ignore[attr-defined,assignment]
                out.append(message_json(msg, self.header_only, self.stamp).encode("utf-8") + b"\n")
                if self.beacon is not None and self.beacon.index != self.printed:
                    out.append(self.beacon_line())
                if kind is EndOfStream:
                    self.ended = True
                    return True
            elif kind is Beacon:
                self.beacon = ev  # type: ignore[assignment]
            elif kind is FileHeader:
                out.append(self.header_line(ev))  # type: ignore[arg-type]
        return False


def _fraction_table() -> list[bytes]:
    """``.F | `` for every millisecond value: the shortest exact fraction, upstream-style."""
    return [((f"{ms:03d}".rstrip("0") or "0") + " | ").encode() for ms in range(1000)]


class LogRenderer(_Renderer):
    """``--format log`` (the default).  The hot path: built from cached byte pieces."""

    def __init__(self, header_only: bool = False) -> None:
        super().__init__(header_only)
        self._seconds: dict[int, bytes] = {}  # epoch second -> b"[YYYY-MM-DDTHH:MM:SS."
        self._fractions = _fraction_table()
        self._keys: dict[str, bytes] = {}  # key -> b"key | "
        self._shards: dict[int, bytes] = {}  # shard -> b" | N] " (or b" | N]\n")
        self._last_ms = -1
        self._last_stamp = b""
        self._second_ms = -1000  # the second of the last stamp, in ms
        self._second_prefix = b""

    def _second(self, second_ms: int) -> bytes:
        """``b"[YYYY-MM-DDTHH:MM:SS."`` for a whole second (cached)."""
        prefix = self._seconds.get(second_ms)
        if prefix is None:
            if len(self._seconds) > 65536:
                self._seconds.clear()
            prefix = self._seconds[second_ms] = b"[" + format_timestamp(second_ms)[:-1].encode()
        return prefix

    def _key(self, key: str) -> bytes:
        piece = self._keys[key] = key.encode("utf-8") + b" | "
        return piece

    def _shard(self, shard: int) -> bytes:
        end = b"]\n" if self.header_only else b"] "
        piece = self._shards[shard] = b" | %d" % shard + end
        return piece

    def render(self, events: list[object], out: list[bytes]) -> bool:
        """Append the line pieces for ``events`` to ``out``; True once the EOS is rendered."""
        msg_type = Message
        keys, shards = self._keys, self._shards
        last_ms, stamp = self._last_ms, self._last_stamp
        second_ms, second = self._second_ms, self._second_prefix
        fractions = self._fractions
        header_only = self.header_only
        extend = out.extend
        index = self.beacon.index if self.beacon is not None else 0
        printed = self.printed
        try:
            for ev in events:
                if type(ev) is msg_type:
                    msg = ev
                elif type(ev) is Beacon:
                    self.beacon = ev
                    index = ev.index
                    continue
                elif type(ev) is EndOfStream:
                    msg = ev.message
                    self.ended = True
                else:
                    if type(ev) is FileHeader:
                        out.append(self.header_line(ev))
                    continue
                ms = msg.timestamp_ms
                if ms != last_ms:
                    last_ms = ms
                    into = ms - second_ms
                    if 0 <= into < 1000:  # same second as the previous stamp: the common case
                        stamp = second + fractions[into]
                    elif not 0 <= ms <= MAX_TIMESTAMP_MS:  # no valid file holds it: say so
                        stamp = b"[" + format_timestamp(ms).encode() + b" | "
                    else:
                        second_ms = ms - ms % 1000
                        second = self._second(second_ms)
                        stamp = second + fractions[ms - second_ms]
                key = keys.get(msg.stream_key) or self._key(msg.stream_key)
                shard = shards.get(msg.shard_id) or self._shard(msg.shard_id)
                if header_only:
                    extend((stamp, key, b"%d" % msg.sequence, shard))
                else:
                    payload = msg.payload
                    if not payload.isascii():
                        try:
                            payload.decode("utf-8")
                        except UnicodeDecodeError:
                            payload = BINARY_BLOB
                    extend((stamp, key, b"%d" % msg.sequence, shard, payload, b"\n"))
                if index != printed:
                    out.append(self.beacon_line())
                    printed = index
                if msg is not ev:  # the EOS: nothing after it is printed
                    return True
            return False
        finally:
            self._last_ms, self._last_stamp = last_ms, stamp
            self._second_ms, self._second_prefix = second_ms, second


def make_renderer(fmt: str, header_only: bool = False) -> LogRenderer | NdjsonRenderer:
    if fmt == "ndjson":
        return NdjsonRenderer(header_only)
    if fmt == "log":
        return LogRenderer(header_only)
    raise ValueError(f"unknown format {fmt!r}")
