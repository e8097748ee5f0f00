"""Consumers of the ``redis://`` backend (see :mod:`.connection` and spec/streamer.md, "Redis").

* RealTime: paged ``XREAD COUNT n [BLOCK ms] STREAMS k... id...`` over every shard stream.
  Positions are entry ids kept here, so a lost connection is retried (for ``retry_for``
  seconds) from the last delivered id: nothing lost, nothing twice.  ``follow=False`` ends at
  the last entry each stream had when the consumer was created.
* Groups (LoadBalanced, Resumable): :mod:`.group`.
* ``seek(t)``: the first entry with timestamp >= t (upstream: > t); ``rewind(N)``: the first
  entry with sequence >= N; both on every shard stream of the consumer.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ...errors import BackendError, EncodeError, StreamError
from ...streamer.api import Consumer, StreamEnded
from ...streamer.options import ConsumerOptions
from ...types import Message
from . import mapping
from .connection import RedisConnection, StreamRef

MAX_SEQ_PART = mapping.MAX_U64
Id = tuple[int, int]


# ---- ids ------------------------------------------------------------------------------------


def id_tuple(entry_id: bytes | str) -> Id:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq)


def id_text(i: Id) -> str:
    return f"{i[0]}-{i[1]}"


def before(i: Id) -> str:
    """The largest id smaller than ``i`` (XREAD positions are exclusive)."""
    ms, seq = i
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{MAX_SEQ_PART}" if ms > 0 else "0-0"


def after_time(timestamp: object) -> str:
    """Position whose next entry is the first with ms >= ``timestamp``."""
    from ...timefmt import to_ms

    return before((to_ms(timestamp), 0))  # type: ignore[arg-type]


def after_sequence(position: object) -> str:
    """``"beginning"`` or N (the first entry with sequence >= N); "end" is handled by callers."""
    if position == "beginning":
        return "0-0"
    if isinstance(position, int) and not isinstance(position, bool) and position >= 0:
        mapping.sequence_to_entry_id(position)  # range check
        return before((position >> 16, position & 0xFFFF))
    raise StreamError(f"rewind to 'beginning', 'end' or a sequence number, not {position!r}")


def to_messages(
    s: RedisConnection, ref: StreamRef, entry_id: bytes, fields: list[bytes] | None
) -> list[Message]:
    """The messages of one entry (none for an entry deleted while pending, which
    XAUTOCLAIM and own-pending replies show without fields)."""
    if not fields:
        return []
    ms_text, _, seq_text = entry_id.partition(b"-")
    ms, seq = int(ms_text), int(seq_text)
    if seq > 0xFFFF or ms > mapping.MAX_ENTRY_MS:
        try:
            mapping.entry_id_to_header(entry_id)
        except EncodeError as err:
            raise BackendError(f"redis://{s.where}: stream {ref.redis_key!r}: {err}") from None
    if len(fields) == 2 and fields[0] == b"msg":  # the common entry, under either field rule
        return [Message(ref.stream_key, ref.shard_id, (ms << 16) | seq, ms, fields[1])]
    payloads, _ = mapping.entry_payloads(fields, s.options.field_rule)
    return [Message(ref.stream_key, ref.shard_id, (ms << 16) | seq, ms, p) for p in payloads]


async def last_ids(s: RedisConnection, refs: list[StreamRef]) -> list[Id | None]:
    out: list[Id | None] = []
    for ref in refs:
        reply = await s.call("XREVRANGE", ref.redis_key, "+", "-", "COUNT", 1)
        out.append(id_tuple(reply[0][0]) if reply else None)
    return out


# ---- RealTime -------------------------------------------------------------------------------


class RealTimeConsumer(Consumer):
    def __init__(
        self,
        s: RedisConnection,
        keys: tuple[str, ...],
        options: ConsumerOptions,
        refs: list[StreamRef],
    ) -> None:
        self._s = s
        self.stream_keys = keys
        self.options = options
        self._refs = {ref.redis_key: ref for ref in refs}
        self._pos: dict[str, str] = {}  # redis key -> last id read (exclusive start)
        self._end: dict[str, Id | None] = {}  # follow=False: where each stream ends
        self._queue: deque[Message] = deque()
        self._closed = False

    async def start(self, position: str | None) -> None:
        """``position``: an exclusive start id for every stream, or None for "after the end"."""
        ends = await last_ids(self._s, list(self._refs.values()))
        for rkey, end in zip(self._refs, ends):
            self._pos[rkey] = position if position is not None else (id_text(end) if end else "0-0")
            if not self.options.follow:
                self._end[rkey] = end
        self._queue.clear()

    def _live(self) -> list[str]:
        if self.options.follow:
            return list(self._pos)
        return [
            k
            for k, p in self._pos.items()
            if self._end[k] is not None and id_tuple(p) < self._end[k]  # type: ignore[operator]
        ]

    async def next_batch(self, max_messages: int = 1000) -> list[Message]:
        while not self._queue:
            if self._closed:
                raise StreamEnded("this consumer is closed")
            live = self._live()
            if not live:
                raise StreamEnded(
                    "the streams have ended (follow=False: their entries when the consumer started)"
                )
            await self._fill(live)
        q = self._queue
        return [q.popleft() for _ in range(min(max_messages, len(q)))]

    async def next(self) -> Message:
        return (await self.next_batch(1))[0]

    async def _fill(self, live: list[str]) -> None:
        s = self._s
        block = s.options.block_ms if self.options.follow else None
        reply = await s.read_streams(
            s.call,
            ("XREAD", "COUNT", s.options.read_batch),
            live,
            [self._pos[k] for k in live],
            block,
        )
        seen = set()
        for rkey_raw, entries in reply or ():
            rkey = rkey_raw.decode() if isinstance(rkey_raw, bytes) else rkey_raw
            seen.add(rkey)
            ref, end = self._refs[rkey], self._end.get(rkey)
            last = self._read_entries(ref, entries, end)
            if last is not None:
                self._pos[rkey] = last.decode()
            elif end is not None:  # the end came first: nothing more for this stream
                self._pos[rkey] = id_text(end)
        if not self.options.follow:  # a stream with nothing after its position has ended early
            for rkey in live:
                if rkey not in seen:
                    self._end[rkey] = id_tuple(self._pos[rkey])

    def _read_entries(self, ref: StreamRef, entries: list[Any], end: Id | None) -> bytes | None:
        """Queue the messages of ``entries`` up to ``end``; the id of the last one queued, or
        None if the end came first.  The common entry (one ``msg`` field, mappable id) takes a
        fast path; anything else goes through :func:`to_messages`."""
        append, key, shard = self._queue.append, ref.stream_key, ref.shard_id
        last = None
        for entry_id, fields in entries:
            ms_text, _, seq_text = entry_id.partition(b"-")
            ms, seq = int(ms_text), int(seq_text)
            if end is not None and (ms, seq) > end:
                return None
            if (
                len(fields) == 2
                and fields[0] == b"msg"
                and seq <= 0xFFFF
                and ms <= mapping.MAX_ENTRY_MS
            ):
                append(Message(key, shard, (ms << 16) | seq, ms, fields[1]))
            else:
                self._queue.extend(to_messages(self._s, ref, entry_id, fields))
            last = entry_id
        return last

    async def seek(self, timestamp: object) -> None:
        await self._move(after_time(timestamp))

    async def rewind(self, position: object) -> None:
        await self._move(None if position == "end" else after_sequence(position))

    async def _move(self, position: str | None) -> None:
        if self.options.follow:
            await self.start(position)
            return
        ends = dict(self._end)
        await self.start(position)
        self._end = ends  # follow=False keeps the end it started with

    async def close(self) -> None:
        self._closed = True
        self._queue.clear()
