"""``ssfile repair FILE -o OUT``: write a new valid file with every intact message.

``--drop-bad-checksum`` (default) or ``--keep-bad-checksum`` decides what happens to frames
whose payload CRC fails.  Never writes in place: OUT is written under a temporary name and
renamed into place when complete (spec/cli.md, "Outputs"), so Ctrl-C or an error leaves an
existing OUT as it was.  Refuses an existing OUT unless ``--force`` and always refuses OUT
that is FILE, also through a link.  Exit 0 nothing lost, 3 recovered with loss (a header not
read as written counts as loss), 2 nothing recoverable, a file of another format version
(refused unless ``--as-version-1``), or bad usage, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..check import repair
from ..errors import UnsupportedVersion
from ..file.output import STDIN, named, refuse_same
from . import EXIT_USAGE
from .inputs import display_name, seekable_input
from .progress import add_progress_option, byte_bar, show_progress
from .verify import first_problem

EPILOG = """OUT is written under a temporary name and renamed into place when complete: Ctrl-C
or an error leaves an existing OUT unchanged.  OUT is never FILE (also through a link).

exit status: 0 every message recovered and the header read as written; 3 recovered
with loss: unreadable bytes, dropped or kept bad-checksum messages, a torn last message, or a
header that was not read as written (bad magic, version byte, invalid field, interval rebuilt
from the beacons: the report names each); 2 nothing recoverable (no output), bad usage, OUT
exists without --force or is FILE, or a file starting with Ss and a format version other than
1 (refused: repair does not guess a newer layout; --as-version-1 reads it as version 1 when
only that byte is damaged); 130 Ctrl-C.
FILE - is stdin (copied to a temporary file first).  A progress bar appears on a terminal."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "repair",
        help="salvage every intact message into a new valid file",
        description="Write every intact message of FILE into a new valid file OUT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "file", metavar="FILE", help="the damaged .ss file (never modified); - for stdin"
    )
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
    p.add_argument(
        "--as-version-1",
        action="store_true",
        help="read a file whose version byte is not 1 as version 1 (a damaged byte; exit 3)",
    )
    add_progress_option(p)
    p.set_defaults(run=run, keep_bad=False)


def run(args: argparse.Namespace) -> int:
    name = display_name(args.file)
    if args.file == "-":
        refuse_same(args.output, [STDIN])
    with seekable_input(args.file, "repair") as local:
        bar = byte_bar(os.path.getsize(local), "repair", show=show_progress(args))
        try:
            with named(args.output):
                # the library writes OUT atomically (a temporary name, renamed when complete)
                report = repair(
                    local,
                    args.output,
                    keep_bad_checksum=args.keep_bad,
                    overwrite=args.force,
                    as_version_1=args.as_version_1,
                    progress=lambda at: bar.update(at - bar.n),
                )
        except UnsupportedVersion as err:
            print(f"ssfile repair: error: {err.with_path(name)}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            bar.close()
    report.src, report.dst = name, args.output
    report.diagnosis.path = name
    if args.json:
        json.dump(report.to_json_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        for line in report.lines():
            print(line)
    if not report.written:
        print(
            f"ssfile repair: error: {name}: nothing recoverable: {first_problem(report.diagnosis)}",
            file=sys.stderr,
        )
    return report.exit_code
