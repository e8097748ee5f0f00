"""What a recording holds, read from its first byte to its last (``ssfile info`` and the
viewer's summary): header, messages and payload bytes per (stream, shard) with first and last
sequence and time (in file order), beacons, EOS (and bytes after it), torn tail, checksum
mismatches, damaged ranges (read past, as ``on_damage="skip"`` does).  :func:`to_json` gives it as one JSON-ready dict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from ..codec.events import EndOfStream
from ..errors import ChecksumMismatch
from ..format.records import Beacon, FileHeader
from ..types import Message, format_timestamp
from .reader import Reader

CHUNK = 1 << 20


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
        "streams": stream_rows(s.streams),
        "beacons": s.beacons,
        "eos": s.eos_offset is not None,
        "bytes_after_eos": s.size - s.end_offset if s.eos_offset is not None else 0,
        "torn_tail_bytes": s.size - s.torn_tail_offset if s.torn_tail_offset is not None else 0,
        "checksum_errors": s.checksum_errors,
        "damaged_ranges": [{"offset": off, "length": n, "reason": why} for off, n, why in s.damage],
        "damaged_bytes": sum(n for _, n, _ in s.damage),
        "error": s.error,
    }


class _StreamCounts(Protocol):
    messages: int
    first_sequence: int
    last_sequence: int
    first_timestamp_ms: int
    last_timestamp_ms: int
    payload_bytes: int


def stream_rows(streams: Mapping[tuple[str, int], _StreamCounts]) -> list[dict[str, object]]:
    """One JSON row per (stream, shard), sorted by key bytes then shard (``info --json`` and
    the viewer's stream table)."""
    return [
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
            streams.items(), key=lambda kv: (kv[0][0].encode(), kv[0][1])
        )
    ]
