"""Record batches (as :mod:`ssfile.export.arrow` builds them) written to Parquet, Arrow IPC,
JSON lines or CSV, one batch at a time: memory is one batch, whatever the file size.

* ``.parquet``: the batches' schema and its ``ssfile`` metadata, zstd by default;
* ``.arrow``: the Arrow IPC *file* format (stream key dictionaries written as deltas);
* ``.jsonl``: one JSON object per message: ``stream_key``, ``shard_id``, ``sequence``,
  ``timestamp`` (ISO 8601, UTC, milliseconds, ``Z``), ``offset``, and ``payload`` (the
  text, when the payload is UTF-8) or ``payload_base64`` (when it is not);
* ``.csv``: a header line, then the same fields as columns (``payload`` empty and
  ``payload_base64`` filled when the payload is not UTF-8).
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from ..types import ms_to_datetime
from . import _deps

FORMATS = (".parquet", ".arrow", ".jsonl", ".csv")
FIELDS = ["stream_key", "shard_id", "sequence", "timestamp", "offset"]


def iso(ms: int) -> str:
    return ms_to_datetime(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write(
    batches: Iterable[Any],
    out: BinaryIO,
    fmt: str,
    schema: Any,
    *,
    compression: str = "zstd",
    trailer: Callable[[], dict[str, str]] | None = None,
) -> int:
    """Write ``batches`` to the open binary file ``out`` in format ``fmt`` (an extension of
    :data:`FORMATS`).  ``trailer()``: key-value metadata known only at the end, added to a
    Parquet footer (other formats have no place for it).  Returns the number of rows."""
    pa = _deps.pyarrow()
    rows = 0
    if fmt == ".parquet":
        import pyarrow.parquet as pq

        sink: Any = pq.ParquetWriter(
            out, schema, compression=None if compression == "none" else compression
        )
    elif fmt == ".arrow":
        options = pa.ipc.IpcWriteOptions(emit_dictionary_deltas=True)
        sink = pa.ipc.new_file(out, schema, options=options)
    elif fmt in (".jsonl", ".csv"):
        sink = _TextSink(out, fmt, "payload" in schema.names)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    try:
        for batch in batches:
            sink.write_batch(batch)
            rows += batch.num_rows
        if trailer is not None and fmt == ".parquet":
            sink.add_key_value_metadata(trailer())
    finally:
        sink.close()
    return rows


class _TextSink:
    """JSON lines or CSV rows from record batches."""

    def __init__(self, out: BinaryIO, fmt: str, payload: bool) -> None:
        self.out, self.jsonl, self.payload = out, fmt == ".jsonl", payload
        self.fields = FIELDS + (["payload", "payload_base64"] if payload else [])
        if not self.jsonl:
            self.out.write((",".join(self.fields) + "\r\n").encode())

    def write_batch(self, batch: Any) -> None:
        np = _deps.numpy()
        n = batch.num_rows
        keys = batch.column("stream_key").to_pylist()
        shards = batch.column("shard_id").to_numpy().tolist()
        seqs = batch.column("sequence").to_numpy().tolist()
        stamps = batch.column("timestamp").cast("int64").to_numpy().astype(np.int64).tolist()
        offsets = batch.column("offset").to_numpy().tolist()
        payloads = batch.column("payload").to_pylist() if self.payload else [None] * n
        rows = []
        for key, shard, seq, ts, offset, data in zip(keys, shards, seqs, stamps, offsets, payloads):
            row: dict[str, Any] = {
                "stream_key": key,
                "shard_id": shard,
                "sequence": seq,
                "timestamp": iso(ts),
                "offset": offset,
            }
            if self.payload:
                try:
                    row["payload"] = data.decode("utf-8")
                except UnicodeDecodeError:
                    row["payload_base64"] = base64.b64encode(data).decode("ascii")
            rows.append(row)
        if self.jsonl:
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            self.out.write(text.encode("utf-8"))
        else:
            buf = _Lines()
            csv.DictWriter(buf, self.fields).writerows(rows)
            self.out.write("".join(buf.parts).encode("utf-8"))

    def close(self) -> None:
        self.out.flush()


class _Lines:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)
