"""``ssfile merge A.ss B.ss ... -o OUT``: interleave recordings by timestamp
(:mod:`ssfile.file.surgery.merge`)."""

from __future__ import annotations

import argparse

from ..file.surgery.merge import ON_CONFLICT, merge
from .surgery import EXIT_STATUS, add_common, check_inputs, run_operation

EPILOG = f"""order: by timestamp; ties go to the earlier input on the command line, and each
input keeps its own order.  Memory is bounded by the number of inputs.
conflicts (the same stream and shard in two inputs):
  error     stop with an error naming the stream (default; nothing written)
  renumber  from the message where the second input joins, number the stream on (previous + 1)
  keep      keep every message as it is (sequences may repeat), with a warning
  dedupe    drop a message identical to one written from another input (same stream, shard,
            sequence, timestamp and payload); same sequence but another payload: both kept,
            with a warning
the output header: the first input's beacon interval (unless --beacon-interval), the earliest
created_at.
{EXIT_STATUS}"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "merge",
        help="merge recordings by timestamp into a new file",
        description="Merge the messages of several .ss files by timestamp into a new file OUT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="the .ss files (never modified)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the new .ss file")
    p.add_argument(
        "--on-conflict",
        choices=ON_CONFLICT,
        default="error",
        help="what to do with a stream and shard found in two inputs (default: error)",
    )
    add_common(p, interval_default="the first input's")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_inputs(args.inputs, "merge")
    return run_operation(
        args,
        "merge",
        lambda: merge(
            args.inputs,
            args.output,
            on_conflict=args.on_conflict,
            beacon_interval=args.beacon_interval,
            on_damage=args.on_damage,
        ),
    )
