"""Redis Streams -> ``.ss``: the engine behind ``ssfile dump`` (our ``redis-streams-dump``).

What is dumped, per stream key: every shard (``KEY:N`` streams, else ``KEY`` as shard 0),
each entry with its original header -- (key, shard, sequence = ``(ms << 16) | seq``,
timestamp = ms) -- and its payload(s) by the field rule of :mod:`.mapping`.

* **Range**: half-open ``[since, until)`` in milliseconds, like every time range in ssfile:
  an entry is dumped when ``since <= ms < until``.  (Upstream's redis-streams-dump differs:
  its ``--since`` is exclusive, ``ms > since``, and its ``--until`` inclusive, ``ms <= until``,
  and it stops the whole dump at the first later message.)
* **Snapshot**: each shard is read up to the entry that was its last when the dump started;
  entries added later are left for the next run.
* **Order**: pages of ``XRANGE ... COUNT page_size`` per shard, merged by entry id across
  the shards (ties by shard order), so the output is in time order.
* **Resumable**: an existing output file is appended to (``ssfile.open(path, "a")`` restores
  the writer state and drops a torn tail); each (key, shard) continues after the largest
  sequence the file already holds for it, so a rerun after an interruption writes exactly what
  is missing.  This assumes the file's messages of those keys came from this dump.
* **End of stream**: none unless ``eos=True`` (the file stays appendable by later runs).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ... import file as _file
from . import mapping
from .source import MAX_REDIS_SEQ, RedisSource, Shard

PAGE_SIZE = 5000


@dataclass
class DumpOptions:
    since_ms: int | None = None
    until_ms: int | None = None
    page_size: int = PAGE_SIZE
    field_rule: str = "auto"
    eos: bool = False


@dataclass
class DumpStats:
    entries: int = 0  # Redis entries read
    messages: int = 0  # messages written
    ignored_fields: int = 0  # fields dropped by the "msg" rule
    resumed: dict[tuple[str, int], str] = field(default_factory=dict)  # shard -> id continued after


Progress = Callable[[int], None]


def dump(
    source: RedisSource,
    keys: list[str],
    path: str | os.PathLike[str],
    options: DumpOptions | None = None,
    *,
    progress: Progress | None = None,
    on_plan: Callable[[list[Shard], int | None], None] | None = None,
) -> DumpStats:
    """Dump ``keys`` from ``source`` into ``path`` (created, or resumed if it has data).

    ``on_plan(shards, estimated_total)`` is called once before reading; ``progress(n)``
    after each page with the number of entries it held.
    """
    opts = options or DumpOptions()
    if opts.field_rule not in mapping.FIELD_RULES:
        raise ValueError(f"field rule must be one of {mapping.FIELD_RULES}")
    shards = [s for key in keys for s in source.shards(key)]
    path = os.fspath(path)
    mode = "a" if os.path.exists(path) and os.path.getsize(path) > 0 else "w"
    stats = DumpStats()
    with _file.Writer(path, mode, eos=opts.eos) as writer:
        ranges = [_range(source, writer, s, opts, stats) for s in shards]
        if on_plan is not None:
            on_plan(shards, _estimate(source, shards, writer, opts))
        cursors = [
            _entries(source, s, r, opts.page_size, i, progress)
            for i, (s, r) in enumerate(zip(shards, ranges))
            if r is not None
        ]
        merged = cursors[0] if len(cursors) == 1 else heapq.merge(*cursors)
        _write_all(writer, merged, shards, opts.field_rule, stats)
    return stats


def _range(
    source: RedisSource, writer: Any, shard: Shard, opts: DumpOptions, stats: DumpStats
) -> tuple[str, str] | None:
    """``(start, end)`` XRANGE bounds for one shard, or None if nothing is left to read."""
    last = source.last_id(shard.redis_key)
    if last is None:
        return None
    end = last
    if opts.until_ms is not None:
        if opts.until_ms == 0:
            return None
        end = min(end, (opts.until_ms - 1, MAX_REDIS_SEQ))
    start, exclusive = (opts.since_ms or 0, 0), False
    done = writer.stream_info(shard.stream_key, shard.shard_id)
    if done is not None:
        after = mapping.parse_entry_id(mapping.sequence_to_entry_id(done[0]))
        stats.resumed[(shard.stream_key, shard.shard_id)] = f"{after[0]}-{after[1]}"
        if after >= start:
            start, exclusive = after, True
    if start > end or (exclusive and start == end):
        return None
    return ("(" if exclusive else "") + f"{start[0]}-{start[1]}", f"{end[0]}-{end[1]}"


def _estimate(
    source: RedisSource, shards: list[Shard], writer: Any, opts: DumpOptions
) -> int | None:
    """Entries left to read, when it can be known cheaply (no time range): XLEN - already done."""
    if opts.since_ms is not None or opts.until_ms is not None:
        return None
    total = 0
    for s in shards:
        total += source.length(s.redis_key)
        done = writer.stream_info(s.stream_key, s.shard_id)
        total -= done[2] if done else 0
    return max(total, 0)


def _entries(
    source: RedisSource,
    shard: Shard,
    bounds: tuple[str, str],
    page_size: int,
    index: int,
    progress: Progress | None,
) -> Iterator[tuple[int, int, int, list[bytes]]]:
    """``(ms, seq, shard index, fields)`` of one shard in id order, page by page."""
    start, end = bounds
    checked = mapping.parse_entry_id
    max_seq, max_ms = mapping.MAX_ENTRY_SEQ, mapping.MAX_ENTRY_MS
    while True:
        page = source.page(shard.redis_key, start, end, page_size)
        for entry_id, fields in page:
            ms_text, _, seq_text = entry_id.partition(b"-")
            ms, seq = int(ms_text), int(seq_text)
            if seq > max_seq or ms > max_ms:
                checked(entry_id)  # raises the mapping error
            yield ms, seq, index, fields
        if progress is not None and page:
            progress(len(page))
        if len(page) < page_size or page[-1][0] == end.encode():
            return
        start = "(" + page[-1][0].decode()


def _write_all(writer: Any, entries: Any, shards: list[Shard], rule: str, stats: DumpStats) -> None:
    write = writer.write
    payloads_of = mapping.entry_payloads
    msg = mapping.MSG_FIELD
    n_entries = n_messages = 0
    try:
        for ms, seq, index, fields in entries:
            shard = shards[index]
            n_entries += 1
            if len(fields) == 2 and fields[0] == msg:  # the common case, inline
                write(
                    fields[1],
                    stream_key=shard.stream_key,
                    shard_id=shard.shard_id,
                    sequence=(ms << 16) | seq,
                    timestamp=ms,
                )
                n_messages += 1
                continue
            payloads, ignored = payloads_of(fields, rule)
            stats.ignored_fields += ignored
            for payload in payloads:
                write(
                    payload,
                    stream_key=shard.stream_key,
                    shard_id=shard.shard_id,
                    sequence=(ms << 16) | seq,
                    timestamp=ms,
                )
            n_messages += len(payloads)
    finally:
        stats.entries += n_entries
        stats.messages += n_messages
