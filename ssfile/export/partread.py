"""Reading one partition (:mod:`.partitions`) of a recording into a pandas DataFrame.

This runs where the partition is computed (a Dask worker).  A local file is memory-mapped
and scanned by :func:`ssfile.export.columns.scan` between the partition's first frame and
the next partition's first frame.  A remote file is not copied whole: the partition's bytes
(from its first beacon to where the next partition starts) are fetched into a local file at
the same distance from a beacon boundary, behind a copy of the header, so the scan reads
them as it reads any file; offsets in the rows and errors are shifted back.

``since``/``until`` seek as :func:`ssfile.to_pandas` does (:mod:`.seeking`), and the
partition's range is cut to the seek bounds, so the rows are exactly those of
``to_pandas``.  A partition never raises a format error: it returns it (:class:`Piece`),
because whether it counts depends on the partitions before it (an EOS ends the file, an
earlier error comes first); :mod:`.daskframe` decides.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..codec.layout import Layout
from ..errors import DamageWarning, FormatError
from ..file.reader import Reader
from ..format import constants as K
from ..format.records import FileHeader
from . import _deps
from .arrays import Columns, from_scan
from .columns import Selection, scan
from .damaged import reader_scan
from .frame import columns_to_frame
from .layout import scan_layout
from .many import smallest_int
from .partitions import Beacons, Part
from .seeking import bounds
from .sources import COPY_BLOCK, Source


@dataclass(frozen=True)
class Options:
    """What every partition of one ``read_ss`` call reads."""

    select: Selection
    payload: bool
    check_crc: bool
    tolerate_truncation: bool
    on_damage: str
    columns: tuple[str, ...] = ()


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
            return Piece(None, _shifted(err, 0, src.name))
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
        return Piece(None, _shifted(cols, shift, src.name))
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


def _shifted(err: FormatError, shift: int, name: str) -> FormatError:
    if shift and err.offset is not None:
        err.offset += shift
    return err.with_path(name)


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
    """Scan the frames starting in ``[start, stop)`` (None: the file's edge) of ``path``.

    The scan stops silently where a damaged beacon ends its view of the file unless it runs
    to the end of the file; so when one lies before ``stop``, this partition raises for it
    as the whole-file scan would, or (``on_damage="skip"``) is read by the reader."""
    np = _deps.numpy()
    if start is not None and stop is not None and start >= stop:
        return None
    got = _scan(np, path, name, mm, start, stop, opts)
    if got.ended and stop is not None and mm is not None:
        got.ended = _eos_before(path, mm, start, stop)
    return from_scan(np, got, _mode(opts), opts.payload, False)


def _scan(
    np: Any,
    path: str,
    name: str,
    mm: mmap.mmap | None,
    start: int | None,
    stop: int | None,
    opts: Options,
) -> Any:
    mode = _mode(opts)
    bad = scan_layout(mm, name).bad_beacon if mm is not None and stop is not None else None
    if bad is not None and bad[0] < stop:  # type: ignore[operator]
        if opts.on_damage == "skip":
            return reader_scan(
                np, path, mode, opts.check_crc, opts.select, start, stop, opts.tolerate_truncation
            )
        got = scan(
            path, payload=mode, check_crc=opts.check_crc, select=opts.select, start=start, stop=stop
        )
        if not got.ended:
            raise FormatError(f"damaged beacon: {bad[1]}", bad[0], path=name)
        return got
    return scan(
        path,
        payload=mode,
        check_crc=opts.check_crc,
        select=opts.select,
        start=start,
        stop=stop,
        tolerate_truncation=opts.tolerate_truncation,
        on_damage=opts.on_damage,
    )


def _eos_before(path: str, mm: mmap.mmap, start: int | None, stop: int) -> bool:
    """Whether the EOS frame a scan bounded by ``stop`` met starts before ``stop`` (a scan
    looks ahead past ``stop``, and says ``ended`` for an EOS it saw there too).  The frame
    right after the last one before ``stop`` is read: it is the EOS or it is not."""
    every = scan(path, payload=None, check_crc=False, start=start, stop=stop)
    offsets = every.columns["offset"]
    lay = Layout(mm, every.header.beacon_interval)
    pos = int(lay.read_frame(int(offsets[-1])).end) if len(offsets) else start or K.HEADER_SIZE
    while lay.is_boundary(pos) and lay.beacon(pos).beacon is not None:
        pos += lay.beacon(pos).beacon.size  # type: ignore[union-attr]
    return pos < stop and lay.read_frame(pos).is_eos


def _remote(
    src: Source, part: Part, size: int, interval: int, opts: Options
) -> tuple[Columns | FormatError | None, int]:
    """(the partition's columns, or the format error it met; the offset shift)."""
    from ..file.remote import RangeFile

    rf = RangeFile(src.fs, src.path, src.name, size)

    def read_at(at: int, n: int) -> bytes:
        rf.seek(at)
        parts = []
        while n > 0:  # a RangeFile may read short (its first read stops at HEAD bytes)
            got = rf.read(n)
            if not got:
                break
            parts.append(got)
            n -= len(got)
        return b"".join(parts)

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
    lo, hi = _remote_bounds(rf, size, opts)
    start, stop = _later(start, lo), _sooner(stop, hi)
    if start is not None and stop is not None and start >= stop:
        return None, 0
    first = part.first * interval
    shift = first - interval if first else 0  # beacon `first` lands at `interval` in the copy
    with tempfile.TemporaryDirectory(prefix="ssfile-part-") as tmp:
        copy = os.path.join(tmp, "part.ss")
        with open(copy, "wb") as out:
            if first:
                out.write(read_at(0, K.HEADER_SIZE))
                out.seek(interval)  # the rest of interval 0 is never read: a hole
            end = size if stop is None else stop
            for at in range(first, end, COPY_BLOCK):
                out.write(read_at(at, min(COPY_BLOCK, end - at)))
        with open(copy, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            moved = [None if x is None else x - shift for x in (start, stop)]
            if moved[0] is None and first:
                moved[0] = interval  # not reached: start is set whenever first > 0
            try:
                return _scan_range(copy, src.name, mm, moved[0], moved[1], opts), shift
            except FormatError as err:
                return err, shift
        finally:
            mm.close()


def _remote_bounds(rf: Any, size: int, opts: Options) -> tuple[int | None, int | None]:
    """:func:`.seeking.bounds` on a remote file (the same seeks, through ranged reads)."""
    sel = opts.select
    if sel.since_ms is None and sel.until_ms is None:
        return None, None
    rf.seek(0)  # the reader reads the header from where the file is
    with Reader(
        rf, check_crc=False, tolerate_truncation=opts.tolerate_truncation, on_damage=opts.on_damage
    ) as reader:
        start = stop = None
        if sel.since_ms is not None:
            found = reader.seek_time(sel.since_ms)
            if found is None:
                return size, None
            start = found.offset
        if sel.until_ms is not None:
            after = reader.seek_time(sel.until_ms)
            stop = None if after is None else after.offset
    return start, stop
