"""``ssfile verify FILE... [--json] [--strict]``: check files and list every problem.

Exit 0 clean (warnings allowed; with ``--strict`` warnings count too), 1 problems, 2 not a
``.ss`` file at all (an empty file or a cut header included; or bad usage, an unreadable
path, a FIFO or device: verify needs a regular file), 130 Ctrl-C.  Several files are checked
one after the other and the worst (highest) status wins; ``--json`` prints one object per
line then.  ``-`` is stdin, copied to a temporary file first (the check maps the file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..check import Diagnosis, verify
from ..errors import UsageError
from ..file.output import STDIN, STDOUT, refuse_same
from . import EXIT_OK, EXIT_USAGE, describe_os_error
from .inputs import display_name, require_seekable, seekable_input
from .progress import add_progress_option, byte_bar, show_progress

EPILOG = """Several FILEs are checked one after the other (--json: one JSON object per line).
FILE - is stdin (copied to a temporary file first).  A progress bar appears on a terminal.
exit status: 0 clean; 1 problems (--strict: warnings too); 2 not a .ss file at all (empty,
cut header, bad magic), not a regular file, or bad usage; 130 Ctrl-C.  With several files
the worst (highest) status of them wins."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "verify",
        help="check a file: header, frames, CRCs, beacons, order, EOS, tail",
        description="Check .ss files and list every problem with its offset.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="the .ss file(s); - for stdin")
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    add_progress_option(p)
    p.set_defaults(run=run)


def first_problem(diag: Diagnosis) -> str:
    """The first error (else warning) with its offset, for a one-line error message."""
    problems = diag.sorted_problems()
    errors = [p for p in problems if p.severity == "error"] or problems
    if not errors:
        return f"no header and no frame found in bytes [0, {diag.size}) at offset 0"
    return f"{errors[0].message} at offset {errors[0].offset}"


def run(args: argparse.Namespace) -> int:
    files: list[str] = args.files
    if files.count("-") > 1:
        raise UsageError("- (stdin) can be given only once")
    for f in files:
        if f != "-":
            require_seekable(f, "verify")
    refuse_same(STDOUT, [STDIN if f == "-" else f for f in files])  # `>> FILE` would append
    code = EXIT_OK
    for f in files:
        code = max(code, _check_one(f, args, several=len(files) > 1))
    return code


def _check_one(path: str, args: argparse.Namespace, several: bool) -> int:
    name = display_name(path)
    try:
        with seekable_input(path, "verify") as local:
            bar = byte_bar(os.path.getsize(local), "verify", show=show_progress(args))
            try:
                diag = verify(local, progress=lambda at: bar.update(at - bar.n))
            finally:
                bar.close()
    except OSError as err:
        if not several or isinstance(err, BrokenPipeError):
            raise
        print(f"ssfile verify: error: {describe_os_error(err)}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    diag.path = name
    if args.json:
        json.dump(diag.to_json_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        if not diag.readable:
            sys.stdout.flush()
            print(
                f"ssfile verify: error: {name}: not a .ss file: {first_problem(diag)}",
                file=sys.stderr,
            )
        print(f"{name}:")
        for p in diag.sorted_problems():
            print(f"  {p}")
        for line in diag.summary_lines():
            print(line)
    sys.stdout.flush()
    return diag.exit_code(args.strict)
