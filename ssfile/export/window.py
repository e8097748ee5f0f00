"""Scanning a byte range of a recording exactly as the whole-file scan would, and fetching
that range from a remote file with ranged requests.

A remote range is not read through the whole file: its bytes (from the beacon before its
first frame to its end) are fetched into a local file at the same distance from a beacon
boundary, behind a copy of the header, so the vectorised scan reads them as it reads any
file; offsets in the rows, damage and errors are shifted back.  The Dask partitions
(:mod:`.partread`) read their ranges so, and :func:`read_window` reads the time window
(``since``/``until``) of a remote file for ``to_numpy``/``to_pandas``/``to_arrow``: the
seek's ranged reads (:mod:`.seeking`'s seeks through a :class:`~ssfile.file.remote.RangeFile`),
then only the window's bytes, however large the file.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

from ..codec.layout import Layout
from ..errors import DamageWarning, FormatError
from ..file.reader import Reader
from ..format import constants as K
from ..format.records import FileHeader
from ..format.schema import parse_file_header
from . import _deps
from .columns import Selection, scan
from .damaged import reader_scan
from .layout import scan_layout
from .partitions import ReadAt
from .scan_types import Scan
from .sources import COPY_BLOCK, Source


@dataclass(frozen=True)
class Options:
    """What is read: the selection and the scan's options (for ``read_ss``: what every
    partition reads, ``payload`` and ``columns`` the wanted columns)."""

    select: Selection
    payload: bool
    check_crc: bool
    tolerate_truncation: bool
    on_damage: str
    columns: tuple[str, ...] = ()


def shifted(err: FormatError, shift: int, name: str) -> FormatError:
    if shift and err.offset is not None:
        err.offset += shift
    return err.with_path(name)


def range_scan(
    path: str,
    name: str,
    mm: mmap.mmap | None,
    start: int | None,
    stop: int | None,
    opts: Options,
    mode: str | None,
) -> Scan | None:
    """Scan the frames starting in ``[start, stop)`` (None: the file's edge) of ``path``
    (``mode``: the scan's payload mode).

    The scan stops silently where a damaged beacon ends its view of the file unless it runs
    to the end of the file; so when one lies before ``stop``, this partition raises for it
    as the whole-file scan would, or (``on_damage="skip"``) is read by the reader."""
    np = _deps.numpy()
    if start is not None and stop is not None and start >= stop:
        return None
    bad = scan_layout(mm, name).bad_beacon if mm is not None and stop is not None else None
    common: dict[str, Any] = {
        "payload": mode,
        "check_crc": opts.check_crc,
        "select": opts.select,
        "start": start,
        "stop": stop,
    }
    if bad is not None and bad[0] < stop:  # type: ignore[operator]
        if opts.on_damage == "skip":
            got = reader_scan(
                np, path, mode, opts.check_crc, opts.select, start, stop, opts.tolerate_truncation
            )
        else:
            got = scan(path, **common)
            if not got.ended:
                raise FormatError(f"damaged beacon: {bad[1]}", bad[0], path=name)
    else:
        tolerate, on_damage = opts.tolerate_truncation, opts.on_damage
        got = scan(path, **common, tolerate_truncation=tolerate, on_damage=on_damage)
    if got.ended and stop is not None and mm is not None:
        got.ended = _eos_before(path, mm, start, stop)
    return got


def local_range_scan(
    path: str, start: int | None, stop: int, opts: Options, mode: str | None
) -> Scan | None:
    """:func:`range_scan` of the local file ``path`` (memory-mapped here)."""
    with open(path, "rb") as f:
        mm = (
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            if os.fstat(f.fileno()).st_size
            else None
        )
    try:
        return range_scan(path, path, mm, start, stop, opts, mode)
    finally:
        if mm is not None:
            mm.close()


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


def ranged(rf: Any) -> ReadAt:
    """``read_at`` over a :class:`~ssfile.file.remote.RangeFile`: whole ranges (a RangeFile
    may read short: its first read stops at HEAD bytes)."""

    def read_at(at: int, n: int) -> bytes:
        rf.seek(at)
        parts = []
        while n > 0:
            got = rf.read(n)
            if not got:
                break
            parts.append(got)
            n -= len(got)
        return b"".join(parts)

    return read_at


def fetch_and_scan(
    read_at: ReadAt,
    name: str,
    size: int,
    interval: int,
    first: int,
    window: tuple[int | None, int | None],
    opts: Options,
    mode: str | None,
) -> tuple[Scan | FormatError | None, int]:
    """Fetch the bytes from beacon ``first`` to ``bounds``' stop (None: the end) into a
    local file, beacon ``first`` landing at ``interval`` behind a copy of the header, and
    scan the frames that start in ``window`` (offsets in the file) there.  (the scan, or the format error it met, or None
    when there are no rows to read; the offset shift: file offset = copy offset + shift)."""
    start, stop = window
    if start is not None and stop is not None and start >= stop:
        return None, 0
    at = first * interval
    shift = at - interval if at else 0
    with tempfile.TemporaryDirectory(prefix="ssfile-part-") as tmp:
        copy = os.path.join(tmp, "part.ss")
        with open(copy, "wb") as out:
            if at:
                out.write(read_at(0, K.HEADER_SIZE))
                out.seek(interval)  # the rest of interval 0 is never read: a hole
            end = size if stop is None else stop
            for pos in range(at, end, COPY_BLOCK):
                out.write(read_at(pos, min(COPY_BLOCK, end - pos)))
        with open(copy, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            moved = [None if x is None else x - shift for x in (start, stop)]
            if moved[0] is None and at:
                moved[0] = interval  # not reached: start is set whenever first > 0
            try:
                return range_scan(copy, name, mm, moved[0], moved[1], opts, mode), shift
            except FormatError as err:
                return err, shift
        finally:
            mm.close()


def remote_bounds(rf: Any, size: int, opts: Options) -> tuple[int | None, int | None]:
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


def read_window(src: Source, opts: Options, mode: str | None) -> Scan:
    """The scan of remote ``src`` between the seek bounds of ``opts.select``'s
    ``since``/``until``, as the whole-file scan gives it (``mode``: its payload mode), read
    with ranged requests: the seek's, then the bytes from the beacon before the first frame
    of the window to its end.  Offsets, damage (its DamageWarnings too) and errors are the
    file's own; warnings and errors name ``src.name``."""
    from ..file.remote import RangeFile

    try:
        rf = RangeFile(src.fs, src.path, src.name)
    except FileNotFoundError:
        raise FileNotFoundError(2, "No such file", src.name) from None
    read_at = ranged(rf)
    try:
        start, stop = remote_bounds(rf, rf.size, opts)
        header = parse_file_header(read_at(0, K.HEADER_SIZE), 0)
    except FormatError as err:
        raise err.with_path(src.name) from None
    if start is not None and (start >= rf.size or stop is not None and start >= stop):
        return _empty_scan(header, mode)
    interval = header.beacon_interval
    first = 0 if start is None else start // interval
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DamageWarning)
        got, shift = fetch_and_scan(
            read_at, src.name, rf.size, interval, first, (start, stop), opts, mode
        )
    for w in caught:
        if isinstance(w.message, DamageWarning):
            ranges = [(off + shift, n) for off, n in w.message.ranges]
            warnings.warn(DamageWarning(ranges, w.message.reasons, src.name), stacklevel=3)
        else:  # anything else is not ours to swallow
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if isinstance(got, FormatError):
        raise shifted(got, shift, src.name)
    if got is None:  # not reached: the window holds at least one frame
        return _empty_scan(header, mode)
    if shift:
        got.columns["offset"] += shift
        got.damage = [(off + shift, n) for off, n in got.damage]
        got.torn_tail = None if got.torn_tail is None else got.torn_tail + shift
    return got


def _empty_scan(header: FileHeader, mode: str | None) -> Scan:
    """What the scan of an empty range gives."""
    np = _deps.numpy()
    columns = {
        c: np.zeros(0, dtype=np.uint64 if c in ("shard_id", "sequence") else np.int64)
        for c in ("code", "shard_id", "sequence", "timestamp_ms", "offset", "length")
    }
    return Scan(header, [], columns, [np.zeros(0, dtype=np.uint8)] if mode == "buffer" else [])
