"""What the surgery commands (filter, cut, merge, split, concat) share: options, argument
types, input checks and the report.

Report: the summary on stdout (text, or one JSON object with ``--json``); on stderr one line
per damaged range skipped (``--on-damage skip``) and one per warning.  Exit status: 0 done;
1 done but damaged bytes were skipped, or a damaged input stopped it (``--on-damage raise``,
nothing written); 2 bad usage, an input that is not a readable ``.ss`` file, an output that
is an input, or a merge conflict left to decide; 130 Ctrl-C (nothing written).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Callable, Sequence

from ..errors import ON_DAMAGE, DamageWarning, FormatError, UsageError
from ..file.reader import read_header
from ..file.surgery.summary import Summary
from ..format import constants as K
from ..timefmt import parse_time
from . import EXIT_OK, EXIT_PROBLEMS
from .inputs import require_seekable

EXIT_STATUS = """exit status: 0 done; 1 done, but damaged bytes were skipped (--on-damage skip,
each range reported on stderr), or a damaged input stopped it (nothing written); 2 bad usage,
an input that is not a .ss file, an output that is an input; 130 Ctrl-C (nothing written).
Outputs are written under a temporary name and renamed into place when complete."""


def time_arg(text: str) -> int:
    """ISO 8601 (no zone = UTC), ``YYYY-MM-DDTHH:MM:SS.fff`` or epoch ms -> ms."""
    try:
        return parse_time(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, not {text!r}")
    return value


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)\Z")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str) -> int:
    """``500ms``, ``30s``, ``10m``, ``1h``, ``1d`` (decimals allowed: ``1.5h``) -> ms >= 1."""
    m = _DURATION.match(text.strip())
    value = 0 if m is None else int(float(m.group(1)) * _DURATION_MS[m.group(2)])
    if m is None or value < 1:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use a number with ms, s, m, h or d (e.g. 10m)"
        )
    return value


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|K|M|G|T)?\Z", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "k": 1 << 10,
    "m": 1 << 20,
    "g": 1 << 30,
    "t": 1 << 40,
}


def size_bytes(text: str) -> int:
    """``1000000``, ``64KiB``, ``256MiB``, ``1GB`` (K/M/G alone are binary) -> bytes."""
    m = _SIZE.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use bytes or a number with KiB, MiB, GiB, KB, MB, GB"
        )
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])


def interval_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not K.MIN_BEACON_INTERVAL <= value <= K.MAX_BEACON_INTERVAL:
        raise argparse.ArgumentTypeError(
            f"--beacon-interval must be an integer between {K.MIN_BEACON_INTERVAL} and "
            f"{K.MAX_BEACON_INTERVAL}, not {text!r}"
        )
    return value


def add_common(p: argparse.ArgumentParser, *, interval_default: str = "the input's") -> None:
    """--beacon-interval, --on-damage and --json."""
    p.add_argument(
        "--beacon-interval",
        type=interval_arg,
        metavar="N",
        help=f"bytes between beacons in the output (default: {interval_default})",
    )
    p.add_argument(
        "--on-damage",
        choices=ON_DAMAGE,
        default="raise",
        help="at damaged bytes in an input: stop with an error, writing nothing (raise, "
        "default), or skip to the next intact record, reporting each range on stderr "
        "(skip; exit status 1)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def check_inputs(paths: Sequence[str], command: str) -> None:
    """Every input is a regular file with a readable ``.ss`` header (else exit 2)."""
    for path in paths:
        require_seekable(path, command)
        try:
            read_header(path)
        except FormatError as err:
            raise UsageError(str(err)) from err


def run_operation(args: argparse.Namespace, command: str, operation: Callable[[], Summary]) -> int:
    """Run ``operation``, then report its summary, damage and warnings; the exit status."""
    with warnings.catch_warnings():
        # reported from the summary below, one line each
        warnings.simplefilter("ignore", DamageWarning)
        warnings.simplefilter("ignore", UserWarning)
        summary = operation()
    for text in summary.warnings:
        print(f"ssfile {command}: warning: {text}", file=sys.stderr)
    for d in summary.damage:
        print(
            f"ssfile {command}: {d.path}: skipped damaged bytes at offset "
            f"{d.offset}..{d.offset + d.length} ({d.length} bytes): {d.reason}",
            file=sys.stderr,
        )
    if args.json:
        json.dump(summary.to_json_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        for line in summary.lines():
            print(line)
    return EXIT_OK if summary.clean else EXIT_PROBLEMS
