"""Several files read as one: per-file :class:`~ssfile.export.arrays.Columns` joined end to end.

Rows keep the order of the file list, then file order.  Stream keys are the union in order
of first appearance (codes remapped), JSON columns too (a file without a field has None in
it), and a ``file`` column (codes into :attr:`Columns.files`) says where each row came from.
``file_info`` keeps, per file, its header, whether it ended with an EOS and its torn tail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .sources import Resolved, Source, local_file


def each(
    resolved: Resolved,
    read: Callable[[str], Any],
    remote: Callable[[Source], Any] | None = None,
) -> Iterator[tuple[str, Any]]:
    """``(name, read(local path))`` for every file, in order (remote files are copied to a
    temporary file one at a time, so only one copy exists at once), or ``remote(source)``
    for a remote file when ``remote`` is given (it reads what it needs itself)."""
    for src in resolved.files:
        if remote is not None and src.fs is not None:
            yield src.name, remote(src)
            continue
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


def cat(np: Any, arrays: list[Any], dtype: Any) -> Any:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
