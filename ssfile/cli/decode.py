"""``ssfile decode FILE [--format log|ndjson] [--header-only]``: print a ``.ss`` file as text.

The output is byte-identical to upstream ``ss-decode`` (see :mod:`ssfile.cli.render`).
``FILE`` may also be given as ``--file FILE`` (upstream's spelling) or ``-`` for stdin.

Exit codes (every line decoded before a problem stays printed; the problem is one line on
stderr naming the file and the absolute offset):

* 0: the file was printed up to its EOS, or up to a clean end after a whole frame (a file
  without EOS, like a recording still being written);
* 1: the data has a problem after a good header: a checksum mismatch, an invalid field
  (stream key, timestamp), or a torn last record (upstream exits 0 on truncation with only
  a log warning; we report it, since the tail of the file is lost to the reader);
* 2: bad usage, or the input is not a readable ``.ss`` file at all (cannot be opened, bad
  magic or version, header cut short or with an invalid field such as ``created_at``), or
  stdout is the input file (``>> FILE``);
* 130: Ctrl-C.

FILE may be a FIFO or a device (it is read as a stream); for a FIFO without a writer yet,
decode says on stderr that it waits.
"""

from __future__ import annotations

import argparse
import sys
from typing import BinaryIO

from ..codec.decoder import Decoder
from ..errors import FormatError, UsageError
from ..file.output import STDIN, STDOUT, named, refuse_same
from . import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from .inputs import say_if_waiting
from .render import make_renderer

CHUNK = 1 << 20

EPILOG = """exit status: 0 printed to the end (EOS, or a clean end of a file without EOS);
1 checksum mismatch, invalid field or truncated last record (lines before it stay printed);
2 bad usage or not a readable .ss file (bad magic/version, short or invalid header, cannot
open); 130 Ctrl-C.  FILE may be a FIFO (read as a stream; decode says when it waits for a
writer)."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "decode",
        help="print a .ss file as text, exactly like upstream ss-decode",
        description="Print every message (and beacon) of a .ss file, byte-for-byte "
        "as upstream ss-decode does.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", nargs="?", metavar="FILE", help="the .ss file ('-' for stdin)")
    p.add_argument(
        "--file", dest="file_opt", metavar="FILE", help="same as FILE (upstream's option)"
    )
    p.add_argument(
        "--format", choices=("log", "ndjson"), default="log", help="log (default) or ndjson"
    )
    p.add_argument("--header-only", action="store_true", help="omit payloads")
    p.set_defaults(run=run)


def _path(args: argparse.Namespace) -> str:
    if args.path and args.file_opt:
        raise UsageError("give FILE or --file FILE, not both")
    path = args.path or args.file_opt
    if not path:
        raise UsageError("a FILE to decode is required")
    return str(path)


def run(args: argparse.Namespace) -> int:
    path = _path(args)
    if path == "-":
        refuse_same(STDOUT, [STDIN])
        return decode_stream(sys.stdin.buffer, "<stdin>", args.format, args.header_only)
    refuse_same(STDOUT, [path])
    say_if_waiting(path, "decode")
    with open(path, "rb") as f:
        return decode_stream(f, path, args.format, args.header_only)


def decode_stream(source: BinaryIO, name: str, fmt: str, header_only: bool) -> int:
    """Print ``source`` to stdout; return the exit code (errors reported on stderr)."""
    renderer = make_renderer(fmt, header_only)
    out = sys.stdout.buffer
    dec = Decoder()
    events: list[object] = []
    lines: list[bytes] = []
    more = True
    while True:
        events.clear()
        try:
            dec.read_events(events, 256)
        except FormatError as err:
            out.flush()
            return _report(err.with_path(name), header_seen=dec.header is not None)
        if events:
            lines.clear()
            ended = renderer.render(events, lines)
            with named(STDOUT):
                out.write(b"".join(lines))
            if ended:
                break
        elif not more:
            break
        else:
            with named(name):
                data = source.read(CHUNK)
            if data:
                dec.feed(data)
            else:
                dec.feed_eof()
                more = False
    with named(STDOUT):
        out.flush()
    return EXIT_OK


def _report(err: FormatError, *, header_seen: bool) -> int:
    sys.stdout.flush()
    print(f"ssfile decode: error: {err}", file=sys.stderr)
    return EXIT_PROBLEMS if header_seen else EXIT_USAGE
