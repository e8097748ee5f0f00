"""Which messages ``ssfile filter`` keeps: a :class:`Selection`, and the loop that reads them.

A message is **selected** when all of these hold:

* its stream key matches one of ``streams`` (shell-style glob patterns, ``fnmatch``, case
  sensitive; every stream if empty) and none of ``exclude_streams``;
* its shard is ``shard`` (every shard if None; shard 0 when ``from_seq``/``to_seq`` is given
  without a shard);
* ``since <= timestamp`` (when given);
* ``from_seq <= sequence <= to_seq`` (when given; both bounds inclusive and both need exactly
  one ``streams`` entry that is a plain key, not a pattern);
* ``payload_grep`` (a bytes regular expression) is found somewhere in the payload;
* ``json_filter`` (see :mod:`.jsonexpr`) is true for the payload parsed as JSON.

The time window is half-open, ``[since, until)``, with the rules of :class:`ssfile.Slice`
and ``ssfile cat``: reading stops before the first message stamped at or after ``until``
that passes the stream, shard, ``since`` and sequence tests (the payload tests play no part
in where the window ends).  For a recording whose timestamps do not go back, that is exactly
"every message before ``until``"; it lets a time window read only its own part of the file.

Reading starts with seeks, not a scan from the start: to the first message stamped at or
after ``since`` (everything before it is earlier) and to the first message of the one stream
numbered at or above ``from_seq``, whichever is later in the file (spec/ss-format.md 8).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ...errors import UsageError
from ...timefmt import to_ms
from ...types import Message
from ..reader import Reader
from ..slice import next_messages
from .jsonexpr import payload_matcher
from .summary import Summary, pair_of

_GLOB = re.compile(r"[*?\[]")

Time = int | _dt.datetime


def is_pattern(text: str) -> bool:
    """Whether ``text`` holds glob characters (``*``, ``?``, ``[``)."""
    return _GLOB.search(text) is not None


def stream_matcher(
    patterns: tuple[str, ...], exclude: tuple[str, ...] = ()
) -> Callable[[str], bool]:
    """key -> selected?  Each distinct key is matched once and remembered."""
    if not patterns and not exclude:
        return lambda key: True
    known: dict[str, bool] = {}

    def match(key: str) -> bool:
        got = known.get(key)
        if got is None:
            got = known[key] = (
                not patterns or any(fnmatchcase(key, p) for p in patterns)
            ) and not any(fnmatchcase(key, p) for p in exclude)
        return got

    return match


def compile_grep(pattern: str | bytes | re.Pattern[bytes]) -> re.Pattern[bytes]:
    """A bytes regular expression (a str is encoded as UTF-8, undecodable bytes kept)."""
    if isinstance(pattern, re.Pattern):
        if not isinstance(pattern.pattern, bytes):
            raise UsageError("payload_grep must be a bytes pattern")
        return pattern
    raw = pattern.encode("utf-8", "surrogateescape") if isinstance(pattern, str) else pattern
    try:
        return re.compile(raw)
    except re.error as err:
        raise UsageError(f"invalid payload regex {raw!r}: {err}") from None


@dataclass(frozen=True)
class Selection:
    """What to keep (see the module docstring).  Invalid combinations raise UsageError."""

    streams: tuple[str, ...] = ()
    exclude_streams: tuple[str, ...] = ()
    shard: int | None = None
    since: Time | None = None
    until: Time | None = None
    from_seq: int | None = None
    to_seq: int | None = None
    payload_grep: str | bytes | re.Pattern[bytes] | None = None
    json_filter: str | None = None

    def __post_init__(self) -> None:
        for name in ("streams", "exclude_streams"):
            value = getattr(self, name)
            if isinstance(value, str):  # a single key given as a string
                object.__setattr__(self, name, (value,))
            else:
                object.__setattr__(self, name, tuple(value))
        if self.from_seq is not None or self.to_seq is not None:
            if len(self.streams) != 1 or is_pattern(self.streams[0]):
                raise UsageError(
                    "--from-seq/--to-seq need exactly one --stream, a stream key (not a pattern)"
                )
        for name in ("shard", "from_seq", "to_seq"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise UsageError(f"{name} must be a non-negative integer, not {value!r}")
        if self.from_seq is not None and self.to_seq is not None and self.from_seq > self.to_seq:
            raise UsageError(f"--from-seq {self.from_seq} is above --to-seq {self.to_seq}")
        # compile now: a bad pattern or expression fails before any file is touched
        object.__setattr__(
            self, "_grep", None if self.payload_grep is None else compile_grep(self.payload_grep)
        )
        object.__setattr__(
            self, "_json", None if self.json_filter is None else payload_matcher(self.json_filter)
        )

    # ---- the tests ---------------------------------------------------------------------------

    def window_test(self) -> Callable[[Message], bool] | None:
        """The tests that decide where a time window ends (all but the payload tests), or
        None when there are none (every message passes)."""
        if not (
            self.streams
            or self.exclude_streams
            or self.shard is not None
            or self.since is not None
            or self.from_seq is not None
            or self.to_seq is not None
        ):
            return None
        stream_ok = stream_matcher(self.streams, self.exclude_streams)
        shard = self.shard
        if shard is None and (self.from_seq is not None or self.to_seq is not None):
            shard = 0
        since = None if self.since is None else to_ms(self.since)
        lo, hi = self.from_seq, self.to_seq

        def test(m: Message) -> bool:
            return (
                stream_ok(m.stream_key)
                and (shard is None or m.shard_id == shard)
                and (since is None or m.timestamp_ms >= since)
                and (lo is None or m.sequence >= lo)
                and (hi is None or m.sequence <= hi)
            )

        return test

    def payload_test(self) -> Callable[[bytes], bool] | None:
        """The payload tests (regex, JSON), or None when there are none."""
        grep: re.Pattern[bytes] | None = self._grep  # type: ignore[attr-defined]
        json_ok: Callable[[bytes], bool] | None = self._json  # type: ignore[attr-defined]
        if grep is None:
            return json_ok
        search = grep.search
        if json_ok is None:
            return lambda p: search(p) is not None
        return lambda p: search(p) is not None and json_ok(p)

    # ---- reading ----------------------------------------------------------------------------

    def position(self, reader: Reader) -> bool:
        """Seek ``reader`` to where selected messages can start; False if there are none."""
        seeks: list[Callable[[], Message | None]] = []
        if self.since is not None:
            since = to_ms(self.since)
            seeks.append(lambda: reader.seek_time(since))
        if self.from_seq is not None:
            key, shard, seq = self.streams[0], self.shard or 0, self.from_seq
            seeks.append(lambda: reader.seek_sequence(key, shard, seq))
        best: Callable[[], Message | None] | None = None
        best_at = -1
        for seek in seeks:
            m = seek()
            if m is None:
                return False
            at = -1 if m.offset is None else m.offset
            if at > best_at:
                best, best_at = seek, at
        if best is not None and best is not seeks[-1]:
            best()
        return True

    def batches(self, reader: Reader, summary: Summary) -> Iterator[list[Message]]:
        """Lists of the selected messages of ``reader``, from its start (after seeking),
        counting every message read in ``summary``."""
        if not self.position(reader):
            return
        window = self.window_test()
        content = self.payload_test()
        until = None if self.until is None else to_ms(self.until)
        while True:
            batch = next_messages(reader)
            if batch is None:
                return
            if window is None and content is None and until is None:
                summary.add(Counter(map(pair_of, batch)), {})
                yield batch
                continue
            out: list[Message] = []
            for i, m in enumerate(batch):
                if window is not None and not window(m):
                    continue
                if until is not None and m.timestamp_ms >= until:
                    summary.add(Counter(map(pair_of, batch[: i + 1])), {})
                    if out:
                        yield out
                    return
                if content is None or content(m.payload):
                    out.append(m)
            summary.add(Counter(map(pair_of, batch)), {})
            yield out


__all__ = ["Selection", "compile_grep", "is_pattern", "stream_matcher"]
