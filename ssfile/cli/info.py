"""``ssfile info FILE... [--json]``: what is in recordings.

Header fields, file size, message count; per (stream, shard): messages, first and last
sequence and time (in file order), payload bytes; beacon count; whether it ends with an
EOS (and bytes after it); the bytes of a torn tail; checksum mismatches.  Reading every
byte takes a while on a large file: on a terminal a progress bar appears on stderr when
it takes more than half a second (``--no-progress``: never).

Several files are summarised one after the other (text: separated by a blank line; JSON:
one object per line); a file that cannot be read is reported and the next one summarised;
the exit status is the worst of them.  ``-`` is stdin, copied to a temporary file first
(resync past damage seeks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import FormatError, UsageError
from ..file.output import STDIN, STDOUT, refuse_same
from ..file.summary import Summary, summarise, to_json
from . import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, describe_os_error
from .inputs import display_name, require_seekable, seekable_input
from .progress import add_progress_option, byte_bar, show_progress

__all__ = ["Summary", "add_parser", "run", "summarise", "to_json", "to_text"]

EPILOG = """Damaged bytes are read past (the resync verify uses): every intact message is
counted, and each damaged range is listed with its offset and length.
Several FILEs: one summary each (--json: one JSON object per line).  FILE - is stdin
(copied to a temporary file first).  A progress bar appears on a terminal for long reads.
exit status: 0 ok; 1 a file has checksum mismatches, damaged ranges or a torn tail;
2 not a readable .ss file (or bad usage); 130 Ctrl-C.  With several files the worst
(highest) status of them wins."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "info",
        help="summarise a .ss file: header, streams, beacons, EOS, torn tail",
        description="Read a whole .ss file and summarise it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="FILE", help="the .ss file(s); - for stdin")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    add_progress_option(p)
    p.set_defaults(run=run)


def _progress(size: int, show: bool, delay: float = 0.5):  # type: ignore[no-untyped-def]
    """A tqdm bar on a terminal (after ``delay`` s: a quick run shows none), else None."""
    if not show:
        return None
    return byte_bar(size, "reading", delay=delay)


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
    paths: list[str] = args.paths
    if paths.count("-") > 1:
        raise UsageError("- (stdin) can be given only once")
    for p in paths:
        if p != "-":
            require_seekable(p, "info")
    refuse_same(STDOUT, [STDIN if p == "-" else p for p in paths])  # `>> FILE` would append
    code = EXIT_OK
    for i, path in enumerate(paths):
        if i and not args.json:
            sys.stdout.write("\n")
        code = max(code, _report_one(path, args, several=len(paths) > 1))
    return code


def _report_one(path: str, args: argparse.Namespace, several: bool) -> int:
    """Summarise one file; with several files a file that fails is reported (its exit
    code returned) and the next one is summarised."""
    name = display_name(path)
    try:
        with seekable_input(path, "info") as local, open(local, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            bar = _progress(size, show_progress(args), 0.0 if args.progress else 0.5)
            try:
                s = summarise(f, size, bar)
            except FormatError as err:
                raise UsageError(str(err.with_path(name))) from err
            finally:
                if bar is not None:
                    bar.close()
    except (UsageError, OSError) as err:
        if not several or isinstance(err, BrokenPipeError):
            raise
        sys.stdout.flush()
        what = describe_os_error(err) if isinstance(err, OSError) else str(err)
        print(f"ssfile info: error: {what}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    info = to_json(name, s)
    if args.json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(to_text(info))
    sys.stdout.flush()
    problems = s.checksum_errors or s.torn_tail_offset is not None or s.error or s.damage
    return EXIT_PROBLEMS if problems else EXIT_OK
