"""``ssfile concat A.ss B.ss ... -o OUT``: A's messages, then B's, ... in one new file
(:mod:`ssfile.file.surgery.concat`)."""

from __future__ import annotations

import argparse

from ..file.surgery.concat import concat
from .surgery import EXIT_STATUS, add_common, check_inputs, run_operation

EPILOG = f"""The result equals appending B's messages to a copy of A with the writer: A's header
(created_at, beacon interval unless --beacon-interval), every message as it is, one EOS at
the end.  Where a stream's sequence does not continue from one input to the next (first
sequence in B != last in A + 1), a warning on stderr says where; the messages are kept as
they are.
{EXIT_STATUS}"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "concat",
        help="concatenate recordings (A then B ...) into a new file",
        description="Write the messages of A, then of B, ... into a new file OUT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="the .ss files (never modified)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the new .ss file")
    add_common(p, interval_default="the first input's")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_inputs(args.inputs, "concat")
    return run_operation(
        args,
        "concat",
        lambda: concat(
            args.inputs,
            args.output,
            beacon_interval=args.beacon_interval,
            on_damage=args.on_damage,
        ),
    )
