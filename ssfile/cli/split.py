"""``ssfile split IN --every D | --size S | --count N | --by-stream -o PATTERN``: cut a
recording into complete files (:mod:`ssfile.file.surgery.split`)."""

from __future__ import annotations

import argparse

from ..file.surgery.split import split
from .options import positive_int
from .surgery import EXIT_STATUS, add_common, check_inputs, duration_ms, run_operation, size_bytes

EPILOG = f"""pieces:
  --every D     by time period, aligned on the epoch (--every 1h: whole UTC hours); D is a
                number with ms, s, m, h or d
  --size S      at most S bytes per piece (64KiB, 256MiB, 1GB; a single larger message
                gets a piece of its own)
  --count N     N messages per piece
  --by-stream   one piece per stream key (all its shards); any number of streams: pieces
                beyond the open-file limit are closed and reopened as needed
PATTERN names the pieces: {{n}} is the piece number from 1 ({{n:03}} pads it), {{stream}} the
stream key (--by-stream).  Each piece is a complete file: its own header (created_at = its
first message's time), fresh beacons, an EOS.  Reading the pieces in order gives IN's messages.
A pattern naming two pieces alike or naming IN is refused; all pieces are renamed into place
at the end (an error leaves none).
{EXIT_STATUS}"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "split",
        help="split a recording into pieces (by time, size, count or stream)",
        description="Split IN into complete .ss files named by PATTERN.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="the .ss file to split (never modified)")
    p.add_argument(
        "-o", "--output", required=True, metavar="PATTERN", help="piece names, e.g. 'out-{n}.ss'"
    )
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--every", type=duration_ms, metavar="D", help="one piece per time period")
    how.add_argument("--size", type=size_bytes, metavar="S", help="at most S bytes per piece")
    how.add_argument("--count", type=positive_int, metavar="N", help="N messages per piece")
    how.add_argument("--by-stream", action="store_true", help="one piece per stream key")
    add_common(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_inputs([args.input], "split")
    return run_operation(
        args,
        "split",
        lambda: split(
            args.input,
            args.output,
            every=args.every,
            size=args.size,
            count=args.count,
            by_stream=args.by_stream,
            beacon_interval=args.beacon_interval,
            on_damage=args.on_damage,
        ),
    )
