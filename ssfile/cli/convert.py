"""``ssfile convert IN OUT``: a recording to Parquet, Arrow, JSON lines or CSV, and back.

The formats come from the extensions: ``.ss`` to ``.parquet`` (zstd unless
``--compression``), ``.arrow`` (Arrow IPC file), ``.jsonl`` or ``.csv``; ``.parquet``,
``.arrow`` or ``.jsonl`` to ``.ss``.  Columns are those of :func:`ssfile.to_arrow`
(:mod:`ssfile.export.outputs` and :mod:`ssfile.export.inputs` say what each format holds
and accepts).  ``--stream``/``--shard``/``--since``/``--until`` select messages as in
``ssfile cat`` (on a ``.ss`` input ``--since``/``--until`` seek).

Memory stays bounded on any input size: a ``.ss`` is scanned in chunks of about 32 MiB
of frames, tables are read a batch at a time.  A ``.ss`` written back takes its header
(file name, creation time, beacon interval) from the table's ``ssfile`` metadata when it
has one, and ends with an EOS unless the Parquet file says its recording had none.

OUT is written under a temporary name in its directory and renamed over OUT only when the
conversion succeeded: a failed or interrupted run leaves an existing OUT untouched.  OUT
may not be IN (the same file, through links too).  A bad row or line stops the run with
one line naming it (``row N``, ``line N``) and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from typing import Any

from ..errors import EncodeError, UsageError
from ..file.output import STDIN, NewFile, named, refuse_same
from ..format import constants as K
from . import EXIT_OK
from .cat import _non_negative
from .inputs import seekable_input
from .options import time_arg as _time
from .progress import add_progress_option, byte_bar, count_bar, show_progress

EPILOG = """formats by extension: .ss -> .parquet (zstd) | .arrow (IPC file) | .jsonl | .csv;
.parquet | .arrow | .jsonl -> .ss.  IN - is a .ss file on stdin (copied to a temporary
file first: the scan seeks).  A progress bar appears when stderr is a terminal.
times T: absolute (ISO 8601, no zone = UTC; YYYY-MM-DDTHH:MM:SS.fff; epoch ms) or relative
to now: now, -10m or 10m (ten minutes ago), +5m; units ms, s, m, h, d, w.
exit status: 0 ok; 1 bad input (a row, a line or a .ss format error; OUT is untouched);
2 bad usage, unsupported extensions, or IN and OUT are the same file; 130 Ctrl-C."""

TO_TABLE = (".parquet", ".arrow", ".jsonl", ".csv")
FROM_TABLE = (".parquet", ".arrow", ".jsonl")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "convert",
        help="convert .ss to Parquet/Arrow/JSON lines/CSV and back",
        description="Convert a .ss recording to .parquet, .arrow, .jsonl or .csv, or a "
        ".parquet, .arrow or .jsonl table back to .ss (formats by extension).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="the file to read; - for a .ss file on stdin")
    p.add_argument("output", metavar="OUT", help="the file to write (replaced on success)")
    p.add_argument(
        "--stream",
        "--streams",
        action="append",
        default=[],
        metavar="KEY",
        help="only this stream (repeat for several)",
    )
    p.add_argument(
        "--shard",
        "--shards",
        action="append",
        default=[],
        type=_non_negative,
        metavar="N",
        help="only this shard (repeat for several)",
    )
    p.add_argument("--since", type=_time, metavar="T", help="messages at or after T")
    p.add_argument("--until", type=_time, metavar="T", help="messages before T")
    p.add_argument(
        "--compression",
        default="zstd",
        choices=("zstd", "snappy", "gzip", "brotli", "lz4", "none"),
        help="Parquet compression (default zstd)",
    )
    p.add_argument(
        "--beacon-interval",
        type=int,
        metavar="N",
        help="beacon interval of a .ss output (default: the table's, else "
        f"{K.DEFAULT_BEACON_INTERVAL})",
    )
    add_progress_option(p)
    p.set_defaults(run=run)


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def run(args: argparse.Namespace) -> int:
    src, dst = ".ss" if args.input == "-" else _ext(args.input), _ext(args.output)
    if not ((src == ".ss" and dst in TO_TABLE) or (src in FROM_TABLE and dst == ".ss")):
        raise UsageError(
            f"cannot convert {src or 'no extension'} to {dst or 'no extension'}: .ss to "
            f"{', '.join(TO_TABLE)}, or {', '.join(FROM_TABLE)} to .ss"
        )
    if args.beacon_interval is not None and not (
        K.MIN_BEACON_INTERVAL <= args.beacon_interval <= K.MAX_BEACON_INTERVAL
    ):
        raise UsageError(
            f"--beacon-interval {args.beacon_interval} must be between "
            f"{K.MIN_BEACON_INTERVAL} and {K.MAX_BEACON_INTERVAL}"
        )
    if args.input == "-":  # stdin: a .ss file, copied to a temporary file (the scan seeks)
        refuse_same(args.output, [STDIN])
    with seekable_input(args.input, "convert") as local:
        args.input = local
        size = os.stat(local).st_size  # a missing input: exit 2 before anything is written
        progress = _progress(args, size if src == ".ss" else None)
        try:
            # a new file under a temporary name, renamed into place on success (spec/cli.md)
            with NewFile(args.output, inputs=[local]) as out, named(args.output):
                if src == ".ss":
                    _ss_to_table(args, dst, out.path, progress)
                else:
                    _table_to_ss(args, src, out.path, progress)
        finally:
            progress.close()
    return EXIT_OK


def _progress(args: argparse.Namespace, total: int | None) -> Any:
    show = show_progress(args)
    if total is not None:
        return byte_bar(total, "convert", show=show)
    return count_bar("convert", " msgs", show=show)


# ---- .ss -> table ---------------------------------------------------------------------------


def _ss_to_table(args: argparse.Namespace, fmt: str, tmp: str, progress: Any) -> None:
    from ..export import _deps, arrow, inputs, outputs
    from ..export.chunks import scan_chunks
    from ..export.seeking import bounds
    from ..export.timeargs import selection
    from ..file.reader import read_header

    pa, np = _deps.pyarrow(), _deps.numpy()
    header = read_header(args.input)
    select = selection(args.stream or None, args.shard or None, args.since, args.until)
    start, stop = bounds(args.input, select.since_ms, select.until_ms)
    chunks = scan_chunks(args.input, payload="buffer", select=select, start=start, stop=stop)
    info = arrow.header_info(header, False, None)
    del info["ended"], info["torn_tail"]  # unknown until the end; a .ss written back ends
    schema = arrow.schema(pa).with_metadata(arrow.metadata([info], False))
    keys = arrow.KeyMap()
    done = [0]
    end: dict[str, Any] = {"ended": False, "torn_tail": None}

    def batches() -> Iterator[Any]:
        for got in chunks:
            yield from arrow.scan_batches(pa, np, got, keys, payload=True)
            end.update(ended=got.ended, torn_tail=got.torn_tail)
            offsets = got.columns["offset"]
            if len(offsets):
                here = int(offsets[-1])
                progress.update(max(here - done[0], 0))
                done[0] = here

    with open(tmp, "wb") as out:
        outputs.write(
            batches(),
            out,
            fmt,
            schema,
            compression=args.compression,
            trailer=lambda: {inputs.END_KEY: json.dumps(end)},
        )
    progress.update(max(os.path.getsize(args.input) - done[0], 0))


# ---- table -> .ss ---------------------------------------------------------------------------


def _table_to_ss(args: argparse.Namespace, fmt: str, tmp: str, progress: Any) -> None:
    from ..export import inputs
    from ..file.writer import Writer, now_ms

    meta: dict[str, Any] = {}
    if fmt == ".jsonl":
        rows = inputs.jsonl_rows(args.input)
    else:
        meta = inputs.table_metadata(args.input, fmt)
        count, rows = inputs.table_rows(args.input, fmt)
        progress.total = count
    interval = args.beacon_interval or _meta_int(meta, "beacon_interval")
    name = meta.get("file_name")
    created = _meta_int(meta, "created_at_ms")
    streams = set(args.stream) if args.stream else None
    shards = set(args.shard) if args.shard else None
    with Writer(
        tmp,
        "w",
        beacon_interval=interval,
        file_name=name if isinstance(name, str) else os.path.basename(args.output),
        created_at=created,
        eos=meta.get("ended") is not False,
    ) as writer:
        for batch in rows:
            for key, shard, seq, ts, payload, where in batch:
                if ts is None:
                    ts = now_ms()
                if (
                    (streams is not None and key not in streams)
                    or (shards is not None and shard not in shards)
                    or (args.since is not None and ts < args.since)
                    or (args.until is not None and ts >= args.until)
                ):
                    continue
                if key == K.INTERNAL_KEY:
                    raise inputs.BadInput(f"{where}: the stream key {key} is reserved")
                try:
                    writer.write(
                        payload, stream_key=key, shard_id=shard, sequence=seq, timestamp=ts
                    )
                except (EncodeError, ValueError, OverflowError) as err:
                    raise inputs.BadInput(f"{where}: {err}") from None
            progress.update(len(batch))


def _meta_int(meta: dict[str, Any], key: str) -> int | None:
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
