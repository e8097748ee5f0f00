"""Turn ``since``/``until`` into file offsets by seeking, so a slice never scans the file.

Both ends use :meth:`ssfile.Reader.seek_time` (beacon bisection plus a short scan): the
scan then covers only the frames from the first message at or after ``since`` to the
first message at or after ``until``, and still filters every row by time.  Like every
seek, this assumes the recording is in time order (as a live recorder writes it); in a
file whose timestamps step back, rows before the ``since`` seek point or after the
``until`` one are not considered.  Without ``since``/``until`` nothing is assumed.
"""

from __future__ import annotations

import os

from ..file.reader import Reader


def bounds(
    path: str | os.PathLike[str],
    since_ms: int | None,
    until_ms: int | None,
    *,
    tolerate_truncation: bool = False,
    on_damage: str = "raise",
) -> tuple[int | None, int | None]:
    """Physical offsets ``(start, stop)`` of the frames to scan (None: the file's edge)."""
    if since_ms is None and until_ms is None:
        return None, None
    with Reader(
        path, check_crc=False, tolerate_truncation=tolerate_truncation, on_damage=on_damage
    ) as reader:
        start = stop = None
        if since_ms is not None:
            first = reader.seek_time(since_ms)
            if first is None:  # nothing at or after `since`: an empty slice
                return os.path.getsize(path), None
            start = first.offset
        if until_ms is not None:
            after = reader.seek_time(until_ms)
            stop = None if after is None else after.offset
    return start, stop
