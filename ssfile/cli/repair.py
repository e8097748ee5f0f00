"""``ssfile repair FILE -o OUT``: write a new valid file with every intact message.

``--drop-bad-checksum`` (default) or ``--keep-bad-checksum`` decides what happens to frames
whose payload CRC fails.  Never writes in place; refuses an existing OUT unless ``--force``
(and always refuses OUT that is FILE, also through a link).  Exit 0 nothing lost, 3
recovered with loss, 2 nothing recoverable (or bad usage).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..check import repair


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("repair", help="salvage every intact message into a new valid file")
    p.add_argument("file", help="the damaged .ss file (never modified)")
    p.add_argument("-o", "--output", required=True, help="the new file to write")
    crc = p.add_mutually_exclusive_group()
    crc.add_argument(
        "--drop-bad-checksum",
        dest="keep_bad",
        action="store_false",
        help="drop messages whose payload checksum fails (default)",
    )
    crc.add_argument(
        "--keep-bad-checksum",
        dest="keep_bad",
        action="store_true",
        help="keep them (their payload may be damaged)",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists (never FILE)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run, keep_bad=False)


def run(args: argparse.Namespace) -> int:
    report = repair(args.file, args.output, keep_bad_checksum=args.keep_bad, overwrite=args.force)
    if args.json:
        json.dump(report.to_json_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        for line in report.lines():
            print(line)
    if not report.written:
        print(f"ssfile repair: error: {args.file}: nothing recoverable", file=sys.stderr)
    return report.exit_code
