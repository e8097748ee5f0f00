"""``ssfile.to_pandas``: a recording as a DataFrame."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import _deps
from .arrays import Columns, to_numpy
from .timeargs import TimeArg

if TYPE_CHECKING:
    import pandas as pd


def columns_to_frame(cols: Columns, *, payload: bool = True) -> Any:
    """The DataFrame of :class:`Columns`: ``stream_key`` (categorical), ``shard_id`` and
    ``sequence`` (uint64), ``timestamp`` (datetime64[ms, UTC]), ``offset`` (int64), then
    ``payload`` (bytes objects) and any expanded JSON columns."""
    pd = _deps.pandas()
    data: dict[str, Any] = {}
    if cols.files is not None:  # several files: which one each row came from
        data["file"] = pd.Categorical.from_codes(cols.file_codes, categories=cols.files)
    data |= {
        "stream_key": pd.Categorical.from_codes(cols.stream_codes, categories=cols.stream_keys),
        "shard_id": cols.shard_id,
        "sequence": cols.sequence,
        "timestamp": pd.DatetimeIndex(cols.timestamp).tz_localize("UTC"),
        "offset": cols.offset,
    }
    if payload and cols.payload is not None:
        data["payload"] = cols.payload
    elif payload and cols.payload_buffer is not None:
        data["payload"] = cols.payloads()
    for name, values in cols.json.items():
        data[name] = pd.Series(list(values), dtype=None).infer_objects()
    frame = pd.DataFrame(data, copy=False)
    frame.attrs["ssfile"] = {
        "file_name": cols.header.file_name,
        "ended": cols.ended,
        "torn_tail": cols.torn_tail,
        "damage": list(cols.damage),
    }
    if cols.file_info is not None:
        frame.attrs["ssfile"]["files"] = cols.file_info
    return frame


def to_pandas(
    path: str | os.PathLike[str] | list[str | os.PathLike[str]],
    streams: str | Iterable[str] | None = None,
    shards: int | Iterable[int] | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    payload: bool = True,
    json: bool = False,
    *,
    check_crc: bool = True,
    tolerate_truncation: bool = False,
    on_damage: str = "raise",
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Read the messages of ``path`` into a :class:`pandas.DataFrame`, one row per message
    in file order (columns: see :func:`columns_to_frame`).

    Arguments as :func:`ssfile.to_numpy` (``on_damage="skip"``: ``frame.attrs["ssfile"]
    ["damage"]`` lists the skipped ranges).  ``payload=True`` adds a ``payload`` column of
    bytes.  ``json=True`` adds one ``payload.<dotted.path>`` column per JSON field; with it
    the ``payload`` column keeps only the payloads that are not JSON objects (None for
    the expanded rows) -- the full rule is in :mod:`ssfile.export.jsonflat`.  ``path``: one
    file, an fsspec URL, a glob or a list (a glob or a list adds a first ``file`` column).
    """
    _deps.pandas()
    cols = to_numpy(
        path,
        streams,
        shards,
        since,
        until,
        "bytes" if payload else False,
        json,
        check_crc=check_crc,
        tolerate_truncation=tolerate_truncation,
        on_damage=on_damage,
        storage_options=storage_options,
    )
    return columns_to_frame(cols, payload=payload)
