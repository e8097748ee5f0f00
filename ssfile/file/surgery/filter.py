"""``ssfile.filter(src, dst, ...)``: copy the selected messages of one recording to a new file.

The selection is a :class:`~.select.Selection` (streams by glob pattern, shard, the time
window ``[since, until)``, a sequence range, a payload regex, a JSON expression); time and
sequence bounds seek by bisection over the beacons instead of scanning.  The new file keeps
each message exactly (key, shard, sequence, timestamp, payload), gets fresh beacons at
``beacon_interval`` (default: the input's) and the input's ``created_at``, and appears at
``dst`` only when complete (a temporary name renamed into place); ``dst`` is never ``src``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections import Counter

from .endpoints import Output, PathLike, note_damage, open_input, producing
from .select import Selection
from .summary import Summary, pair_of


def filter_file(  # the public name is ssfile.filter
    src: PathLike,
    dst: PathLike,
    *,
    streams: tuple[str, ...] | list[str] | str = (),
    exclude_streams: tuple[str, ...] | list[str] | str = (),
    shard: int | None = None,
    since: int | _dt.datetime | None = None,
    until: int | _dt.datetime | None = None,
    from_seq: int | None = None,
    to_seq: int | None = None,
    payload_grep: str | bytes | re.Pattern[bytes] | None = None,
    json_filter: str | None = None,
    beacon_interval: int | None = None,
    on_damage: str = "raise",
    command: str = "filter",
) -> Summary:
    """Write the messages of ``src`` that the selection keeps to a new file ``dst``.

    Selection arguments: see :mod:`ssfile.file.surgery.select` (``streams`` and
    ``exclude_streams`` are glob patterns; ``since``/``until`` int ms or datetimes, the
    window half-open; ``from_seq``/``to_seq`` inclusive, for the one stream given).
    ``on_damage``: ``"raise"`` (default: a damaged input raises its FormatError and nothing
    is written) or ``"skip"`` (every intact message is considered; the skipped ranges, a torn
    tail included, are in the summary's ``damage`` and warned as DamageWarning).
    Returns a :class:`~.summary.Summary`.
    """
    selection = Selection(
        streams=tuple([streams] if isinstance(streams, str) else streams),
        exclude_streams=tuple(
            [exclude_streams] if isinstance(exclude_streams, str) else exclude_streams
        ),
        shard=shard,
        since=since,
        until=until,
        from_seq=from_seq,
        to_seq=to_seq,
        payload_grep=payload_grep,
        json_filter=json_filter,
    )
    summary = Summary(command, [os.fspath(src)])
    source = os.fspath(src)
    with open_input(src, on_damage) as reader:
        header = reader.header
        out = Output(
            dst,
            inputs=[src],
            beacon_interval=header.beacon_interval if beacon_interval is None else beacon_interval,
            created_at=header.created_at_ms,
        )
        with producing([out]):
            for batch in selection.batches(reader, summary):
                out.write_all(batch, source)
                summary.add({}, Counter(map(pair_of, batch)))
            note_damage(reader, summary)
            out.commit()
    summary.outputs.append((out.target, out.messages))
    return summary


filter = filter_file  # ssfile.filter, like the command


__all__ = ["filter", "filter_file"]
