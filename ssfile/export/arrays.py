"""``ssfile.to_numpy``: a recording as numpy columns, from the vectorised scan."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import check_on_damage
from ..format.records import FileHeader
from . import _deps, jsonflat, many, sources
from .columns import scan
from .seeking import bounds
from .timeargs import TimeArg, selection
from .window import Options, local_range_scan, read_window

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass
class Columns:
    """One entry per message, in file order.

    ``stream_codes`` index ``stream_keys`` (categorical codes: the smallest signed integer
    type that fits).  ``timestamp`` is ``datetime64[ms]`` (UTC), ``offset`` the absolute
    file offset of each frame.  Payloads, depending on ``payload=``: ``"buffer"`` (True)
    gives ``payload_buffer`` (uint8, every payload back to back) and ``payload_offsets``
    (int64, length n+1: payload i is ``payload_buffer[payload_offsets[i]:payload_offsets[i+1]]``);
    ``"bytes"`` gives ``payload``, an object array of bytes.  ``json`` holds the expanded
    JSON columns (see :mod:`ssfile.export.jsonflat` for the rule); with them, ``payload``
    keeps only the payloads that were not expanded (None for the others).
    """

    header: FileHeader
    stream_keys: list[str]
    stream_codes: Any
    shard_id: Any
    sequence: Any
    timestamp: Any
    offset: Any
    payload_offsets: Any = None
    payload_buffer: Any = None
    payload: Any = None
    json: dict[str, Any] = field(default_factory=dict)
    ended: bool = False
    torn_tail: int | None = None
    #: damaged ``(offset, length)`` ranges skipped with ``on_damage="skip"``
    damage: list[tuple[int, int]] = field(default_factory=list)
    # several files (a glob or a list, see ssfile.export.many): ``file_codes`` index ``files``
    files: list[str] | None = None
    file_codes: Any = None
    file_info: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.stream_codes)

    def __repr__(self) -> str:
        from ..display import columns_repr

        return columns_repr(self)

    def _repr_html_(self) -> str:
        from ..display import columns_html

        return columns_html(self)

    def payload_at(self, i: int) -> bytes:
        if self.payload is not None:
            return bytes(self.payload[i])
        if self.payload_buffer is None:
            raise ValueError("no payloads: call with payload=True")
        return self.payload_buffer[self.payload_offsets[i] : self.payload_offsets[i + 1]].tobytes()  # type: ignore[no-any-return]  # numpy via _deps

    def payloads(self) -> list[bytes]:
        return [self.payload_at(i) for i in range(len(self))] if len(self) else []

    def file(self) -> npt.NDArray[np.object_] | None:
        """The file of every message (an object array of str; None for a single file)."""
        if self.files is None:
            return None
        np = _deps.numpy()
        return np.array(self.files, dtype=object)[self.file_codes]  # type: ignore[no-any-return]

    def stream_key(self) -> npt.NDArray[np.object_]:
        """The stream key of every message (an object array of str)."""
        np = _deps.numpy()
        return np.array(self.stream_keys, dtype=object)[self.stream_codes]  # type: ignore[no-any-return]


def _codes(np: Any, codes: Any, keys: list[str]) -> tuple[Any, list[str]]:
    """Drop unused categories and shrink the codes to the smallest dtype."""
    present = np.zeros(max(len(keys), 1), dtype=bool)
    present[codes] = True
    used = np.flatnonzero(present)
    dtype = np.int8 if len(used) <= 127 else np.int16 if len(used) <= 32767 else np.int32
    remap = np.full(len(present), -1, dtype=dtype)
    remap[used] = np.arange(len(used))
    return remap[codes], [keys[i] for i in used.tolist()]


def join(parts: list[tuple[str, Columns]], names: list[str]) -> Columns:
    """One :class:`Columns` from ``parts`` (name, Columns), with the ``file`` column."""
    np = _deps.numpy()
    keys: dict[str, int] = {}
    for _name, cols in parts:
        for key in cols.stream_keys:
            keys.setdefault(key, len(keys))
    code_type = many.smallest_int(np, len(keys))
    codes = [
        np.array([keys[k] for k in cols.stream_keys] or [0], dtype=code_type)[cols.stream_codes]
        for _name, cols in parts
    ]
    file_codes = [
        np.full(len(cols), names.index(name), dtype=many.smallest_int(np, len(names)))
        for name, cols in parts
    ]
    first = parts[0][1] if parts else None
    out = Columns(
        first.header if first is not None else None,  # type: ignore[arg-type]
        list(keys),
        many.cat(np, codes, code_type),
        many.cat(np, [c.shard_id for _n, c in parts], np.uint64),
        many.cat(np, [c.sequence for _n, c in parts], np.uint64),
        many.cat(np, [c.timestamp for _n, c in parts], "datetime64[ms]"),
        many.cat(np, [c.offset for _n, c in parts], np.int64),
        ended=all(c.ended for _n, c in parts),
    )
    out.files = list(names)
    out.file_codes = many.cat(np, file_codes, many.smallest_int(np, len(names)))
    out.file_info = [many.file_info(name, cols) for name, cols in parts]
    if first is not None and first.payload_buffer is not None:
        out.payload_buffer = many.cat(np, [c.payload_buffer for _n, c in parts], np.uint8)
        sizes = [np.diff(c.payload_offsets) for _n, c in parts]
        out.payload_offsets = np.concatenate([[0], np.cumsum(many.cat(np, sizes, np.int64))])
        out.payload_offsets = out.payload_offsets.astype(np.int64)
    if first is not None and first.payload is not None:
        out.payload = many.cat(np, [c.payload for _n, c in parts], object)
    fields: dict[str, None] = {}
    for _name, cols in parts:
        fields.update(dict.fromkeys(cols.json))
    for name in fields:
        out.json[name] = many.cat(
            np,
            [
                c.json[name] if name in c.json else np.full(len(c), None, dtype=object)
                for _n, c in parts
            ],
            object,
        )
    return out


def to_numpy(
    path: str | os.PathLike[str] | list[str | os.PathLike[str]],
    streams: str | Iterable[str] | None = None,
    shards: int | Iterable[int] | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    payload: bool | str = True,
    json: bool = False,
    *,
    check_crc: bool = True,
    tolerate_truncation: bool = False,
    on_damage: str = "raise",
    storage_options: dict[str, Any] | None = None,
) -> Columns:
    """Read the messages of ``path`` into numpy columns (see :class:`Columns`).

    ``streams``/``shards`` keep only those keys/shard ids.  ``since``/``until`` keep
    ``since <= timestamp < until`` (int ms, datetime, or text such as ISO 8601) and seek to
    them.  ``payload``: True/"buffer", "bytes" or False.  ``json=True`` expands JSON-object
    payloads into :attr:`Columns.json` (object arrays).  ``check_crc`` verifies every
    payload checksum (vectorised; ``False`` is faster).  Errors are those of
    :class:`ssfile.Reader`, with the file offset; the EOS frame ends the data.
    ``on_damage="skip"``: go past damaged bytes as :class:`ssfile.Reader` does (the rows are
    exactly its messages; :attr:`Columns.damage` lists the skipped ranges, and a
    :class:`~ssfile.errors.DamageWarning` is emitted for each).

    ``path`` may also be an fsspec URL (``s3://``, ``http(s)://``, ``memory://`` ...; the
    ``remote`` extra, ``storage_options`` go to fsspec), a glob, or a list of these: rows
    follow the sorted file list, then file order, and a glob or a list adds the ``file``
    column (:attr:`Columns.files`; see :mod:`ssfile.export.sources`).
    """
    check_on_damage(on_damage)
    np = _deps.numpy()
    resolved = sources.resolve(path, storage_options)
    select = selection(streams, shards, since, until)
    mode = {True: "buffer", False: None, "buffer": "buffer", "bytes": "bytes"}.get(payload, "?")
    if mode == "?":
        raise ValueError(f"payload must be True, False, 'buffer' or 'bytes', not {payload!r}")
    if json:
        mode = "bytes"  # expanded rows need their bytes; see the rule in jsonflat
    if resolved is not None:
        names = [src.name for src in resolved.files]

        def window(src: sources.Source) -> Columns:
            opts = Options(select, mode is not None, check_crc, tolerate_truncation, on_damage)
            return from_scan(np, read_window(src, opts, mode), mode, payload, json)

        parts = list(
            many.each(
                resolved,
                lambda one: to_numpy(
                    one,
                    streams,
                    shards,
                    since,
                    until,
                    payload,
                    json,
                    check_crc=check_crc,
                    tolerate_truncation=tolerate_truncation,
                    on_damage=on_damage,
                ),
                window if select.since_ms is not None or select.until_ms is not None else None,
            )
        )
        merged: Columns = join(parts, names) if resolved.many else parts[0][1]
        return merged
    if isinstance(path, list):
        raise TypeError("a list of sources needs the many-file path (ssfile.export.sources)")
    start, stop = bounds(
        path,
        select.since_ms,
        select.until_ms,
        tolerate_truncation=tolerate_truncation,
        on_damage=on_damage,
    )
    if on_damage == "skip" and stop is not None and (start is None or start < stop):
        # the scan's view of the file ends silently at a damaged beacon before `stop`:
        # range_scan reads such a window with the skipping reader, as a remote window is read
        opts = Options(select, mode is not None, check_crc, tolerate_truncation, on_damage)
        got = local_range_scan(os.fspath(path), start, stop, opts, mode)
    else:
        got = scan(
            path,
            payload=mode,
            check_crc=check_crc,
            select=select,
            start=start,
            stop=stop,
            tolerate_truncation=tolerate_truncation,
            on_damage=on_damage,
        )
    return from_scan(np, got, mode, payload, json)


def from_scan(np: Any, got: Any, mode: str | None, payload: bool | str, json: bool) -> Columns:
    """The :class:`Columns` of a :class:`~ssfile.export.columns.Scan` (``mode``: the scan's
    payload mode; ``payload``/``json`` as :func:`to_numpy` takes them)."""
    c = got.columns
    codes, keys = _codes(np, c["code"], got.keys)
    out = Columns(
        got.header,
        keys,
        codes,
        c["shard_id"],
        c["sequence"],
        c["timestamp_ms"].view("datetime64[ms]"),
        c["offset"],
        ended=got.ended,
        torn_tail=got.torn_tail,
        damage=got.damage,
    )
    if mode == "buffer":
        pieces = got.payloads
        out.payload_buffer = (
            pieces[0]
            if len(pieces) == 1
            else np.concatenate(pieces)
            if pieces
            else np.zeros(0, np.uint8)
        )
        out.payload_offsets = offsets = np.zeros(len(c["length"]) + 1, np.int64)
        np.cumsum(c["length"], out=offsets[1:])
    elif mode == "bytes":
        out.payload = _objects(np, [p for part in got.payloads for p in part])
    if json:
        columns, raw = jsonflat.flatten(out.payload)
        out.json = {name: _objects(np, values) for name, values in columns.items()}
        out.payload = _objects(np, raw) if payload else None
    return out


def _objects(np: Any, values: list[Any]) -> Any:
    return np.fromiter(values, dtype=object, count=len(values))
