"""Messages read back from Parquet, Arrow IPC or JSON lines, for writing a ``.ss`` file.

Columns (JSON lines: fields) are named as :func:`ssfile.to_arrow` names them:
``stream_key`` (required), ``shard_id`` (default 0), ``sequence`` and ``timestamp``
(missing or null: the writer's default, one more than the stream's last sequence / now),
and ``payload`` from a binary or string column (JSON lines: ``payload`` text or
``payload_base64``).  Other columns (``offset``, ``file``, ``payload.<field>``) are
ignored.  Timestamps are an Arrow timestamp (naive = UTC), int milliseconds or text that
``--since`` accepts.  Tables are read a batch at a time, JSON lines a line at a time.

Every bad value raises :class:`BadInput` naming the row (``row N``,
1-based, for tables) or the line (``line N``): a missing column, a sequence that is not an
integer in [0, 2^64), a key that is not UTF-8 text, a line that is not a JSON object.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from ..errors import SSError, UsageError
from ..timefmt import parse_time
from ..types import MAX_U64
from . import _deps

BATCH_ROWS = 16384


class BadInput(SSError):
    """A row or line of the input cannot become a message (the message names it)."""


#: (stream_key, shard_id, sequence | None, timestamp_ms | None, payload, where)
Row = tuple[str, int, int | None, int | None, bytes, str]


#: Parquet footer key ``ssfile convert`` adds: ``{"ended": bool, "torn_tail": int | null}``
END_KEY = "ssfile.end"


def table_metadata(path: str, fmt: str) -> dict[str, Any]:
    """The ``ssfile`` metadata (header fields, ``ended``) of a Parquet or Arrow file."""
    meta = _open_table(path, fmt)[0].metadata or {}
    out: dict[str, Any] = {}
    for key in (b"ssfile", END_KEY.encode()):
        try:
            got = json.loads(meta.get(key, b"{}"))
        except ValueError:
            continue
        if isinstance(got, dict):
            out.update(got)
    return out


def _open_table(path: str, fmt: str) -> tuple[Any, Iterator[Any], int | None]:
    """(schema, record batches, row count) of a Parquet or Arrow IPC file."""
    pa = _deps.pyarrow()
    if fmt == ".parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except pa.ArrowInvalid as err:
            raise BadInput(f"{path}: not a Parquet file ({err})") from None
        footer = dict(pf.metadata.metadata or {})  # includes what was added at the end
        footer.pop(b"ARROW:schema", None)
        schema = pf.schema_arrow.with_metadata(footer)
        return schema, pf.iter_batches(batch_size=BATCH_ROWS), pf.metadata.num_rows
    source = pa.memory_map(path)
    try:
        reader = pa.ipc.open_file(source)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        return reader.schema, batches, None
    except pa.ArrowInvalid:
        try:
            stream = pa.ipc.open_stream(source)
        except pa.ArrowInvalid as err:
            raise BadInput(f"{path}: not an Arrow IPC file ({err})") from None
        return stream.schema, iter(stream), None


def table_rows(path: str, fmt: str) -> tuple[int | None, Iterator[list[Row]]]:
    """(row count if known, batches of rows) of a Parquet or Arrow file."""
    schema, batches, count = _open_table(path, fmt)
    names = set(schema.names)
    for need in ("stream_key", "payload"):
        if need not in names:
            raise BadInput(f"{path}: no {need!r} column (columns: {', '.join(schema.names)})")
    return count, _table_batches(batches, names)


def _table_batches(batches: Iterator[Any], names: set[str]) -> Iterator[list[Row]]:
    row = 0
    for batch in batches:
        n = batch.num_rows
        keys = _keys(batch.column("stream_key"), row)
        shards = _ints(batch, "shard_id", names, row, "shard_id", default=0)
        seqs = _ints(batch, "sequence", names, row, "sequence", default=None)
        stamps = _times(batch, names, row)
        payloads = _payloads(batch.column("payload"), row)
        wheres = [f"row {row + i + 1}" for i in range(n)]
        yield list(zip(keys, shards, seqs, stamps, payloads, wheres))
        row += n


def _keys(column: Any, row: int) -> list[str]:
    pa = _deps.pyarrow()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values = column.to_pylist()
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(f"row {row + i + 1}: stream_key is not UTF-8") from None
        if not isinstance(v, str):
            raise BadInput(f"row {row + i + 1}: stream_key {v!r} is not text")
        out.append(v)
    return out


def _ints(batch: Any, name: str, names: set[str], row: int, what: str, default: Any) -> list[Any]:
    if name not in names:
        return [default] * batch.num_rows
    out = []
    for i, v in enumerate(batch.column(name).to_pylist()):
        out.append(default if v is None else checked_int(v, f"row {row + i + 1}", what))
    return out


def checked_int(value: Any, where: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_U64:
        raise BadInput(f"{where}: {what} {value!r} is not an integer in [0, 2^64)")
    return value


def _times(batch: Any, names: set[str], row: int) -> list[int | None]:
    pa = _deps.pyarrow()
    if "timestamp" not in names:
        return [None] * batch.num_rows
    column = batch.column("timestamp")
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ms", tz=column.type.tz)).cast(pa.int64())
    return [checked_time(v, f"row {row + i + 1}") for i, v in enumerate(column.to_pylist())]


def checked_time(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_time(value)
        except UsageError as err:
            raise BadInput(f"{where}: timestamp: {err}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInput(f"{where}: timestamp {value!r} is not a time")
    return value


def _payloads(column: Any, row: int) -> list[bytes]:
    out = []
    for i, v in enumerate(column.to_pylist()):
        if isinstance(v, str):
            v = v.encode("utf-8")
        if not isinstance(v, bytes):
            raise BadInput(f"row {row + i + 1}: payload {v!r} is not binary or text")
        out.append(v)
    return out


def jsonl_rows(path: str) -> Iterator[list[Row]]:
    """Batches of rows of a JSON lines file (blank lines are skipped)."""
    batch: list[Row] = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            batch.append(jsonl_row(raw, f"line {number}"))
            if len(batch) >= BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


def jsonl_row(raw: bytes, where: str) -> Row:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise BadInput(f"{where}: not valid UTF-8 (byte {err.start + 1})") from None
    except ValueError as err:
        raise BadInput(f"{where}: not JSON ({err})") from None
    if not isinstance(obj, dict):
        raise BadInput(f"{where}: not a JSON object")
    key = obj.get("stream_key")
    if not isinstance(key, str):
        raise BadInput(f"{where}: stream_key {key!r} is not text")
    _utf8(key, where, "stream_key")
    shard = obj.get("shard_id")
    seq = obj.get("sequence")
    if "payload" in obj and isinstance(obj["payload"], str):
        payload = _utf8(obj["payload"], where, "payload")
    elif isinstance(obj.get("payload_base64"), str):
        try:
            payload = base64.b64decode(obj["payload_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(f"{where}: payload_base64 is not base64") from None
    else:
        raise BadInput(f"{where}: no payload (text) or payload_base64 field")
    return (
        key,
        0 if shard is None else checked_int(shard, where, "shard_id"),
        None if seq is None else checked_int(seq, where, "sequence"),
        checked_time(obj.get("timestamp"), where),
        payload,
        where,
    )


def _utf8(text: str, where: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape such as "\\ud800"
        raise BadInput(f"{where}: {what} is not valid Unicode text") from None
