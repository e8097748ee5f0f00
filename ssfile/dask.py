"""Recordings as Dask DataFrames, for data that outgrows one machine (the ``dask`` extra).

    import ssfile.dask
    df = ssfile.dask.read_ss("s3://bucket/recordings/*.ss", storage_options={...})
    df.groupby("stream_key").size().compute()

Importing this module does not import Dask; :func:`read_ss` does (a missing one raises
:class:`~ssfile.errors.MissingDependency` naming the extra).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .export.daskframe import read_ss as _read_ss
from .export.timeargs import TimeArg

if TYPE_CHECKING:
    import dask.dataframe as dd


def read_ss(
    urlpath: str | os.PathLike[str] | list[str | os.PathLike[str]],
    blocksize: int | str | None = "256MiB",
    columns: list[str] | None = None,
    streams: str | Iterable[str] | None = None,
    shards: int | Iterable[int] | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    storage_options: dict[str, Any] | None = None,
    on_damage: str = "raise",
    *,
    check_crc: bool = True,
    tolerate_truncation: bool = False,
) -> dd.DataFrame:
    """A lazy :class:`dask.dataframe.DataFrame` of the messages of ``urlpath``.

    ``urlpath``: what :func:`ssfile.to_pandas` takes -- a path, an fsspec URL (``s3://``,
    ``http(s)://``, ``memory://`` ...; ``storage_options`` go to fsspec), a glob or a list.
    Computed, the result equals ``to_pandas`` of the same arguments row for row: same
    columns and dtypes (a glob or a list adds the ``file`` column), same order, and the same
    index (row numbers over all the files).  ``columns`` keeps a subset of them (leaving
    out ``payload`` reads no payload bytes); ``streams``/``shards``/``since``/``until`` and
    ``check_crc``/``tolerate_truncation`` are those of ``to_pandas`` (JSON expansion is not
    offered: its columns are not known before the data is read).

    Each file no larger than ``blocksize`` (bytes, or text such as ``"64MiB"``; None: never
    split) is one partition.  A larger file is split **at beacons**, near every multiple of
    ``blocksize``: a partition decodes from the first frame after its first beacon, and a
    frame that a beacon cuts belongs to the partition where it starts, so one large
    recording is read in parallel.  ``divisions`` are unknown; the categories of
    ``stream_key`` too, until computed (the ``file`` column's are known).

    ``on_damage`` as for ``to_pandas``: ``"raise"`` raises the error the whole-file read
    would (the first one, in file order), ``"skip"`` gives every intact message exactly
    once, and each skipped range is reported once by a :class:`~ssfile.errors.DamageWarning`,
    raised where the partition is computed (with ``dask.distributed``, in the worker's log).
    """
    frame: dd.DataFrame = _read_ss(
        urlpath,
        blocksize,
        columns,
        streams,
        shards,
        since,
        until,
        storage_options,
        on_damage,
        check_crc=check_crc,
        tolerate_truncation=tolerate_truncation,
    )
    return frame


__all__ = ["read_ss"]
