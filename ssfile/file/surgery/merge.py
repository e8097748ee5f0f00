"""``ssfile.merge([srcs], dst)``: interleave several recordings by timestamp into one file.

A k-way merge (``heapq.merge`` over one reader per input): the output takes, at each step,
the message with the smallest timestamp among the next unread message of every input; ties
go to the earlier input in the argument list, and each input's messages keep their file
order.  When every input's timestamps do not go back, the output is sorted by timestamp
(stable: input order, then file order); otherwise each input's order is still kept.  Memory
is bounded by the number of inputs (one decoded batch and one read chunk each).

The same (stream key, shard) in two inputs is a **conflict**, handled by ``on_conflict``:

* ``"error"`` (default): :class:`~ssfile.errors.UsageError` naming the stream, shard and the
  two inputs, as soon as the second input's first message of it comes up (nothing is
  written: the temporary output is removed);
* ``"renumber"``: the pair's messages keep their sequence until it shows up in a second
  input; from that message on, each of its messages is numbered one more than the previous
  one written for it (sequences continue);
* ``"keep"``: every message is kept as it is (the pair then holds repeated or interleaved
  sequences); a warning (``UserWarning``, and the summary's ``warnings``) names the pair;
* ``"dedupe"``: a message identical to one already written from *another* input (same key,
  shard, sequence, timestamp and payload) is dropped.  Identical messages have the same
  timestamp, so only the messages at the current timestamp are remembered: exact when the
  inputs' timestamps do not go back.  Messages with the same key, shard and sequence but
  another payload are both kept, with a warning.

The header: ``beacon_interval`` defaults to the first input's; ``created_at`` is the
earliest of the inputs'.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import repeat

from ...errors import UsageError
from ...types import Message
from ..reader import Reader
from .endpoints import Output, PathLike, note_damage, open_input, producing
from .summary import Summary

ON_CONFLICT = ("error", "renumber", "keep", "dedupe")


def _tagged(reader: Reader, index: int) -> Iterator[tuple[Message, int]]:
    """(message, input index) for every message of ``reader``, in file order."""
    return zip(reader, repeat(index))


def _ts(item: tuple[Message, int]) -> int:
    return item[0].timestamp_ms


def merge(
    srcs: Sequence[PathLike],
    dst: PathLike,
    *,
    on_conflict: str = "error",
    beacon_interval: int | None = None,
    on_damage: str = "raise",
) -> Summary:
    """Merge ``srcs`` by timestamp into a new file ``dst`` (see the module docstring).

    Returns a :class:`~.summary.Summary`; ``renumbered`` and ``deduplicated`` count what
    ``on_conflict`` changed.  ``on_damage`` as for :func:`ssfile.filter`.
    """
    if on_conflict not in ON_CONFLICT:
        raise UsageError(
            f"on_conflict must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}"
        )
    if not srcs:
        raise UsageError("merge needs at least one input")
    names = [os.fspath(s) for s in srcs]
    summary = Summary("merge", names)
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(open_input(s, on_damage)) for s in srcs]
        headers = [r.header for r in readers]
        out = Output(
            dst,
            inputs=list(srcs),
            beacon_interval=headers[0].beacon_interval
            if beacon_interval is None
            else beacon_interval,
            created_at=min(h.created_at_ms for h in headers),
        )
        with producing([out]):
            merged = heapq.merge(*(_tagged(r, i) for i, r in enumerate(readers)), key=_ts)
            _copy(merged, out, names, on_conflict, summary)
            for r in readers:
                note_damage(r, summary)
            out.commit()
    summary.outputs.append((out.target, out.messages))
    return summary


def _copy(
    merged: Iterator[tuple[Message, int]],
    out: Output,
    names: list[str],
    on_conflict: str,
    summary: Summary,
) -> None:
    read: Counter[tuple[str, int]] = Counter()
    written: Counter[tuple[str, int]] = Counter()
    try:
        _loop(merged, out, names, on_conflict, summary, read, written)
    finally:
        summary.add(read, written)


def _loop(
    merged: Iterator[tuple[Message, int]],
    out: Output,
    names: list[str],
    on_conflict: str,
    summary: Summary,
    read: Counter[tuple[str, int]],
    written: Counter[tuple[str, int]],
) -> None:
    owner: dict[tuple[str, int], int] = {}  # (key, shard) -> the input it first came from
    shared: set[tuple[str, int]] = set()  # pairs seen in more than one input
    last_seq: dict[tuple[str, int], int] = {}  # renumber: the last sequence written per pair
    # dedupe: the messages written at the current timestamp, (key, shard, seq) -> [(msg, input)]
    window_ts = -1
    window: dict[tuple[str, int, int], list[tuple[Message, int]]] = {}
    write = out.write
    for m, i in merged:
        pair = (m.stream_key, m.shard_id)
        read[pair] += 1
        first = owner.setdefault(pair, i)
        if first != i and pair not in shared:
            shared.add(pair)
            _conflict(pair, names[first], names[i], on_conflict, summary)
        seq = None
        if on_conflict == "renumber":
            if pair in shared:
                seq = last_seq[pair] + 1
                if seq != m.sequence:
                    summary.renumbered += 1
            last_seq[pair] = m.sequence if seq is None else seq
        elif on_conflict == "dedupe":
            if m.timestamp_ms != window_ts:
                window_ts, window = m.timestamp_ms, {}
            same = window.setdefault((m.stream_key, m.shard_id, m.sequence), [])
            if same:
                if any(j != i and w.payload == m.payload for w, j in same):
                    summary.deduplicated += 1
                    continue
                if any(j != i for _, j in same):
                    _warn(
                        summary,
                        f"stream {m.stream_key!r} shard {m.shard_id} sequence {m.sequence} "
                        f"at {m.timestamp_ms} ms has another payload in {names[same[0][1]]} "
                        f"than in {names[i]}: both kept",
                    )
            same.append((m, i))
        write(m, names[i], sequence=seq)
        written[pair] += 1


def _conflict(
    pair: tuple[str, int], first: str, second: str, on_conflict: str, summary: Summary
) -> None:
    key, shard = pair
    what = f"stream {key!r} shard {shard} is in both {first} and {second}"
    if on_conflict == "error":
        raise UsageError(
            f"{what}: choose how to merge it with --on-conflict renumber, keep or dedupe"
        )
    if on_conflict == "keep":
        _warn(summary, f"{what}: kept both (its sequences may repeat)")


def _warn(summary: Summary, text: str) -> None:
    summary.warnings.append(text)
    warnings.warn(text, UserWarning, stacklevel=4)


__all__ = ["ON_CONFLICT", "merge"]
