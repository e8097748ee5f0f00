"""Checked reads over the bytes of a possibly damaged file: beacons and frames at any offset.

Pure functions over a bytes-like buffer (``bytes``, a ``memoryview`` or an ``mmap``) holding
the file from absolute offset ``base`` to its end, and absolute offsets.  Nothing here trusts
a length field without bounds-checking it against the data, and every read says why it
failed, so a scanner can decide between "damage" and "torn tail".  Used by ``verify``/
``repair`` (ssfile/check/) and by the readers' ``on_damage="skip"`` (through
:mod:`ssfile.codec.resync`).
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass, field
from typing import TypeAlias

from ..format import constants as K
from ..format.crc import crc16, crc16_bytes
from ..format.records import Beacon, Marker, MessageHeader
from ..types import MAX_TIMESTAMP_MS
from .fast import BEACON_HEAD, BEACON_HEAD_SIZE, FRAME_FIXED, FRAME_FIXED_SIZE, MARKER_FIXED

SEP = K.SEPARATOR
#: what the reads take: a whole file's bytes, a map of it, or a piece of it
Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap
KEY_BYTES = re.compile(rb"[A-Za-z0-9._\-]*\Z")

# frame read outcomes
OK, BAD_CRC, EOF, INVALID, BAD_BEACON = "ok", "bad-crc", "eof", "invalid", "bad-beacon"


@dataclass(frozen=True, slots=True)
class BeaconRead:
    """What is at a boundary: a usable ``beacon``, or ``reason`` why not (``eof``: cut off)."""

    offset: int
    beacon: Beacon | None
    reason: str = ""
    lead_ok: bool = True
    term_ok: bool = True

    @property
    def ok(self) -> bool:
        return self.beacon is not None


@dataclass(slots=True)
class FrameRead:
    """One frame read at ``offset``; ``status`` is one of OK, BAD_CRC, EOF, INVALID, BAD_BEACON.

    ``crossed`` lists the beacons the frame spans, each with the ``remaining_messages_bytes``
    it must hold (the frame bytes that follow it).
    """

    status: str
    offset: int
    end: int = 0
    key: str = ""
    shard: int = 0
    seq: int = 0
    ts: int = 0
    payload: bytes = b""
    stored: int = 0
    separator: int = SEP
    reason: str = ""
    crossed: list[tuple[BeaconRead, int]] = field(default_factory=list)

    @property
    def is_eos(self) -> bool:
        return self.key == K.INTERNAL_KEY and self.payload == K.EOS_PAYLOAD

    @property
    def computed(self) -> int:
        return crc16(self.payload)


def read_beacon(buf: Buffer, at: int, interval: int, base: int = 0) -> BeaconRead:
    """Parse and bounds-check the beacon at absolute ``at`` (a multiple of ``interval``);
    ``buf[0]`` is the byte at absolute offset ``base``.

    The terminator is not required to be 0x0D (readers ignore it, spec 7.2): ``term_ok``
    says whether it is.  The beacon must fit its interval (spec 5.2)."""
    got = _read_beacon(buf, at - base, interval)
    if isinstance(got, str):
        return BeaconRead(at, None, got)
    remaining, markers, bsize, lead, term = got
    return BeaconRead(
        at, Beacon(at, at // interval, remaining, markers, bsize), "", lead == SEP, term == SEP
    )


def _read_beacon(
    buf: Buffer, at: int, interval: int
) -> str | tuple[int, tuple[Marker, ...], int, int, int]:
    """The beacon at buffer index ``at``: (remaining, markers, size, lead, terminator)
    or why there is none (``"eof"``: the data ends inside it)."""
    size = len(buf)
    last = at + interval - 1  # a beacon always leaves room in its interval
    if at + BEACON_HEAD_SIZE > size:
        return "eof"
    lead, remaining, count = BEACON_HEAD.unpack_from(buf, at)
    if K.BEACON_FIXED + count * K.MARKER_FIXED >= interval:
        return f"{count} markers cannot fit in the interval {interval}"
    p = at + BEACON_HEAD_SIZE
    markers = []
    for _ in range(count):
        if p >= size:
            return "eof"
        k = buf[p]
        end = p + K.MARKER_FIXED + k
        if end >= last:
            return f"beacon does not fit the interval {interval}"
        if end > size:
            return "eof"
        raw = bytes(buf[p + 1 : p + 1 + k])
        if k > K.MAX_STREAM_KEY_LEN or not KEY_BYTES.match(raw):
            return f"invalid stream key {raw!r} in a marker"
        shard, seq, ts, running = MARKER_FIXED.unpack_from(buf, p + 1 + k)
        if ts > MAX_TIMESTAMP_MS:
            return f"marker timestamp {ts} out of range"
        markers.append(Marker(MessageHeader(raw.decode("ascii"), shard, seq, ts), running))
        p = end
    if p >= size:
        return "eof"
    return remaining, tuple(markers), p + 1 - at, lead, buf[p]


class Layout:
    """A file's bytes with its beacon interval: boundaries, cached beacons, logical reads.

    ``buf`` holds the file from absolute offset ``base`` to the end of the data, absolute
    offset :attr:`size` (reads past it say ``EOF``).  Every position is absolute.
    """

    def __init__(self, buf: Buffer, interval: int, base: int = 0) -> None:
        self.buf = buf
        self.base = base
        self.size = base + len(buf)
        self.interval = interval
        self._beacons: dict[int, BeaconRead] = {}
        self._keys: dict[bytes, str] = {}

    def is_boundary(self, pos: int) -> bool:
        return pos > 0 and pos % self.interval == 0

    def next_boundary(self, pos: int) -> int:
        return pos - pos % self.interval + self.interval

    def beacon(self, at: int) -> BeaconRead:
        got = self._beacons.get(at)
        if got is None:
            got = self._beacons[at] = read_beacon(self.buf, at, self.interval, self.base)
        return got

    def gather(
        self, pos: int, n: int, crossed: list[tuple[BeaconRead, int]], done: int
    ) -> tuple[bytes, int] | str:
        """``n`` (>= 1) logical bytes from ``pos`` across beacons, or EOF / BAD_BEACON.

        ``done`` is how many bytes of the frame precede ``pos``; each crossed beacon is
        recorded with that count (the caller turns it into the expected remaining bytes).
        """
        parts = []
        buf, base = self.buf, self.base
        while True:
            if self.is_boundary(pos):
                b = self.beacon(pos)
                if not b.ok:
                    return EOF if b.reason == "eof" else BAD_BEACON
                crossed.append((b, done))
                pos += b.beacon.size  # type: ignore[union-attr]
            take = min(n, self.next_boundary(pos) - pos)
            if pos + take > self.size:
                return EOF
            parts.append(bytes(buf[pos - base : pos - base + take]))
            pos += take
            n -= take
            done += take
            if not n:  # a boundary right after the last byte is not crossed
                return b"".join(parts), pos

    def advance(self, pos: int, n: int) -> int | None:
        """The position ``n`` logical bytes after ``pos`` (None if the data ends first or a
        damaged beacon is in the way)."""
        while n:
            if self.is_boundary(pos):
                b = self.beacon(pos)
                if not b.ok:
                    return None
                pos += b.beacon.size  # type: ignore[union-attr]
            take = min(n, self.next_boundary(pos) - pos)
            if pos + take > self.size:
                return None
            pos += take
            n -= take
        return pos

    def read_frame(self, pos: int) -> FrameRead:
        """Read the frame at ``pos`` (not a boundary), checking every bound and the CRC."""
        buf, base = self.buf, self.base
        seg_end = min(self.next_boundary(pos), self.size)
        if pos >= self.size:
            return FrameRead(EOF, pos, reason="cut at the key length")
        k = buf[pos - base]
        fixed = pos + 1 + k
        if fixed + FRAME_FIXED_SIZE <= seg_end:
            shard, seq, ts, length = FRAME_FIXED.unpack_from(buf, fixed - base)
            p0 = fixed + FRAME_FIXED_SIZE
            if p0 + length + 3 <= seg_end:
                raw = bytes(buf[pos + 1 - base : fixed - base])
                payload = bytes(buf[p0 - base : p0 - base + length])
                tail = p0 + length - base
                return self._finish(
                    pos,
                    p0 + length + 3,
                    raw,
                    shard,
                    seq,
                    ts,
                    payload,
                    (buf[tail] << 8) | buf[tail + 1],
                    buf[tail + 2],
                    [],
                )
        return self._read_spliced(pos)

    def _read_spliced(self, pos: int) -> FrameRead:
        crossed: list[tuple[BeaconRead, int]] = []
        got = self.gather(pos, 1, crossed, 0)
        if isinstance(got, str):
            return FrameRead(got, pos, reason="cut at the key length")
        k = got[0][0]
        got = self.gather(got[1], k + FRAME_FIXED_SIZE, crossed, 1)
        if isinstance(got, str):
            return FrameRead(got, pos, reason="cut in the header")
        head, at = got
        shard, seq, ts, length = FRAME_FIXED.unpack_from(head, k)
        if k > K.MAX_STREAM_KEY_LEN or not KEY_BYTES.match(head[:k]) or ts > MAX_TIMESTAMP_MS:
            return FrameRead(INVALID, pos, reason="invalid stream key or timestamp")
        if at + length + 3 > self.size:  # physical bytes >= logical bytes
            return FrameRead(
                EOF, pos, reason=f"payload of {length} bytes runs past the end of the file"
            )
        got = self.gather(at, length + 3, crossed, 1 + k + FRAME_FIXED_SIZE)
        if isinstance(got, str):
            return FrameRead(got, pos, reason="cut in the payload")
        tail, end = got
        total = K.FRAME_FIXED + k + length
        crossed = [(b, total - done) for b, done in crossed]
        return self._finish(
            pos,
            end,
            head[:k],
            shard,
            seq,
            ts,
            tail[:length],
            (tail[length] << 8) | tail[length + 1],
            tail[length + 2],
            crossed,
        )

    def _finish(
        self,
        pos: int,
        end: int,
        raw: bytes,
        shard: int,
        seq: int,
        ts: int,
        payload: bytes,
        stored: int,
        sep: int,
        crossed: list[tuple[BeaconRead, int]],
    ) -> FrameRead:
        key = self._keys.get(raw)
        if key is None:
            if len(raw) > K.MAX_STREAM_KEY_LEN or not KEY_BYTES.match(raw):
                return FrameRead(INVALID, pos, reason=f"invalid stream key {raw[:40]!r}")
            key = raw.decode("ascii")
            if len(self._keys) < 4096:
                self._keys[raw] = key
        if ts > MAX_TIMESTAMP_MS:
            return FrameRead(INVALID, pos, reason=f"timestamp {ts} out of range")
        status = OK if crc16_bytes(payload) == stored else BAD_CRC
        return FrameRead(
            status, pos, end, key, shard, seq, ts, payload, stored, sep, crossed=crossed
        )

    def plausible(self, pos: int) -> FrameRead | None:
        """The frame at ``pos`` if it is whole, its CRC matches and its separator is 0x0D."""
        f = self.read_frame(pos)
        if f.status == OK and f.separator == SEP:
            return f
        return None
