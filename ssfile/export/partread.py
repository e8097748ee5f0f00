"""Reading one partition (:mod:`.partitions`) of a recording into a pandas DataFrame.

This runs where the partition is computed (a Dask worker).  A local file is memory-mapped
and scanned by :func:`ssfile.export.columns.scan` between the partition's first frame and
the next partition's first frame.  A remote file is not copied whole: the partition's bytes
(from its first beacon to where the next partition starts) are fetched into a local file at
the same distance from a beacon boundary, behind a copy of the header, so the scan reads
them as it reads any file; offsets in the rows and errors are shifted back.

``since``/``until`` seek as :func:`ssfile.to_pandas` does (:mod:`.seeking`), and the
partition's range is cut to the seek bounds, so the rows are exactly those of
``to_pandas``.  Scanning a byte range, and fetching one from a remote file, is
:mod:`.window`'s, which the exports use for a remote file's time window.  A partition never raises a format error: it returns it (:class:`Piece`),
because whether it counts depends on the partitions before it (an EOS ends the file, an
earlier error comes first); :mod:`.daskframe` decides.
"""

from __future__ import annotations

import mmap
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..errors import DamageWarning, FormatError
from ..format import constants as K
from ..format.records import FileHeader
from . import _deps
from .arrays import Columns, from_scan
from .frame import columns_to_frame
from .many import smallest_int
from .partitions import Beacons, Part
from .scan_types import Scan
from .seeking import bounds
from .sources import Source
from .window import Options, fetch_and_scan, range_scan, ranged, remote_bounds, shifted

__all__ = ["Options", "Piece", "empty_frame", "read_piece"]


@dataclass
class Piece:
    """One partition's rows (``frame``), or the format ``error`` it met; ``ended``: it read
    the file's EOS; ``damage``: the ranges skipped (``on_damage="skip"``) with reasons."""

    frame: Any
    error: FormatError | None = None
    ended: bool = False
    damage: list[tuple[int, int, str]] = field(default_factory=list)


def empty_frame(files: list[str] | None, payload: bool) -> Any:
    """The zero-row DataFrame of ``to_pandas``: its columns and dtypes, nothing else."""
    np = _deps.numpy()
    cols = Columns(
        FileHeader("", 0, K.HEADER_SIZE),
        [],
        np.zeros(0, dtype=np.int8),
        np.zeros(0, dtype=np.uint64),
        np.zeros(0, dtype=np.uint64),
        np.zeros(0, dtype="datetime64[ms]"),
        np.zeros(0, dtype=np.int64),
        payload=np.zeros(0, dtype=object) if payload else None,
    )
    if files is not None:
        cols.files, cols.file_codes = list(files), np.zeros(0, dtype=smallest_int(np, len(files)))
    frame = columns_to_frame(cols, payload=payload)
    frame.attrs.clear()
    return frame


def read_piece(
    src: Source, files: list[str] | None, part: Part, size: int, interval: int, opts: Options
) -> Piece:
    """Partition ``part`` of ``src`` (``files``: every file's name when there are several,
    for the ``file`` column; ``interval``: the file's beacon interval, 0 if unknown)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DamageWarning)
        try:
            cols: Columns | FormatError | None
            if src.fs is None:
                cols, shift = _local(src.path, src.name, part, size, interval, opts), 0
            else:
                cols, shift = _remote(src, part, size, interval, opts)
        except FormatError as err:
            return Piece(None, shifted(err, 0, src.name))
    damage = [
        (off + shift, n, why)
        for w in caught
        if isinstance(w.message, DamageWarning)
        for (off, n), why in zip(w.message.ranges, w.message.reasons)
    ]
    for w in caught:  # anything else is not ours to swallow
        if not isinstance(w.message, DamageWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if isinstance(cols, FormatError):
        return Piece(None, shifted(cols, shift, src.name))
    if cols is None:
        return Piece(empty_frame(files, opts.payload), damage=damage)
    np = _deps.numpy()
    cols.offset = cols.offset + shift if shift else cols.offset
    if files is not None:
        cols.files = list(files)
        code = files.index(src.name)
        cols.file_codes = np.full(len(cols), code, dtype=smallest_int(np, len(files)))
    frame = columns_to_frame(cols, payload=opts.payload)
    frame.attrs.clear()
    return Piece(frame, None, cols.ended, damage)


def _mode(opts: Options) -> str | None:
    return "bytes" if opts.payload else None


def _local(
    path: str, name: str, part: Part, size: int, interval: int, opts: Options
) -> Columns | None:
    """The partition's columns (None: no rows to read)."""
    with open(path, "rb") as f:
        real = os.fstat(f.fileno()).st_size
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if real else None
    try:
        if mm is None or part.first == 0 and part.until is None:
            start: int | None = None
            stop: int | None = None
        else:
            cut = Beacons(lambda at, n: mm[at : at + n], len(mm), interval)
            start = None if part.first == 0 else cut.start_of(part.first, part.until)
            if part.first and start is None:
                return None  # no usable beacon in this partition: its neighbour reads it
            stop = cut.stop_of(part.until)
        sel = opts.select
        lo, hi = bounds(
            path,
            sel.since_ms,
            sel.until_ms,
            tolerate_truncation=opts.tolerate_truncation,
            on_damage=opts.on_damage,
        )
        return _scan_range(path, name, mm, _later(start, lo), _sooner(stop, hi), opts)
    finally:
        if mm is not None:
            mm.close()


def _later(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _sooner(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _scan_range(
    path: str, name: str, mm: mmap.mmap | None, start: int | None, stop: int | None, opts: Options
) -> Columns | None:
    """The columns of :func:`range_scan` (None: no rows to read)."""
    got = range_scan(path, name, mm, start, stop, opts, _mode(opts))
    return None if got is None else from_scan(_deps.numpy(), got, _mode(opts), opts.payload, False)


def _remote(
    src: Source, part: Part, size: int, interval: int, opts: Options
) -> tuple[Columns | FormatError | None, int]:
    """(the partition's columns, or the format error it met; the offset shift)."""
    from ..file.remote import RangeFile

    rf = RangeFile(src.fs, src.path, src.name, size)
    read_at = ranged(rf)
    whole = part.first == 0 and part.until is None
    if whole:
        start: int | None = None
        stop: int | None = None
    else:
        cut = Beacons(read_at, size, interval)
        start = None if part.first == 0 else cut.start_of(part.first, part.until)
        if part.first and start is None:
            return None, 0
        stop = cut.stop_of(part.until)
    lo, hi = remote_bounds(rf, size, opts)
    start, stop = _later(start, lo), _sooner(stop, hi)
    got, shift = fetch_and_scan(
        read_at, src.name, size, interval, part.first, (start, stop), opts, _mode(opts)
    )
    if isinstance(got, Scan):
        return from_scan(_deps.numpy(), got, _mode(opts), opts.payload, False), shift
    return got, shift
