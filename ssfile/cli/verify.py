"""``ssfile verify FILE [--json] [--strict]``: check a file and list every problem.

Exit 0 clean (warnings allowed; with ``--strict`` warnings count too), 1 problems, 2 not a
``.ss`` file at all (an empty file or a cut header included; or bad usage, an unreadable
path, a FIFO or device: verify needs a regular file), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..check import Diagnosis, verify
from ..file.output import STDOUT, refuse_same
from .inputs import require_seekable


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "verify",
        help="check a file: header, frames, CRCs, beacons, order, EOS, tail",
        description="Check a .ss file and list every problem with its offset.",
        epilog="exit status: 0 clean; 1 problems (--strict: warnings too); 2 not a .ss file "
        "at all (empty, cut header, bad magic), not a regular file, or bad usage; 130 Ctrl-C.",
    )
    p.add_argument("file", help="the .ss file to check")
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    p.set_defaults(run=run)


def first_problem(diag: Diagnosis) -> str:
    """The first error (else warning) with its offset, for a one-line error message."""
    problems = diag.sorted_problems()
    errors = [p for p in problems if p.severity == "error"] or problems
    if not errors:
        return f"no header and no frame found in bytes [0, {diag.size}) at offset 0"
    return f"{errors[0].message} at offset {errors[0].offset}"


def run(args: argparse.Namespace) -> int:
    require_seekable(args.file, "verify")
    refuse_same(STDOUT, [args.file])  # `>> FILE` would append text to the file
    diag = verify(args.file)
    if args.json:
        json.dump(diag.to_json_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        if not diag.readable:
            print(
                f"ssfile verify: error: {args.file}: not a .ss file: {first_problem(diag)}",
                file=sys.stderr,
            )
        print(f"{args.file}:")
        for p in diag.sorted_problems():
            print(f"  {p}")
        for line in diag.summary_lines():
            print(line)
    return diag.exit_code(args.strict)
