"""Several files read as one: per-file :class:`~ssfile.export.arrays.Columns` joined end to end.

Rows keep the order of the file list, then file order.  Stream keys are the union in order
of first appearance (codes remapped), JSON columns too (a file without a field has None in
it), and a ``file`` column (codes into :attr:`Columns.files`) says where each row came from.
``file_info`` keeps, per file, its header, whether it ended with an EOS and its torn tail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import _deps
from .sources import Resolved, local_file


def each(resolved: Resolved, read: Callable[[str], Any]) -> Iterator[tuple[str, Any]]:
    """``(name, read(local path))`` for every file, in order (remote files are copied to a
    temporary file one at a time, so only one copy exists at once)."""
    for src in resolved.files:
        with local_file(src) as path:
            yield src.name, read(path)


def file_info(name: str, cols: Any) -> dict[str, Any]:
    h = cols.header
    return {
        "file": name,
        "file_name": h.file_name,
        "created_at_ms": h.created_at_ms,
        "beacon_interval": h.beacon_interval,
        "ended": cols.ended,
        "torn_tail": cols.torn_tail,
    }


def smallest_int(np: Any, count: int) -> Any:
    return np.int8 if count <= 127 else np.int16 if count <= 32767 else np.int32


def merge(parts: list[tuple[str, Any]], names: list[str]) -> Any:
    """One :class:`Columns` from ``parts`` (name, Columns), with the ``file`` column."""
    from .arrays import Columns

    np = _deps.numpy()
    keys: dict[str, int] = {}
    for _name, cols in parts:
        for key in cols.stream_keys:
            keys.setdefault(key, len(keys))
    code_type = smallest_int(np, len(keys))
    codes = [
        np.array([keys[k] for k in cols.stream_keys] or [0], dtype=code_type)[cols.stream_codes]
        for _name, cols in parts
    ]
    file_codes = [
        np.full(len(cols), names.index(name), dtype=smallest_int(np, len(names)))
        for name, cols in parts
    ]
    first = parts[0][1] if parts else None
    out = Columns(
        first.header if first is not None else None,  # type: ignore[arg-type]
        list(keys),
        _cat(np, codes, code_type),
        _cat(np, [c.shard_id for _n, c in parts], np.uint64),
        _cat(np, [c.sequence for _n, c in parts], np.uint64),
        _cat(np, [c.timestamp for _n, c in parts], "datetime64[ms]"),
        _cat(np, [c.offset for _n, c in parts], np.int64),
        ended=all(c.ended for _n, c in parts),
    )
    out.files = list(names)
    out.file_codes = _cat(np, file_codes, smallest_int(np, len(names)))
    out.file_info = [file_info(name, cols) for name, cols in parts]
    if first is not None and first.payload_buffer is not None:
        out.payload_buffer = _cat(np, [c.payload_buffer for _n, c in parts], np.uint8)
        sizes = [np.diff(c.payload_offsets) for _n, c in parts]
        out.payload_offsets = np.concatenate([[0], np.cumsum(_cat(np, sizes, np.int64))])
        out.payload_offsets = out.payload_offsets.astype(np.int64)
    if first is not None and first.payload is not None:
        out.payload = _cat(np, [c.payload for _n, c in parts], object)
    fields: dict[str, None] = {}
    for _name, cols in parts:
        fields.update(dict.fromkeys(cols.json))
    for field in fields:
        out.json[field] = _cat(
            np,
            [
                c.json[field] if field in c.json else np.full(len(c), None, dtype=object)
                for _n, c in parts
            ],
            object,
        )
    return out


def _cat(np: Any, arrays: list[Any], dtype: Any) -> Any:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
