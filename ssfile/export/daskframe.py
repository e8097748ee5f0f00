"""``ssfile.dask.read_ss``: recordings as a lazy :class:`dask.dataframe.DataFrame`.

The graph, per partition ``i`` (:mod:`.partitions` plans them, :mod:`.partread` reads one):

* ``read-i``: the partition's rows, or the format error it met (never raised there);
* ``state-i``: a few numbers carried from partition to partition in file order -- rows so
  far, whether this file's EOS was read, the first error, how far damage was reported --
  computed from ``state-(i-1)`` and a summary of ``read-i`` (no rows travel along it);
* ``part-i``: ``read-i`` given ``state-(i-1)``: empty after its file's EOS (a reader stops
  there, spec 7.2), the first error if one came before, else the rows with their global
  row numbers as index, and a :class:`~ssfile.errors.DamageWarning` per skipped range not
  already reported.

So every partition is scanned in parallel and independently, and the result is exactly
``to_pandas`` of the same files: same rows, order, index, dtypes, and the same error.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from typing import Any

from ..errors import DamageWarning, FormatError, check_on_damage
from ..format import constants as K
from ..format.schema import parse_file_header
from ..optional import require
from . import _deps, sources
from .partitions import Part, parse_blocksize, plan
from .partread import Options, Piece, empty_frame, read_piece
from .timeargs import TimeArg, selection

COLUMNS = ("file", "stream_key", "shard_id", "sequence", "timestamp", "offset", "payload")


def dask_modules() -> tuple[Any, Any]:
    """(dask, dask.dataframe), or MissingDependency naming the ``dask`` extra."""
    dd = require("dask.dataframe", "dask", owners=("pandas", "numpy"))
    return require("dask", "dask"), dd


def read_ss(
    urlpath: str | os.PathLike[str] | list[str | os.PathLike[str]],
    blocksize: int | str | None = "256MiB",
    columns: list[str] | None = None,
    streams: str | Any = None,
    shards: int | Any = None,
    since: TimeArg = None,
    until: TimeArg = None,
    storage_options: dict[str, Any] | None = None,
    on_damage: str = "raise",
    *,
    check_crc: bool = True,
    tolerate_truncation: bool = False,
) -> Any:
    """See :func:`ssfile.dask.read_ss`."""
    dask, dd = dask_modules()
    _deps.pandas()
    check_on_damage(on_damage)
    size = None if blocksize is None else parse_blocksize(blocksize)
    select = selection(streams, shards, since, until)
    resolved = sources.resolve(urlpath, storage_options)
    if resolved is None:
        name = os.fspath(urlpath)  # type: ignore[arg-type]
        resolved = sources.Resolved([sources.Source(name, name)], False)
    files = resolved.files
    names = [f.name for f in files] if resolved.many else None
    wanted = _columns(columns, names is not None)
    opts = Options(
        select, "payload" in wanted, check_crc, tolerate_truncation, on_damage, tuple(wanted)
    )
    probes = [_probe(src, size) for src in files]
    parts = plan(probes, size if size is not None else max(p[0] for p in probes) + 1)
    meta = _meta(dd, names, opts.payload, wanted)
    stamps = [os.path.getmtime(f.path) if f.fs is None else None for f in files]
    token = dask.base.tokenize(
        [(f.name, p, t) for f, p, t in zip(files, probes, stamps)], size, opts, storage_options
    )
    delayed = dask.delayed
    state: Any = _State()
    outs = []
    for i, part in enumerate(parts):
        src = files[part.file]
        length, interval = probes[part.file]
        piece = delayed(read_piece, pure=True)(
            src, names, part, length, interval or 0, opts, dask_key_name=f"ssfile-read-{token}-{i}"
        )
        summary = delayed(_summary, pure=True)(piece, dask_key_name=f"ssfile-sum-{token}-{i}")
        outs.append(
            delayed(_finish, pure=True)(
                piece, state, part, src.name, names, opts, dask_key_name=f"ssfile-part-{token}-{i}"
            )
        )
        state = delayed(_advance, pure=True)(
            state, summary, part, dask_key_name=f"ssfile-state-{token}-{i}"
        )
    with dask.config.set({"dataframe.convert-string": False}):  # payloads are bytes, not text
        return dd.from_delayed(outs, meta=meta, divisions=None, verify_meta=True)


def _columns(columns: list[str] | None, many: bool) -> list[str]:
    have = [c for c in COLUMNS if many or c != "file"]
    if columns is None:
        return have
    if isinstance(columns, str):
        raise TypeError(f"columns is a list of column names, not {columns!r}")
    unknown = [c for c in columns if c not in have]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}: the columns are {have}")
    return list(columns)


def _probe(src: sources.Source, blocksize: int | None) -> tuple[int, int | None]:
    """(size, beacon interval) of a file; the interval only when the file will be split
    and its header reads (a file whose header does not is one partition, which raises)."""
    if src.fs is None:
        length = os.path.getsize(src.path)
    else:
        try:
            length = int(src.fs.size(src.path))
        except FileNotFoundError:
            raise FileNotFoundError(2, "No such file", src.name) from None
    if blocksize is None or length <= blocksize:
        return length, None
    if src.fs is None:
        with open(src.path, "rb") as f:
            head = f.read(K.HEADER_SIZE)
    else:
        head = bytes(src.fs.cat_file(src.path, start=0, end=K.HEADER_SIZE))
    try:
        return length, parse_file_header(head, 0).beacon_interval
    except FormatError:
        return length, None


def _meta(dd: Any, names: list[str] | None, payload: bool, wanted: list[str]) -> Any:
    from dask.dataframe.utils import clear_known_categories

    meta = empty_frame(names, payload)[wanted]
    if "stream_key" in wanted:  # known only once the partitions are read
        meta = clear_known_categories(meta, cols=["stream_key"])  # type: ignore[no-untyped-call]
    return meta


@dataclass(frozen=True)
class _State:
    """What the partitions before this one leave behind (see the module docstring)."""

    rows: int = 0
    file: int = -1
    ended: bool = False  # this file's EOS was read
    error: FormatError | None = None
    reported: int = 0  # this file's damage is reported up to this offset


@dataclass(frozen=True)
class _Summary:
    rows: int
    ended: bool
    error: FormatError | None
    damage_end: int


def _summary(piece: Piece) -> _Summary:
    rows = 0 if piece.frame is None else len(piece.frame)
    end = max((off + n for off, n, _ in piece.damage), default=0)
    return _Summary(rows, piece.ended, piece.error, end)


def _in_file(state: _State, part: Part) -> _State:
    return state if state.file == part.file else _State(state.rows, part.file, error=state.error)


def _advance(state: _State, summary: _Summary, part: Part) -> _State:
    state = _in_file(state, part)
    if state.error is not None or state.ended:
        return state
    return replace(
        state,
        rows=state.rows + summary.rows,
        ended=summary.ended,
        error=summary.error,
        reported=max(state.reported, summary.damage_end),
    )


def _finish(
    piece: Piece, state: _State, part: Part, name: str, files: list[str] | None, opts: Options
) -> Any:
    """Partition ``part``'s DataFrame, given what the partitions before it left (``state``)."""
    pd = _deps.pandas()
    wanted = list(opts.columns)
    state = _in_file(state, part)
    if state.error is not None:
        raise state.error  # the first error, as to_pandas raises it
    if state.ended or piece.frame is None:  # after the EOS: not part of the file
        if piece.error is not None and not state.ended:
            raise piece.error
        frame = empty_frame(files, opts.payload)[wanted]
    else:
        frame = piece.frame[wanted]
        _warn(piece, state, name)
    frame.index = pd.RangeIndex(state.rows, state.rows + len(frame))
    return frame


def _warn(piece: Piece, state: _State, name: str) -> None:
    """One DamageWarning for the ranges this partition skipped that no earlier one reported
    (a damaged range that crosses a partition boundary is seen from both sides)."""
    ranges, reasons = [], []
    for off, n, why in piece.damage:
        start = max(off, state.reported)
        if off + n > start:
            ranges.append((start, off + n - start))
            reasons.append(why)
    if ranges:
        warnings.warn(DamageWarning(ranges, reasons, name), stacklevel=2)
