"""``ssfile cat FILE``: print a slice of a recording, optionally following it as it grows.

Selection rules are :class:`ssfile.file.slice.Slice`'s: stream/shard filters, the half-open
time window ``[--since, --until)``, ``--from-seq``, ``--limit``.  ``--since`` and
``--from-seq`` seek by bisection over beacons instead of scanning.  Times are ISO 8601 (no
zone = UTC), upstream's ``YYYY-MM-DDTHH:MM:SS.fff`` or epoch milliseconds.

Formats: ``log`` and ``ndjson`` print message lines exactly as ``ssfile decode`` (upstream
``ss-decode``) does, without the header and beacon lines; ``raw`` writes each payload's
bytes followed by a newline.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from ..errors import ON_DAMAGE, DamageWarning, FormatError, UsageError
from ..file.output import STDOUT, refuse_same
from ..file.reader import Reader
from ..file.slice import Slice
from ..timefmt import parse_time
from . import EXIT_OK, EXIT_PROBLEMS
from .inputs import require_seekable
from .render import make_renderer

EPILOG = """--until T stops before the first selected message stamped at or after T.
With --follow, cat waits for messages appended by a writer until an EOS frame (or ^C).
--on-damage skip prints every intact message past damaged bytes (the resync verify uses)
and reports each skipped range on stderr.
exit status: 0 ok; 1 the file has a problem (lines before it stay printed; a torn last
record is one; so is damage skipped with --on-damage skip); 2 bad usage or not a readable
.ss file."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "cat",
        help="print a slice of a .ss file (streams, time window, follow)",
        description="Print the messages of a .ss file, filtered by stream, shard, "
        "time window and sequence; --since seeks instead of scanning.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="FILE", help="the .ss file")
    p.add_argument(
        "--stream",
        action="append",
        default=[],
        metavar="KEY",
        help="only this stream (repeat for several)",
    )
    p.add_argument("--shard", type=_non_negative, metavar="N", help="only this shard")
    p.add_argument("--since", type=_time, metavar="T", help="from the first message at or after T")
    p.add_argument(
        "--until", type=_time, metavar="T", help="stop before the first message at or after T"
    )
    p.add_argument(
        "--from-seq",
        type=_non_negative,
        metavar="N",
        help="from sequence N of the one --stream (shard 0 unless --shard)",
    )
    p.add_argument("--limit", type=_non_negative, metavar="N", help="at most N messages")
    p.add_argument(
        "--format",
        choices=("log", "ndjson", "raw"),
        default="log",
        help="log (default), ndjson or raw payloads",
    )
    p.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="keep printing messages appended to the file, until its EOS",
    )
    p.add_argument(
        "--on-damage",
        choices=ON_DAMAGE,
        default="raise",
        help="at damaged bytes: stop with an error (raise, default) or skip to the next "
        "intact record, reporting the range on stderr (skip; exit status 1)",
    )
    p.set_defaults(run=run)


def open_reader(path: str, **options: object) -> Reader:
    """A Reader; a file that is not a readable .ss file at all is a usage error (exit 2)."""
    try:
        return Reader(path, **options)  # type: ignore[arg-type]
    except FormatError as err:
        raise UsageError(str(err)) from err


def _time(text: str) -> int:
    try:
        return parse_time(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, not {text!r}")
    return value


def _writer(fmt: str):  # type: ignore[no-untyped-def]
    if fmt == "raw":

        def render(msgs: list, out: list[bytes]) -> None:  # type: ignore[type-arg]
            for m in msgs:
                out.append(m.payload)
                out.append(b"\n")

        return render
    renderer = make_renderer(fmt)
    return renderer.render


def run(args: argparse.Namespace) -> int:
    spec = Slice(
        streams=tuple(args.stream),
        shard=args.shard,
        since=args.since,
        until=args.until,
        from_seq=args.from_seq,
        limit=args.limit,
    )
    require_seekable(args.path, "cat")
    refuse_same(STDOUT, [args.path])  # `>> FILE` would feed cat its own output
    render = _writer(args.format)
    out = sys.stdout.buffer
    lines: list[bytes] = []
    reported = 0
    with (
        warnings.catch_warnings(),
        open_reader(args.path, follow=args.follow, on_damage=args.on_damage) as reader,
    ):
        warnings.simplefilter("ignore", DamageWarning)  # reported below, one line each
        for batch in spec.batches(reader):
            if batch:
                lines.clear()
                render(batch, lines)
                out.write(b"".join(lines))
            if len(reader.damage) > reported:
                out.flush()
                reported = report_damage(args.path, reader, reported)
            if args.follow:
                out.flush()
        out.flush()
        reported = report_damage(args.path, reader, reported)
    return EXIT_PROBLEMS if reported else EXIT_OK


def report_damage(path: str, reader: Reader, done: int) -> int:
    """Print the damaged ranges ``reader`` skipped since the first ``done``; the new count."""
    for (offset, n), err in zip(reader.damage[done:], reader.damage_errors[done:]):
        print(
            f"ssfile cat: {path}: skipped damaged bytes at offset {offset}..{offset + n} "
            f"({n} bytes): {err.reason}",
            file=sys.stderr,
        )
    sys.stderr.flush()
    return len(reader.damage)
