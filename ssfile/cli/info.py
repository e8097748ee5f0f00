"""``ssfile info FILE [--json]``: what is in a recording.

Header fields, file size, message count; per (stream, shard): messages, first and last
sequence and time (in file order), payload bytes; beacon count; whether it ends with an
EOS (and bytes after it); the bytes of a torn tail; checksum mismatches.  Reading every
byte takes a while on a large file: on a terminal a progress bar appears on stderr when
it takes more than half a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import FormatError, UsageError
from ..file.output import STDOUT, refuse_same
from ..file.summary import Summary, summarise, to_json
from . import EXIT_OK, EXIT_PROBLEMS
from .inputs import require_seekable

__all__ = ["Summary", "add_parser", "run", "summarise", "to_json", "to_text"]

EPILOG = """Damaged bytes are read past (the resync verify uses): every intact message is
counted, and each damaged range is listed with its offset and length.
exit status: 0 ok; 1 the file has checksum mismatches, damaged ranges or a torn tail;
2 not a readable .ss file."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "info",
        help="summarise a .ss file: header, streams, beacons, EOS, torn tail",
        description="Read a whole .ss file and summarise it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="FILE", help="the .ss file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def _progress(size: int):  # type: ignore[no-untyped-def]
    """A tqdm bar on a terminal (after 0.5 s), else None."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        delay=0.5,
        file=sys.stderr,
        leave=False,
        desc="reading",
    )


def to_text(info: dict[str, object]) -> str:
    h = info["header"]
    assert isinstance(h, dict)
    lines = [
        f"file:             {info['file']}",
        f"size:             {info['size']} bytes",
        f"file name:        {h['file_name']}",
        f"created at:       {h['created_at']}",
        f"beacon interval:  {h['beacon_interval']}",
        f"messages:         {info['messages']}",
        f"beacons:          {info['beacons']}",
        f"eos:              {'yes' if info['eos'] else 'no'}"
        + (f" ({info['bytes_after_eos']} bytes after it)" if info["bytes_after_eos"] else ""),
        f"torn tail:        {info['torn_tail_bytes']} bytes",
        f"checksum errors:  {info['checksum_errors']}",
        f"damaged:          {len(info['damaged_ranges'])} ranges, "  # type: ignore[arg-type]
        f"{info['damaged_bytes']} bytes (messages after them are counted)",
    ]
    for d in info["damaged_ranges"]:  # type: ignore[attr-defined]
        end = d["offset"] + d["length"]
        lines.append(f"  at offset {d['offset']}..{end} ({d['length']} bytes): {d['reason']}")
    if info["error"]:
        lines.append(f"error:            {info['error']}")
    rows = [
        (
            "STREAM",
            "SHARD",
            "MESSAGES",
            "FIRST SEQ",
            "LAST SEQ",
            "FIRST TIME",
            "LAST TIME",
            "PAYLOAD BYTES",
        )
    ]
    for st in info["streams"]:  # type: ignore[attr-defined]
        rows.append(
            (
                st["stream_key"],
                str(st["shard_id"]),
                str(st["messages"]),
                str(st["first_sequence"]),
                str(st["last_sequence"]),
                st["first_timestamp"],
                st["last_timestamp"],
                str(st["payload_bytes"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines.append("streams:")
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    require_seekable(args.path, "info")
    refuse_same(STDOUT, [args.path])  # `>> FILE` would append text to the recording
    with open(args.path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        bar = _progress(size)
        try:
            s = summarise(f, size, bar)
        except FormatError as err:
            raise UsageError(str(err.with_path(args.path))) from err
        finally:
            if bar is not None:
                bar.close()
    info = to_json(args.path, s)
    if args.json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(to_text(info))
    problems = s.checksum_errors or s.torn_tail_offset is not None or s.error or s.damage
    return EXIT_PROBLEMS if problems else EXIT_OK
