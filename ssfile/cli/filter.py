"""``ssfile filter IN -o OUT``: copy the selected messages of a recording to a new file.

Selection (all must hold; :mod:`ssfile.file.surgery.select`): ``--stream`` (repeatable,
glob patterns such as ``'orders.*'``), ``--exclude-stream``, ``--shard``, the half-open time
window ``[--since, --until)``, ``--from-seq``/``--to-seq`` (inclusive, with one ``--stream``),
``--payload-grep REGEX`` (a bytes regex searched in the payload) and ``--json-filter EXPR``
(:mod:`ssfile.file.surgery.jsonexpr`).  Time and sequence bounds seek by bisection.
"""

from __future__ import annotations

import argparse

from ..file.surgery.filter import filter_file
from .surgery import EXIT_STATUS, add_common, check_inputs, non_negative, run_operation, time_arg

EPILOG = f"""selection: a message is kept when it passes every option given.  --stream and
--exclude-stream take shell-style patterns ('orders.*', 'sensor-?'); quote them.  The window
[--since, --until) stops before the first message stamped at or after --until that passes the
stream, shard, since and sequence options (as `ssfile cat` does).
json filter: comparisons of payload fields with JSON values, joined by and/or/not:
  qty > 5 and sku == "SKU-1"      not (side == "sell")      user.id in [1, 2, 3]
  items[0].price <= 9.5           $["odd key"] != null      flag
  a missing field makes a comparison false; a payload that is not JSON never matches.
times: ISO 8601 (no zone = UTC), YYYY-MM-DDTHH:MM:SS.fff or epoch milliseconds.
{EXIT_STATUS}"""


def add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stream",
        action="append",
        default=[],
        metavar="K",
        help="only streams matching K (a key or a glob pattern; repeat for several)",
    )
    p.add_argument(
        "--exclude-stream",
        action="append",
        default=[],
        metavar="K",
        help="leave out streams matching K (repeatable)",
    )
    p.add_argument("--shard", type=non_negative, metavar="N", help="only shard N")
    p.add_argument(
        "--since", type=time_arg, metavar="T", help="from the first message at or after T"
    )
    p.add_argument(
        "--until", type=time_arg, metavar="T", help="stop before the first message at or after T"
    )
    p.add_argument(
        "--from-seq",
        type=non_negative,
        metavar="N",
        help="sequences >= N of the one --stream (shard 0 unless --shard)",
    )
    p.add_argument(
        "--to-seq", type=non_negative, metavar="N", help="sequences <= N of the one --stream"
    )
    p.add_argument(
        "--payload-grep", metavar="REGEX", help="only payloads in which REGEX (bytes) is found"
    )
    p.add_argument(
        "--json-filter", metavar="EXPR", help="only JSON payloads for which EXPR holds (see below)"
    )


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "filter",
        help="copy selected messages (streams, shard, time, sequence, payload) to a new file",
        description="Copy the messages of IN that pass every selection option to a new file "
        "OUT, each kept exactly (stream, shard, sequence, timestamp, payload).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="the .ss file to read (never modified)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the new .ss file")
    add_selection(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_inputs([args.input], "filter")
    return run_operation(
        args,
        "filter",
        lambda: filter_file(
            args.input,
            args.output,
            streams=args.stream,
            exclude_streams=args.exclude_stream,
            shard=args.shard,
            since=args.since,
            until=args.until,
            from_seq=args.from_seq,
            to_seq=args.to_seq,
            payload_grep=args.payload_grep,
            json_filter=args.json_filter,
            beacon_interval=args.beacon_interval,
            on_damage=args.on_damage,
        ),
    )
