"""``ssfile info FILE... [--json]``: what is in recordings.

Header fields, file size, message count; per (stream, shard): messages, first and last
sequence and time (in file order), payload bytes; beacon count; whether it ends with an
EOS (and bytes after it); the bytes of a torn tail; checksum mismatches.  Reading every
byte takes a while on a large file: on a terminal a progress bar appears on stderr when
it takes more than half a second (``--no-progress``: never).

Several files are summarised one after the other (text: separated by a blank line; JSON:
one object per line); a file that cannot be read is reported and the next one summarised;
the exit status is the worst of them.  ``-`` is stdin, copied to a temporary file first
(resync past damage seeks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from ..codec.events import EndOfStream
from ..errors import ChecksumMismatch, FormatError, UsageError
from ..file.output import STDIN, STDOUT, refuse_same
from ..file.reader import Reader
from ..format.records import Beacon, FileHeader
from ..types import Message, format_timestamp
from . import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, describe_os_error
from .inputs import display_name, require_seekable, seekable_input
from .progress import add_progress_option, byte_bar, show_progress

CHUNK = 1 << 20

EPILOG = """Damaged bytes are read past (the resync verify uses): every intact message is
counted, and each damaged range is listed with its offset and length.
Several FILEs: one summary each (--json: one JSON object per line).  FILE - is stdin
(copied to a temporary file first).  A progress bar appears on a terminal for long reads.
exit status: 0 ok; 1 a file has checksum mismatches, damaged ranges or a torn tail;
2 not a readable .ss file (or bad usage); 130 Ctrl-C.  With several files the worst
(highest) status of them wins."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "info",
        help="summarise a .ss file: header, streams, beacons, EOS, torn tail",
        description="Read a whole .ss file and summarise it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="FILE", help="the .ss file(s); - for stdin")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    add_progress_option(p)
    p.set_defaults(run=run)


@dataclass
class StreamStats:
    messages: int = 0
    first_sequence: int = 0
    last_sequence: int = 0
    first_timestamp_ms: int = 0
    last_timestamp_ms: int = 0
    payload_bytes: int = 0


@dataclass
class Summary:
    size: int
    header: FileHeader | None = None
    messages: int = 0
    beacons: int = 0
    eos_offset: int | None = None
    end_offset: int = 0
    torn_tail_offset: int | None = None
    checksum_errors: int = 0
    error: str | None = None
    #: damaged ranges read past: (offset, length, what was wrong at the offset)
    damage: list[tuple[int, int, str]] = field(default_factory=list)
    streams: dict[tuple[str, int], StreamStats] = field(default_factory=dict)

    def add(self, msg: Message) -> None:
        key = (msg.stream_key, msg.shard_id)
        st = self.streams.get(key)
        if st is None:
            st = self.streams[key] = StreamStats(
                first_sequence=msg.sequence, first_timestamp_ms=msg.timestamp_ms
            )
        st.messages += 1
        st.last_sequence = msg.sequence
        st.last_timestamp_ms = msg.timestamp_ms
        st.payload_bytes += len(msg.payload)
        self.messages += 1


def _progress(size: int, show: bool, delay: float = 0.5):  # type: ignore[no-untyped-def]
    """A tqdm bar on a terminal (after ``delay`` s: a quick run shows none), else None."""
    if not show:
        return None
    return byte_bar(size, "reading", delay=delay)


class _Counted:
    """The file, with reads reported to a progress bar (by position: a resync seeks)."""

    def __init__(self, f: BinaryIO, progress: object) -> None:
        self._f = f
        self._progress = progress
        self._seen = 0
        self.name = getattr(f, "name", None)

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if self._progress is not None:
            here = self._f.tell()
            if here > self._seen:
                self._progress.update(here - self._seen)  # type: ignore[attr-defined]
                self._seen = here
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)


def summarise(f: BinaryIO, size: int, progress: object = None) -> Summary:
    """Read the whole file, past damage (``on_damage="skip"``: every intact message is
    counted, every damaged range listed); a torn tail ends it.  A header that is not a .ss
    header raises."""
    s = Summary(size)
    with Reader(
        _Counted(f, progress),  # type: ignore[arg-type]
        tolerate_truncation=True,
        on_damage="skip",
        chunk_size=CHUNK,
    ) as reader:
        reader._warn_damage = False  # listed in the summary instead
        s.header = reader.header
        _count(s, reader.events())
        s.end_offset = reader.offset
        s.torn_tail_offset = reader.torn_tail
        s.damage = [
            (off, n, err.reason) for (off, n), err in zip(reader.damage, reader.damage_errors)
        ]
        s.checksum_errors = sum(isinstance(e, ChecksumMismatch) for e in reader.damage_errors)
    return s


def _count(s: Summary, events: Iterable[object]) -> None:
    msg_type = Message
    add = s.add
    for ev in events:
        if type(ev) is msg_type:
            add(ev)
        elif type(ev) is Beacon:
            s.beacons += 1
        elif type(ev) is EndOfStream:
            s.eos_offset = ev.offset
        elif type(ev) is FileHeader:
            s.header = ev


def to_json(path: str, s: Summary) -> dict[str, object]:
    assert s.header is not None
    return {
        "file": path,
        "size": s.size,
        "header": s.header.to_json_dict() | {"created_at_ms": s.header.created_at_ms},
        "messages": s.messages,
        "streams": [
            {
                "stream_key": key,
                "shard_id": shard,
                "messages": st.messages,
                "first_sequence": st.first_sequence,
                "last_sequence": st.last_sequence,
                "first_timestamp": format_timestamp(st.first_timestamp_ms),
                "last_timestamp": format_timestamp(st.last_timestamp_ms),
                "first_timestamp_ms": st.first_timestamp_ms,
                "last_timestamp_ms": st.last_timestamp_ms,
                "payload_bytes": st.payload_bytes,
            }
            for (key, shard), st in sorted(
                s.streams.items(), key=lambda kv: (kv[0][0].encode(), kv[0][1])
            )
        ],
        "beacons": s.beacons,
        "eos": s.eos_offset is not None,
        "bytes_after_eos": s.size - s.end_offset if s.eos_offset is not None else 0,
        "torn_tail_bytes": s.size - s.torn_tail_offset if s.torn_tail_offset is not None else 0,
        "checksum_errors": s.checksum_errors,
        "damaged_ranges": [{"offset": off, "length": n, "reason": why} for off, n, why in s.damage],
        "damaged_bytes": sum(n for _, n, _ in s.damage),
        "error": s.error,
    }


def to_text(info: dict[str, object]) -> str:
    h = info["header"]
    assert isinstance(h, dict)
    lines = [
        f"file:             {info['file']}",
        f"size:             {info['size']} bytes",
        f"file name:        {h['file_name']}",
        f"created at:       {h['created_at']}",
        f"beacon interval:  {h['beacon_interval']}",
        f"messages:         {info['messages']}",
        f"beacons:          {info['beacons']}",
        f"eos:              {'yes' if info['eos'] else 'no'}"
        + (f" ({info['bytes_after_eos']} bytes after it)" if info["bytes_after_eos"] else ""),
        f"torn tail:        {info['torn_tail_bytes']} bytes",
        f"checksum errors:  {info['checksum_errors']}",
        f"damaged:          {len(info['damaged_ranges'])} ranges, "  # type: ignore[arg-type]
        f"{info['damaged_bytes']} bytes (messages after them are counted)",
    ]
    for d in info["damaged_ranges"]:  # type: ignore[attr-defined]
        end = d["offset"] + d["length"]
        lines.append(f"  at offset {d['offset']}..{end} ({d['length']} bytes): {d['reason']}")
    if info["error"]:
        lines.append(f"error:            {info['error']}")
    rows = [
        (
            "STREAM",
            "SHARD",
            "MESSAGES",
            "FIRST SEQ",
            "LAST SEQ",
            "FIRST TIME",
            "LAST TIME",
            "PAYLOAD BYTES",
        )
    ]
    for st in info["streams"]:  # type: ignore[attr-defined]
        rows.append(
            (
                st["stream_key"],
                str(st["shard_id"]),
                str(st["messages"]),
                str(st["first_sequence"]),
                str(st["last_sequence"]),
                st["first_timestamp"],
                st["last_timestamp"],
                str(st["payload_bytes"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines.append("streams:")
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    paths: list[str] = args.paths
    if paths.count("-") > 1:
        raise UsageError("- (stdin) can be given only once")
    for p in paths:
        if p != "-":
            require_seekable(p, "info")
    refuse_same(STDOUT, [STDIN if p == "-" else p for p in paths])  # `>> FILE` would append
    code = EXIT_OK
    for i, path in enumerate(paths):
        if i and not args.json:
            sys.stdout.write("\n")
        code = max(code, _report_one(path, args, several=len(paths) > 1))
    return code


def _report_one(path: str, args: argparse.Namespace, several: bool) -> int:
    """Summarise one file; with several files a file that fails is reported (its exit
    code returned) and the next one is summarised."""
    name = display_name(path)
    try:
        with seekable_input(path, "info") as local, open(local, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            bar = _progress(size, show_progress(args), 0.0 if args.progress else 0.5)
            try:
                s = summarise(f, size, bar)
            except FormatError as err:
                raise UsageError(str(err.with_path(name))) from err
            finally:
                if bar is not None:
                    bar.close()
    except (UsageError, OSError) as err:
        if not several or isinstance(err, BrokenPipeError):
            raise
        sys.stdout.flush()
        what = describe_os_error(err) if isinstance(err, OSError) else str(err)
        print(f"ssfile info: error: {what}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    info = to_json(name, s)
    if args.json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(to_text(info))
    sys.stdout.flush()
    problems = s.checksum_errors or s.torn_tail_offset is not None or s.error or s.damage
    return EXIT_PROBLEMS if problems else EXIT_OK
