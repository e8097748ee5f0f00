"""``ssfile cut IN --since T --until T -o OUT``: the time window ``[T1, T2)`` of a recording
in a new file; shorthand for ``ssfile filter IN --since T1 --until T2 -o OUT``."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..file.surgery.filter import filter_file
from .surgery import EXIT_STATUS, add_common, check_inputs, run_operation, time_arg

EPILOG = f"""The window is half-open: --since seeks to the first message stamped at or after T1
(bisection over the beacons, no scan), and the copy stops before the first message stamped at
or after T2.  Give one or both.
times: ISO 8601 (no zone = UTC), YYYY-MM-DDTHH:MM:SS.fff or epoch milliseconds.
{EXIT_STATUS}"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "cut",
        help="copy a time window [--since, --until) to a new file",
        description="Copy the messages of IN stamped in [--since, --until) to a new file OUT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="the .ss file to read (never modified)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the new .ss file")
    p.add_argument(
        "--since", type=time_arg, metavar="T", help="from the first message at or after T"
    )
    p.add_argument(
        "--until", type=time_arg, metavar="T", help="stop before the first message at or after T"
    )
    add_common(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.since is None and args.until is None:
        raise UsageError("give --since, --until or both")
    check_inputs([args.input], "cut")
    return run_operation(
        args,
        "cut",
        lambda: filter_file(
            args.input,
            args.output,
            since=args.since,
            until=args.until,
            beacon_interval=args.beacon_interval,
            on_damage=args.on_damage,
            command="cut",
        ),
    )
