"""``ssfile.to_arrow``: a recording as a :class:`pyarrow.Table` (the ``arrow`` extra).

Columns: ``file`` (only for a glob or a list of files; dictionary<int32, string>),
``stream_key`` dictionary<int32, string>, ``shard_id`` uint64, ``sequence`` uint64,
``timestamp`` timestamp[ms, tz=UTC], ``offset`` int64, ``payload`` large_binary, then with
``json=True`` the ``payload.<field>`` columns :func:`ssfile.to_pandas` gives.

The arrays are the scan's own numpy buffers, wrapped, not copied: the payload column has
one chunk per scan window whose data buffer *is* that window's payload bytes (only the
offsets are new), and the integer columns wrap the scan's columns.  Stream key
dictionaries only grow from batch to batch (codes in order of first use), so the batches
also stream into an Arrow IPC file as dictionary deltas.  The schema metadata ``ssfile``
holds JSON: the file header (``file_name``, ``created_at_ms``, ``beacon_interval``),
``ended``, ``torn_tail`` and, for several files, ``files`` (the same per file).
"""

from __future__ import annotations

import json as _json
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import check_on_damage
from . import _deps, many, sources
from .columns import Scan, scan
from .seeking import bounds
from .timeargs import TimeArg, selection
from .window import Options, read_window

if TYPE_CHECKING:
    import pyarrow as pa

METADATA_KEY = b"ssfile"
BASE = ("stream_key", "shard_id", "sequence", "timestamp", "offset")


def schema(pa: Any, *, payload: bool = True, files: bool = False) -> Any:
    """The schema of :func:`to_arrow` without JSON columns."""
    fields = [pa.field("file", pa.dictionary(pa.int32(), pa.string()))] if files else []
    fields += [
        pa.field("stream_key", pa.dictionary(pa.int32(), pa.string())),
        pa.field("shard_id", pa.uint64()),
        pa.field("sequence", pa.uint64()),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("offset", pa.int64()),
    ]
    if payload:
        fields.append(pa.field("payload", pa.large_binary()))
    return pa.schema(fields)


class KeyMap:
    """Stream keys in order of first use: scan codes in, growing dictionary codes out."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def codes(self, np: Any, codes: Any, names: list[str]) -> Any:
        if not len(codes):
            return np.zeros(0, dtype=np.int32)
        used = np.flatnonzero(np.bincount(codes, minlength=len(names)))
        lut = np.zeros(max(len(names), 1), dtype=np.int32)
        for code in used.tolist():  # scan codes are in order of first appearance
            name = names[code]
            got = self.index.get(name)
            if got is None:
                got = self.index[name] = len(self.names)
                self.names.append(name)
            lut[code] = got
        return lut[codes]


def wrap(pa: Any, typ: Any, array: Any) -> Any:
    """An Arrow array over the memory of the 1-D numpy ``array`` (no copy when contiguous)."""
    np = _deps.numpy()
    array = np.ascontiguousarray(array)
    return pa.Array.from_buffers(typ, len(array), [None, pa.py_buffer(array)])


def binary(pa: Any, np: Any, data: Any, lengths: Any) -> Any:
    """large_binary over ``data`` (payloads back to back) with these lengths."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.large_binary(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def scan_batches(
    pa: Any,
    np: Any,
    got: Scan,
    keys: KeyMap,
    *,
    payload: bool,
    file: tuple[int, Any] | None = None,
) -> Iterator[Any]:
    """Record batches of a scan (``payload``: the scan ran with ``payload="buffer"``): one
    per payload piece, so every payload buffer is used as it is.  ``file``: (code,
    dictionary) of the ``file`` column."""
    c = got.columns
    codes = keys.codes(np, c["code"], got.keys)
    dictionary = pa.array(keys.names, pa.string())
    n = len(codes)
    if payload:
        ends = np.cumsum(c["length"])
        piece_ends = np.cumsum([len(p) for p in got.payloads], dtype=np.int64)
        rows = np.searchsorted(ends, piece_ends, side="right").tolist()
        starts = [0, *rows[:-1]]
        ranges = list(zip(starts, rows, got.payloads))
        if ranges:
            ranges[-1] = (ranges[-1][0], n, ranges[-1][2])  # trailing empty payloads
    else:
        ranges = [(0, n, None)] if n else []
    sch = schema(pa, payload=payload, files=file is not None)
    for lo, hi, piece in ranges:
        arrays = []
        if file is not None:
            ids = np.full(hi - lo, file[0], dtype=np.int32)
            arrays.append(pa.DictionaryArray.from_arrays(wrap(pa, pa.int32(), ids), file[1]))
        arrays += [
            pa.DictionaryArray.from_arrays(wrap(pa, pa.int32(), codes[lo:hi]), dictionary),
            wrap(pa, pa.uint64(), c["shard_id"][lo:hi]),
            wrap(pa, pa.uint64(), c["sequence"][lo:hi]),
            wrap(pa, pa.timestamp("ms", tz="UTC"), c["timestamp_ms"][lo:hi]),
            wrap(pa, pa.int64(), c["offset"][lo:hi]),
        ]
        if payload:
            arrays.append(binary(pa, np, piece, c["length"][lo:hi]))
        yield pa.RecordBatch.from_arrays(arrays, schema=sch)


def header_info(header: Any, ended: bool, torn_tail: int | None) -> dict[str, Any]:
    return {
        "file_name": header.file_name,
        "created_at_ms": header.created_at_ms,
        "beacon_interval": header.beacon_interval,
        "ended": ended,
        "torn_tail": torn_tail,
    }


def metadata(infos: list[dict[str, Any]], files: bool) -> dict[bytes, bytes]:
    """The ``ssfile`` schema metadata: the first file's header fields (+ ``files``)."""
    first = {k: v for k, v in infos[0].items() if k != "file"} if infos else {}
    if files:
        first = {**first, "ended": all(i["ended"] for i in infos), "files": infos}
    return {METADATA_KEY: _json.dumps(first).encode()}


def json_array(pa: Any, values: Any) -> Any:
    """An Arrow column of Python values; mixed types that Arrow cannot hold in one column
    become their JSON text (None stays null)."""
    items = list(values)
    try:
        return pa.array(items)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else _json.dumps(v) for v in items], pa.large_string())


def columns_to_table(cols: Any, *, payload: bool = True) -> Any:
    """The table of :class:`~ssfile.export.arrays.Columns` (``to_numpy``'s result): the
    integer columns and a ``payload_buffer`` are wrapped without copying."""
    pa = _deps.pyarrow()
    np = _deps.numpy()
    names, arrays = [], []
    if cols.files is not None:
        names.append("file")
        arrays.append(
            pa.DictionaryArray.from_arrays(
                wrap(pa, pa.int32(), cols.file_codes.astype(np.int32)),
                pa.array(cols.files, pa.string()),
            )
        )
    names += list(BASE)
    arrays += [
        pa.DictionaryArray.from_arrays(
            wrap(pa, pa.int32(), cols.stream_codes.astype(np.int32)),
            pa.array(cols.stream_keys, pa.string()),
        ),
        wrap(pa, pa.uint64(), cols.shard_id),
        wrap(pa, pa.uint64(), cols.sequence),
        wrap(pa, pa.timestamp("ms", tz="UTC"), cols.timestamp.view(np.int64)),
        wrap(pa, pa.int64(), cols.offset),
    ]
    if payload and cols.payload_buffer is not None:
        names.append("payload")
        arrays.append(binary(pa, np, cols.payload_buffer, np.diff(cols.payload_offsets)))
    elif payload and cols.payload is not None:
        names.append("payload")
        arrays.append(pa.array(list(cols.payload), pa.large_binary()))
    for name, values in cols.json.items():
        names.append(name)
        arrays.append(json_array(pa, values))
    table = pa.Table.from_arrays(arrays, names=names)
    infos = cols.file_info or [header_info(cols.header, cols.ended, cols.torn_tail)]
    return table.replace_schema_metadata(metadata(infos, cols.files is not None))


def to_arrow(
    source: str | os.PathLike[str] | list[str | os.PathLike[str]],
    streams: str | Iterable[str] | None = None,
    shards: int | Iterable[int] | None = None,
    since: TimeArg = None,
    until: TimeArg = None,
    payload: bool = True,
    json: bool = False,
    on_damage: str = "raise",
    *,
    check_crc: bool = True,
    tolerate_truncation: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """Read ``source`` into a :class:`pyarrow.Table` (columns: see the module docstring).

    Arguments as :func:`ssfile.to_numpy`: ``source`` is a path, an fsspec URL, a glob or a
    list of them; a glob or a list adds the ``file`` column.  ``json=True`` adds the
    ``payload.<field>`` columns (``payload`` then keeps only the payloads that are not JSON
    objects); a field whose values Arrow cannot hold in one type holds their JSON text.
    ``on_damage="skip"`` goes past damaged bytes as :func:`ssfile.to_numpy` does (the rows
    are the skipping reader's messages, a :class:`~ssfile.errors.DamageWarning` per range).
    """
    pa = _deps.pyarrow()
    np = _deps.numpy()
    check_on_damage(on_damage)
    if json or on_damage == "skip":
        from .arrays import to_numpy

        cols = to_numpy(
            source,
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
        return columns_to_table(cols, payload=payload)
    select = selection(streams, shards, since, until)

    def read(path: str) -> Scan:
        start, stop = bounds(
            path, select.since_ms, select.until_ms, tolerate_truncation=tolerate_truncation
        )
        return scan(
            path,
            payload="buffer" if payload else None,
            check_crc=check_crc,
            select=select,
            start=start,
            stop=stop,
            tolerate_truncation=tolerate_truncation,
        )

    def window(src: sources.Source) -> Scan:
        opts = Options(select, payload, check_crc, tolerate_truncation, "raise")
        return read_window(src, opts, "buffer" if payload else None)

    resolved = sources.resolve(source, storage_options)
    if resolved is None:
        parts = [(os.fspath(source), read(os.fspath(source)))]  # type: ignore[arg-type]
    else:
        windowed = select.since_ms is not None or select.until_ms is not None
        parts = list(many.each(resolved, read, window if windowed else None))
    files = resolved is not None and resolved.many
    names = [name for name, _got in parts]
    file_dictionary = pa.array(names, pa.string())
    keys = KeyMap()
    batches: list[Any] = []
    for i, (_name, got) in enumerate(parts):
        file = (i, file_dictionary) if files else None
        batches.extend(scan_batches(pa, np, got, keys, payload=payload, file=file))
    infos = [
        {"file": name, **header_info(got.header, got.ended, got.torn_tail)} for name, got in parts
    ]
    sch = schema(pa, payload=payload, files=files)
    table = pa.Table.from_batches(batches, schema=sch)
    if len(batches) > 1:
        table = table.unify_dictionaries()
    return table.replace_schema_metadata(metadata(infos, files))
