"""The columns of a damaged file, read with :class:`ssfile.Reader` (``on_damage="skip"``).

The vectorised scan (:mod:`.columns`) assumes an intact file and raises at damage.  With
``on_damage="skip"`` the export falls back to this: the reader resumes after each damaged
range (warning with :class:`~ssfile.errors.DamageWarning`), and the rows are exactly the
messages it yields, filtered as the scan filters them.  Slower, but only damaged files
take this path.
"""

from __future__ import annotations

from typing import Any

from ..file.reader import Reader
from .scan_types import Scan, Selection


def reader_scan(
    np: Any,
    path: str,
    payload: str | None,
    check_crc: bool,
    select: Selection,
    start: int | None,
    stop: int | None,
    tolerate: bool,
) -> Scan:
    """A :class:`Scan` of ``path`` from the reader (``start``/``stop``: frame offsets)."""
    codes: dict[str, int] = {}
    rows: list[tuple[int, int, int, int, int]] = []
    payloads: list[bytes] = []
    with Reader(
        path, check_crc=check_crc, tolerate_truncation=tolerate, on_damage="skip"
    ) as reader:
        if start is not None:
            reader._restart(start, 0)  # a frame start found by a seek
        for m in reader:
            offset = m.offset if m.offset is not None else 0  # always set by the reader
            if stop is not None and offset >= stop:
                break
            code = codes.setdefault(m.stream_key, len(codes))
            if not _selected(select, m.stream_key, m.shard_id, m.timestamp_ms):
                continue
            rows.append((code, m.shard_id, m.sequence, m.timestamp_ms, offset))
            payloads.append(m.payload)
        header, ended, torn, damage = (
            reader.header,
            reader.ended,
            reader.torn_tail,
            list(reader.damage),
        )
    columns = {
        "code": np.array([r[0] for r in rows], dtype=np.int32),
        "shard_id": np.array([r[1] for r in rows], dtype=np.uint64),
        "sequence": np.array([r[2] for r in rows], dtype=np.uint64),
        "timestamp_ms": np.array([r[3] for r in rows], dtype=np.int64),
        "offset": np.array([r[4] for r in rows], dtype=np.int64),
        "length": np.array([len(p) for p in payloads], dtype=np.int64),
    }
    pieces: list[Any] = []
    if payload == "buffer":
        pieces = [np.frombuffer(b"".join(payloads), dtype=np.uint8)]
    elif payload == "bytes":
        pieces = [payloads]
    return Scan(header, list(codes), columns, pieces, ended, torn, damage)


def _selected(select: Selection, key: str, shard: int, ts: int) -> bool:
    return (
        (select.streams is None or key in select.streams)
        and (select.shards is None or shard in select.shards)
        and (select.since_ms is None or ts >= select.since_ms)
        and (select.until_ms is None or ts < select.until_ms)
    )


__all__ = ["reader_scan"]
