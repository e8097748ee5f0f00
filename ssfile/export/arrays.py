"""``ssfile.to_numpy``: a recording as numpy columns, from the vectorised scan."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import check_on_damage
from ..format.records import FileHeader
from . import _deps, jsonflat
from .columns import scan
from .seeking import bounds
from .timeargs import TimeArg, selection

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


def to_numpy(
    path: str | os.PathLike[str],
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
    """
    check_on_damage(on_damage)
    np = _deps.numpy()
    select = selection(streams, shards, since, until)
    mode = {True: "buffer", False: None, "buffer": "buffer", "bytes": "bytes"}.get(payload, "?")
    if mode == "?":
        raise ValueError(f"payload must be True, False, 'buffer' or 'bytes', not {payload!r}")
    if json:
        mode = "bytes"  # expanded rows need their bytes; see the rule in jsonflat
    start, stop = bounds(
        path,
        select.since_ms,
        select.until_ms,
        tolerate_truncation=tolerate_truncation,
        on_damage=on_damage,
    )
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
