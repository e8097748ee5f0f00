"""``ssfile.concat([srcs], dst)``: the messages of A, then B, ... in file order, in one file.

The result is what appending B's messages (and then C's ...) to a copy of A with the writer
gives, with fresh beacons: the header is the first input's (its ``created_at``, and its beacon
interval unless ``beacon_interval`` says otherwise; the file name is ``dst``'s), each input's
end-of-stream frame is dropped and one EOS ends the file.

Sequences are checked where one input follows another: for each (stream, shard) that an
earlier input holds, its first message in a later input should be numbered one more than its
last message before.  Where it is not, the summary's ``warnings`` (and a ``UserWarning``) say
so, naming the input, the stream, the sequence expected and the one found with its offset;
the messages are written as they are either way (use ``merge --on-conflict renumber`` to
renumber).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections import Counter
from collections.abc import Sequence

from ...errors import UsageError
from ...types import Message
from ..reader import Reader
from ..slice import next_messages
from .endpoints import Output, PathLike, note_damage, open_input, producing
from .summary import Summary, pair_of


def concat(
    srcs: Sequence[PathLike],
    dst: PathLike,
    *,
    beacon_interval: int | None = None,
    on_damage: str = "raise",
) -> Summary:
    """Concatenate ``srcs`` into a new file ``dst`` (see the module docstring)."""
    if not srcs:
        raise UsageError("concat needs at least one input")
    names = [os.fspath(s) for s in srcs]
    summary = Summary("concat", names)
    last: dict[tuple[str, int], tuple[int, str]] = {}  # pair -> (last sequence, its input)
    with contextlib.ExitStack() as stack:
        # open (and check the header of) every input before writing anything
        readers = [stack.enter_context(open_input(s, on_damage)) for s in srcs]
        first = readers[0].header
        out = Output(
            dst,
            inputs=list(srcs),
            beacon_interval=first.beacon_interval if beacon_interval is None else beacon_interval,
            created_at=first.created_at_ms,
        )
        with producing([out]):
            for name, reader in zip(names, readers):
                _copy(reader, name, out, last, summary)
                note_damage(reader, summary)
                reader.close()  # done with it: one open input at a time from here on
            out.commit()
    summary.outputs.append((out.target, out.messages))
    return summary


def _copy(
    reader: Reader,
    name: str,
    out: Output,
    last: dict[tuple[str, int], tuple[int, str]],
    summary: Summary,
) -> None:
    """Copy one input, checking where its streams continue those of the earlier inputs."""
    seen: set[tuple[str, int]] = set()
    ends: dict[tuple[str, int], int] = {}
    while (batch := next_messages(reader)) is not None:
        counts = Counter(map(pair_of, batch))
        new = counts.keys() - seen
        if new:
            seen |= new
            for m in batch:
                pair = (m.stream_key, m.shard_id)
                if pair in new:
                    new.discard(pair)
                    _check_continues(m, name, last.get(pair), summary)
        out.write_all(batch, name)
        ends.update({pair_of(m): m.sequence for m in batch})
        summary.add(counts, counts)
    for pair, seq in ends.items():
        last[pair] = (seq, name)


def _check_continues(
    m: Message, name: str, before: tuple[int, str] | None, summary: Summary
) -> None:
    if before is None or m.sequence == before[0] + 1:
        return
    text = (
        f"{name}: stream {m.stream_key!r} shard {m.shard_id} does not continue {before[1]}: "
        f"sequence {m.sequence} at offset {m.offset}, expected {before[0] + 1}"
    )
    summary.warnings.append(text)
    warnings.warn(text, UserWarning, stacklevel=4)


__all__ = ["concat"]
