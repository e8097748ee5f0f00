"""What a recording holds, read from its first byte to its last (``ssfile info`` and the
viewer's summary): header, messages and payload bytes per (stream, shard) with first and last
sequence and time (in file order), beacons, EOS (and bytes after it), torn tail, checksum
mismatches.  :func:`to_json` gives it as one JSON-ready dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from ..codec.decoder import Decoder
from ..codec.events import EndOfStream
from ..errors import ChecksumMismatch, FormatError, TruncatedError
from ..format.records import Beacon, FileHeader
from ..types import Message, format_timestamp

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
