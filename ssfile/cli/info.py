"""``ssfile info FILE [--json]``: what is in a recording.

Header fields, file size, message count; per (stream, shard): messages, first and last
sequence and time (in file order), payload bytes; beacon count; whether it ends with an
EOS (and bytes after it); the bytes of a torn tail; checksum mismatches.  Reading every
byte takes a while on a large file: on a terminal a progress bar appears on stderr when
it takes more than half a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import BinaryIO

from ..codec.decoder import Decoder
from ..codec.events import EndOfStream
from ..errors import ChecksumMismatch, FormatError, TruncatedError, UsageError
from ..file.output import STDOUT, refuse_same
from ..format.records import Beacon, FileHeader
from ..types import Message, format_timestamp
from . import EXIT_OK, EXIT_PROBLEMS
from .inputs import require_seekable

CHUNK = 1 << 20

EPILOG = """exit status: 0 ok; 1 the file has checksum mismatches, a torn tail or an invalid
record (what was read before it is still reported); 2 not a readable .ss file."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "info",
        help="summarise a .ss file: header, streams, beacons, EOS, torn tail",
        description="Read a whole .ss file and summarise it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="FILE", help="the .ss file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
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


def _progress(size: int):  # type: ignore[no-untyped-def]
    """A tqdm bar on a terminal (after 0.5 s), else None."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        delay=0.5,
        file=sys.stderr,
        leave=False,
        desc="reading",
    )


def summarise(f: BinaryIO, size: int, progress: object = None) -> Summary:
    """Read the whole file; format errors end the summary (recorded, not raised), except a
    header that is not a .ss header, which raises."""
    s = Summary(size)
    dec = Decoder(check_crc=True)
    out: list[object] = []
    at_eof = False
    while True:
        out.clear()
        try:
            dec.read_events(out)
        except ChecksumMismatch:
            s.checksum_errors += 1  # the bad frame is consumed; go on
            continue
        except TruncatedError as err:
            if dec.header is None:
                raise
            s.torn_tail_offset = err.offset
            break
        except FormatError as err:
            if dec.header is None:
                raise
            s.error = err.reason + (f" at offset {err.offset}" if err.offset is not None else "")
            break
        if out:
            _count(s, out)
            if s.eos_offset is not None:
                break
            continue
        if at_eof:
            break
        data = f.read(CHUNK)
        if data:
            dec.feed(data)
            if progress is not None:
                progress.update(len(data))  # type: ignore[attr-defined]
        else:
            dec.feed_eof()
            at_eof = True
    s.end_offset = dec.offset
    return s


def _count(s: Summary, events: list[object]) -> None:
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
    ]
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
    require_seekable(args.path, "info")
    refuse_same(STDOUT, [args.path])  # `>> FILE` would append text to the recording
    with open(args.path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        bar = _progress(size)
        try:
            s = summarise(f, size, bar)
        except FormatError as err:
            raise UsageError(str(err.with_path(args.path))) from err
        finally:
            if bar is not None:
                bar.close()
    info = to_json(args.path, s)
    if args.json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(to_text(info))
    problems = s.checksum_errors or s.torn_tail_offset is not None or s.error
    return EXIT_PROBLEMS if problems else EXIT_OK
