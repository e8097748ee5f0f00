"""``ssfile cat FILE...``: print a slice of recordings, optionally following one as it grows.

Selection rules are :class:`ssfile.file.slice.Slice`'s: stream/shard filters, the half-open
time window ``[--since, --until)``, ``--from-seq``, ``--limit``.  ``--since`` and
``--from-seq`` seek by bisection over beacons instead of scanning.  Times: see
:func:`ssfile.cli.options.time_arg` (absolute, or relative to now such as ``-10m``).

Several files are printed one after the other, each with its own slice, ``--limit`` counting
over all of them; a file that fails is reported and the next one printed, and the exit
status is the worst of them.  ``--merge`` merges them by timestamp instead (ties in the
order of the files; each file taken in its own order); there an error stops the whole run.
``-`` is stdin: read as a stream, or, with ``--since``, ``--from-seq`` or ``--on-damage
skip`` (which seek), first copied to a temporary file.

Formats: ``log`` and ``ndjson`` print message lines exactly as ``ssfile decode`` (upstream
``ss-decode``) does, without the header and beacon lines; ``raw`` writes each payload's
bytes followed by a newline.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import sys
import warnings
from typing import BinaryIO

from ..errors import ON_DAMAGE, DamageWarning, FormatError, UsageError
from ..file.output import STDIN, STDOUT, refuse_same
from ..file.reader import Reader
from ..file.slice import Slice
from ..types import Message
from . import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, describe_os_error
from .inputs import display_name, require_seekable, seekable_input
from .options import time_arg
from .render import make_renderer

MERGE_BATCH = 256  # messages rendered at a time by --merge

EPILOG = """--until T stops before the first selected message stamped at or after T.
With --follow, cat waits for messages appended by a writer until an EOS frame (or ^C).
--on-damage skip prints every intact message past damaged bytes (the resync verify uses)
and reports each skipped range on stderr.
Several FILEs are printed one after the other (--merge: merged by timestamp).  FILE - is
stdin (read as a stream; copied to a temporary file first when --since, --from-seq or
--on-damage skip need to seek).
times T: absolute (ISO 8601, no zone = UTC; YYYY-MM-DDTHH:MM:SS.fff; epoch ms) or relative
to now: now, -10m or 10m (ten minutes ago), +5m; units ms, s, m, h, d, w.
exit status: 0 ok; 1 a file has a problem (lines before it stay printed; a torn last
record is one; so is damage skipped with --on-damage skip); 2 bad usage or not a readable
.ss file; 130 Ctrl-C.  With several files the worst (highest) status of them wins."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "cat",
        help="print a slice of a .ss file (streams, time window, follow)",
        description="Print the messages of a .ss file, filtered by stream, shard, "
        "time window and sequence; --since seeks instead of scanning.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="FILE",
        help="the .ss file(s), printed one after the other (--merge: by time); - for stdin",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="several files: merge their messages by timestamp (ties in the order of the "
        "files) instead of printing one file after the other",
    )
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


def open_reader(source: str | BinaryIO, *, name: str | None = None, **options: object) -> Reader:
    """A Reader; a file that is not a readable .ss file at all is a usage error (exit 2)."""
    try:
        return Reader(source, **options)  # type: ignore[arg-type]
    except FormatError as err:
        raise UsageError(str(err.with_path(name) if name else err)) from err


_time = time_arg  # the name other commands imported before options.time_arg


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, not {text!r}")
    return value


def make_writer(fmt: str):  # type: ignore[no-untyped-def]
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
    )
    paths: list[str] = args.paths
    _check_paths(paths, args.follow)
    refuse_same(STDOUT, [STDIN if p == "-" else p for p in paths])  # `>> FILE`: its own output
    # stdin is read as a stream unless seeking or resync is asked for (then a temporary copy)
    stream_stdin = spec.since is None and spec.from_seq is None and args.on_damage == "raise"
    out = Output(make_writer(args.format), args.limit, args.follow)
    with contextlib.ExitStack() as stack:
        locals_ = [
            p if p == "-" and stream_stdin else stack.enter_context(seekable_input(p, "cat"))
            for p in paths
        ]
        sources = list(zip(paths, locals_))
        if args.merge and len(paths) > 1:
            try:
                return _merged(spec, sources, args, out)
            except FormatError as err:  # a temporary copy of stdin is named <stdin>
                names = {local: display_name(path) for path, local in sources}
                raise err.with_path(names.get(err.path or "", err.path or "")) from None
        code = EXIT_OK
        for path, local in sources:
            if out.full():
                break
            code = max(code, _one_file(spec, path, local, args, out))
    return code


class Output:
    """Renders batches to stdout, counting toward ``--limit``."""

    def __init__(self, render, limit: int | None, flush_each: bool) -> None:  # type: ignore[no-untyped-def]
        self.render = render
        self.left = limit
        self.flush_each = flush_each
        self.out = sys.stdout.buffer
        self.lines: list[bytes] = []

    def full(self) -> bool:
        return self.left is not None and self.left <= 0

    def write(self, batch: list[Message]) -> None:
        if self.left is not None:
            batch = batch[: self.left]
            self.left -= len(batch)
        if batch:
            self.lines.clear()
            self.render(batch, self.lines)
            self.out.write(b"".join(self.lines))
        if self.flush_each:
            self.out.flush()


def _check_paths(paths: list[str], follow: bool) -> None:
    if paths.count("-") > 1:
        raise UsageError("- (stdin) can be given only once")
    if follow and len(paths) > 1:
        raise UsageError("--follow takes one FILE")
    if follow and paths == ["-"]:
        raise UsageError(
            "--follow needs a file: a pipe on stdin is read until its writer closes it anyway"
        )
    for p in paths:
        if p != "-":
            require_seekable(p, "cat")


def _one_file(spec: Slice, path: str, local: str, args: argparse.Namespace, out: Output) -> int:
    """Print the slice of one file; an error is reported and becomes its exit code (the next
    file is still printed)."""
    name = display_name(path)
    source = sys.stdin.buffer if local == "-" else local
    reported = 0
    try:
        with (
            warnings.catch_warnings(),
            open_reader(source, follow=args.follow, on_damage=args.on_damage, name=name) as reader,
        ):
            warnings.simplefilter("ignore", DamageWarning)  # reported below, one line each
            for batch in spec.batches(reader, seek=local != "-"):
                out.write(batch)
                if len(reader.damage) > reported:
                    out.out.flush()
                    reported = report_damage(name, reader, reported)
                if out.full():
                    break
            out.out.flush()
            reported = report_damage(name, reader, reported)
    except BrokenPipeError:
        raise
    except UsageError as err:
        return _failed(err, EXIT_USAGE)
    except FormatError as err:
        return _failed(err.with_path(name), EXIT_PROBLEMS)
    except OSError as err:
        if err.filename is None:  # stdout, not the file: not this file's problem
            raise
        return _failed(describe_os_error(err), EXIT_USAGE)
    return EXIT_PROBLEMS if reported else EXIT_OK


def _failed(err: object, code: int) -> int:
    sys.stdout.flush()
    print(f"ssfile cat: error: {err}", file=sys.stderr, flush=True)
    return code


def _merged(
    spec: Slice, sources: list[tuple[str, str]], args: argparse.Namespace, out: Output
) -> int:
    """``--merge``: every file's slice, merged by timestamp (ties: in the order of the
    files); each file is taken in its own order.  An error stops the whole merge."""
    names = [display_name(p) for p, _ in sources]
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", DamageWarning)
        readers = [
            stack.enter_context(
                open_reader(
                    sys.stdin.buffer if local == "-" else local, on_damage=args.on_damage, name=name
                )
            )
            for (_, local), name in zip(sources, names)
        ]
        streams = [spec.messages(r, seek=local != "-") for r, (_, local) in zip(readers, sources)]
        reported = [0] * len(readers)
        merged = heapq.merge(*streams, key=_timestamp)
        while not out.full():
            batch = list(itertools.islice(merged, MERGE_BATCH))
            if not batch:
                break
            out.write(batch)
            if any(len(r.damage) > done for r, done in zip(readers, reported)):
                out.out.flush()
                reported = [report_damage(n, r, d) for n, r, d in zip(names, readers, reported)]
        out.out.flush()
        reported = [report_damage(n, r, d) for n, r, d in zip(names, readers, reported)]
    return EXIT_PROBLEMS if any(reported) else EXIT_OK


def _timestamp(m: Message) -> int:
    return m.timestamp_ms


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
