"""``ssfile encode OUT.ss``: write a ``.ss`` file from lines in the stdio line format.

Each input line (from ``--input FILE`` or stdin) is one message,
``[timestamp | stream_key | sequence | shard_id] payload`` with any of upstream's shapes
(see :mod:`ssfile.lines`; timestamps in upstream's format, ISO 8601 with a zone, or
``@epoch_ms``).  The line end is removed from each line: one ``\\n`` or ``\\r\\n`` (CRLF input
gives the same payloads as LF input; upstream keeps the ``\\r``).  Lines must be UTF-8.

Missing fields: key ``broadcast``; shard 0; timestamp = now; sequence = one more than the
largest so far for that (key, shard) in this file, starting at 1 -- the rule of upstream's
file producer and of :meth:`ssfile.Writer.write`.  (Upstream's stdio consumer instead counts
from 0 and, after an explicit sequence, repeats it; we do not copy that.)

The bytes equal what upstream's writer produces for the same messages, given the same
``--file-name``, ``--created-at`` and ``--beacon-interval``.  A line cannot carry a payload
that is not UTF-8, contains a newline or starts with whitespace (the parser drops leading
whitespace), so such messages cannot be encoded from lines.

A line ``[... | SEA_STREAMER_INTERNAL ...] EOS`` is an end-of-stream message: it is written
as the file's EOS, and any line after it is an error.  Any other line with that reserved key
is an invalid line (it would write an EOS frame, or a frame no reader expects, mid-file).  Otherwise the file ends with an EOS
written at close, unless ``--no-eos``.

Output (spec/cli.md, "Outputs"): the file is written under a temporary name beside OUT and
renamed to OUT only when the input has been read to its end, so an existing OUT is never
damaged: on Ctrl-C or any error it is left as it was.  OUT may not be the input file (also
through a link, or as stdin).

Errors: an invalid line stops the encoding with ``line N: <reason>`` on stderr and exit 1.
If OUT did not exist, it is created holding every message before that line, without EOS
(like an interrupted recording; ``ssfile.open(path, "a")`` can continue it); an existing OUT
is left unchanged.  Bad options or an unreadable input: exit 2, before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from typing import BinaryIO

from ..errors import EncodeError, UsageError
from ..file.output import STDIN, STDOUT, NewFile, describe, named, refuse_same
from ..file.writer import Writer
from ..format import constants as K
from ..lines import LineError, parse_line, strip_line_end
from ..types import MAX_U64
from . import EXIT_OK, EXIT_PROBLEMS
from .inputs import say_if_waiting
from .options import parse_time_option

#: the file name in the header of a file written to stdout (unless --file-name)
STDOUT_FILE_NAME = "stdout"

EPILOG = """line format: [timestamp | stream_key | sequence | shard_id] payload
  shapes: [ts] [ts | key] [ts | key | seq] [ts | key | seq | shard] [key] [key | seq]
  [key | seq | shard]; a line without a [...] block is a payload for key 'broadcast'.
  timestamp: 2024-05-01T10:00:00.123 (UTC), ISO 8601 with a zone, or @epoch_ms
  (a bare number is a stream key, as in upstream's stdio format).
defaults: key broadcast, shard 0, timestamp now, sequence = previous + 1 (from 1).
output: written to a temporary file renamed to OUT at the end; Ctrl-C or an error
leaves an existing OUT unchanged.  OUT may not be the input (also through a link).
OUT - writes to stdout as the lines come (not to a terminal); an invalid line ends it
there, without EOS.
exit status: 0 ok; 1 invalid input line (a new OUT keeps every message before it, no EOS;
an existing OUT is left unchanged); 2 bad options, unreadable input, OUT is the input;
130 Ctrl-C."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "encode",
        help="write a .ss file from stdio-format lines",
        description="Read messages in the stdio line format and write a .ss file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "output",
        metavar="OUT.ss",
        help="the .ss file to create (replaced at the end if it exists); - for stdout",
    )
    p.add_argument(
        "--input", metavar="FILE", default="-", help="read lines from FILE (default stdin)"
    )
    p.add_argument(
        "--beacon-interval",
        metavar="N",
        type=int,
        default=K.DEFAULT_BEACON_INTERVAL,
        help=f"bytes between beacons, >= 128 (default {K.DEFAULT_BEACON_INTERVAL})",
    )
    p.add_argument(
        "--file-name", metavar="NAME", help="name stored in the header (default: OUT's name)"
    )
    p.add_argument(
        "--created-at",
        metavar="T",
        help="header creation time (default now); T as for every time option: ISO 8601, "
        "YYYY-MM-DDTHH:MM:SS.fff, epoch ms, or relative (-1h = an hour ago)",
    )
    p.add_argument("--no-eos", action="store_true", help="do not end the file with an EOS message")
    p.set_defaults(run=run)


def _check_options(args: argparse.Namespace) -> int | None:
    """Validate before touching the output; returns created_at in ms (None = now)."""
    if not K.MIN_BEACON_INTERVAL <= args.beacon_interval <= K.MAX_BEACON_INTERVAL:
        raise UsageError(
            f"--beacon-interval {args.beacon_interval} must be between "
            f"{K.MIN_BEACON_INTERVAL} and {K.MAX_BEACON_INTERVAL}"
        )
    if args.file_name is not None and len(args.file_name.encode("utf-8")) > K.MAX_FILE_NAME_WRITE:
        raise UsageError(f"--file-name is longer than {K.MAX_FILE_NAME_WRITE} UTF-8 bytes")
    return None if args.created_at is None else parse_time_option(args.created_at)


def run(args: argparse.Namespace) -> int:
    created_at = _check_options(args)
    source_name = STDIN if args.input == "-" else args.input
    if args.output == "-":
        refuse_same(STDOUT, [source_name])
        if sys.stdout.isatty():
            raise UsageError("refusing to write a binary .ss file to a terminal: redirect stdout")
    if args.input == "-":
        source = sys.stdin.buffer
    else:
        say_if_waiting(args.input, "encode")
        source = open(args.input, "rb")  # noqa: SIM115 - closed below
    try:
        if args.output == "-":
            return encode_lines(source, args, created_at, None)
        with NewFile(args.output, inputs=[source_name]) as out:
            return encode_lines(source, args, created_at, out)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def encode_lines(
    source: BinaryIO | Iterable[bytes],
    args: argparse.Namespace,
    created_at: int | None,
    out: NewFile | None,
) -> int:
    """Write every line of ``source`` to ``out`` (for ``args.output``; None: stdout, as it
    goes); return the exit code."""
    target = STDOUT if out is None else args.output
    default_name = STDOUT_FILE_NAME if out is None else os.path.basename(args.output)
    with named(target):
        sys.stdout.flush()
        writer = Writer(
            sys.stdout.fileno() if out is None else out.path,
            "w",
            beacon_interval=args.beacon_interval,
            file_name=default_name if args.file_name is None else args.file_name,
            created_at=created_at,
            eos=not args.no_eos,
        )
    eos_line = 0
    try:
        with named(target):
            for number, raw in enumerate(source, 1):
                if eos_line:
                    raise LineError(
                        f"input continues after the end-of-stream message on line {eos_line}",
                        line=number,
                    )
                if _write_line(writer, raw, number):
                    eos_line = number
    except LineError as err:
        with named(target):
            writer.close(eos=False)
        if out is None:
            kept = " (every message before it is written, without EOS)"
        elif out.commit_if_new():
            kept = ""
        else:
            kept = f" (nothing written: {args.output} already existed and is left unchanged)"
        print(f"ssfile encode: error: {describe(target)}: {err}{kept}", file=sys.stderr)
        return EXIT_PROBLEMS
    except BaseException:
        writer.close(eos=False)
        raise
    with named(target):
        writer.close(eos=False if eos_line else None)
    return EXIT_OK


def _write_line(writer, raw: bytes, number: int) -> bool:  # type: ignore[no-untyped-def]
    """Write one input line; True if it was the end-of-stream message."""
    raw = strip_line_end(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LineError(
            f"not valid UTF-8 (byte {err.start + 1} of the line)", line=number
        ) from None
    ts, key, seq, shard, payload = parse_line(text, line=number)
    data = payload.encode("utf-8")
    key = K.BROADCAST_KEY if key is None else key
    if key == K.INTERNAL_KEY and data == K.EOS_PAYLOAD:
        writer.write_eos(timestamp=ts)
        return True
    try:
        writer.write(data, stream_key=key, shard_id=shard or 0, sequence=seq, timestamp=ts)
    except EncodeError as err:  # the reserved key, a value out of range: name the line
        last = writer.stream_info(key, shard or 0)
        if seq is None and last is not None and last[0] >= MAX_U64:
            reason = (
                f"no sequence number left after {MAX_U64} for stream {key!r} shard {shard or 0}:"
                " give the sequence explicitly"
            )
            raise LineError(reason, line=number) from None
        raise LineError(str(err), line=number) from None
    return False
