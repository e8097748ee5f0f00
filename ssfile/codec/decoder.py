"""The sans-I/O decoder: bytes in, events out, offsets always known.

Feed it bytes with :meth:`Decoder.feed` (and :meth:`Decoder.feed_eof` at the end), then take
events with :meth:`Decoder.next_event` or, on hot paths, :meth:`Decoder.read_events`.
It never reads or writes anything itself; sync and asyncio drivers are thin loops around it.

Events, in file order: the :class:`~ssfile.format.FileHeader`, then data messages
(:class:`~ssfile.types.Message`, ``offset`` set), :class:`~ssfile.format.Beacon` records as
they are met, and :class:`~ssfile.codec.events.EndOfStream`.  A beacon that cuts a frame is
emitted before that frame's message.

Errors are raised after every event before them has been handed out.  A checksum mismatch
is recoverable: the bad frame has been consumed and decoding continues on the next call.
Any other format error is final.
"""

from __future__ import annotations

from ..errors import ChecksumMismatch, FieldError, FormatError, TruncatedError
from ..format import constants as K
from ..format.crc import crc16_bytes
from ..format.layouts import parse_file_header
from ..format.records import Beacon, FileHeader
from ..types import MAX_TIMESTAMP_MS, Message
from .accel import speedups as _speedups
from .events import NEED_DATA, EndOfStream
from .fast import (
    FRAME_FIXED,
    FRAME_FIXED_SIZE,
    FRAME_HEADS,
    beacon_size_at,
    decode_key,
    parse_beacon_fast,
)
from .layout import Layout
from .resync import recover

_COMPACT_AT = 1 << 20
_HEAD_UNPACK = tuple(h.unpack_from for h in FRAME_HEADS)  # by key length
#: the C twin of the hot loop below (ssfile/_speedups.c), None without it or with SSFILE_PURE=1
_SCAN_FRAMES = None
if _speedups is not None:
    _speedups.configure_decoder(
        Message, MAX_TIMESTAMP_MS, K.INTERNAL_KEY.encode("ascii"), K.EOS_PAYLOAD
    )
    _SCAN_FRAMES = _speedups.scan_frames


class Decoder:
    """Decode a ``.ss`` byte stream.

    ``start_offset``/``header``: start mid-file (after a seek) at an absolute offset, with the
    file header already known.  ``skip``: logical frame bytes to drop first (the tail of a
    frame cut by the beacon the decoder starts on).  ``check_crc=False`` skips payload CRCs.
    ``stop_at_eos=False`` keeps decoding after an EOS (verify/repair); the EOS event is
    still emitted.
    """

    def __init__(
        self,
        *,
        start_offset: int = 0,
        header: FileHeader | None = None,
        skip: int = 0,
        check_crc: bool = True,
        stop_at_eos: bool = True,
    ) -> None:
        if (start_offset == 0) != (header is None):
            raise ValueError("start_offset and header go together")
        self.header = header
        self.interval = header.beacon_interval if header else 0
        self._buf = b""
        self._pos = 0
        self._base = start_offset  # absolute offset of _buf[0]
        self._skip = skip
        self._eof = False
        self._ended = False
        self._error: FormatError | None = None
        self._fatal = False
        self._check_crc = check_crc
        self._stop_at_eos = stop_at_eos
        self._keys: dict[bytes, str] = {}
        self._queue: list[object] = []
        self.last_beacon: Beacon | None = None

    # ---- input -----------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._eof:
            raise ValueError("feed() after feed_eof()")
        if not data:
            return
        if self._pos:
            if self._pos >= len(self._buf):
                self._base += len(self._buf)
                self._buf = b""
            else:
                self._base += self._pos
                self._buf = self._buf[self._pos :]
            self._pos = 0
        self._buf = self._buf + bytes(data) if self._buf else bytes(data)

    def feed_eof(self) -> None:
        self._eof = True

    # ---- state -----------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Absolute offset of the first byte not yet decoded."""
        return self._base + self._pos

    @property
    def ended(self) -> bool:
        """Whether the EOS frame has been decoded."""
        return self._ended

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet decoded."""
        return len(self._buf) - self._pos

    # ---- output ----------------------------------------------------------------------------

    def next_event(self) -> object:
        """The next event, or :data:`NEED_DATA`; None once the stream is over."""
        if not self._queue:
            self.read_events(self._queue, 64)
            if not self._queue:
                if self._done():
                    return None
                return NEED_DATA
        return self._queue.pop(0)

    def _done(self) -> bool:
        return (self._ended and self._stop_at_eos) or (self._eof and self.buffered == 0)

    def read_events(self, out: list[object], limit: int = 1 << 30) -> None:
        """Append up to ``limit`` decoded events to ``out``.

        Raises a pending error first (one found by the previous call after its events).
        Appends nothing when more data is needed or the stream is over.
        """
        if self._error is not None:
            err = self._error
            if not self._fatal:
                self._error = None
            raise err
        if self._ended and self._stop_at_eos:
            return
        start = len(out)  # ``out`` may already hold the caller's earlier events
        try:
            self._decode(out, limit)
        except FormatError as err:
            self._error = err
            self._fatal = not isinstance(err, ChecksumMismatch)
            if len(out) == start:
                self.read_events(out, limit)
        else:
            if (
                self._eof
                and len(out) == start
                and self.buffered
                and not (self._ended and self._stop_at_eos)
            ):
                # stuck at the end with bytes that do not form a whole record
                self._error = self._stuck_error()
                self._fatal = True
                raise self._error

    def _stuck_error(self) -> FormatError:
        """A record the data ends inside: a torn tail (:class:`TruncatedError`) only if no
        intact record follows its start; else damage (a bad length, a wrong count)."""
        if self.header is not None:
            start = self.offset
            data = bytes(self._buf[self._pos :])
            resume = recover(Layout(data, self.interval, start), start).resume
            if resume is not None:
                what = "beacon" if start % self.interval == 0 else "message frame"
                return FormatError(
                    f"damaged {what}: it runs past the end of the file, but intact data "
                    f"follows at offset {resume}",
                    start,
                )
        return TruncatedError(self._truncation_reason(), self.offset)

    def _truncation_reason(self) -> str:
        if self.header is None:
            return f"truncated header ({self.buffered} of {K.HEADER_SIZE} bytes)"
        if self.offset > 0 and self.offset % self.interval == 0:
            return f"truncated beacon ({self.buffered} bytes at the end of the file)"
        return f"truncated message frame ({self.buffered} bytes at the end of the file)"

    # ---- the loop --------------------------------------------------------------------------

    def _decode(self, out: list[object], limit: int) -> None:
        if self.header is None:
            if len(self._buf) - self._pos < K.HEADER_SIZE and not self._eof:
                return
            try:
                self.header = parse_file_header(
                    self._buf[self._pos : self._pos + K.HEADER_SIZE], self.offset
                )
            except TruncatedError as err:  # report where the torn header starts, like frames
                raise TruncatedError(err.reason, self.offset) from None
            self.interval = self.header.beacon_interval
            self._pos += K.HEADER_SIZE
            out.append(self.header)
        if self._skip and not self._skip_logical():
            return
        buf = self._buf
        base = self._base
        pos = self._pos
        end = len(buf)
        interval = self.interval
        keys = self._keys
        heads = _HEAD_UNPACK
        crc = crc16_bytes
        check = self._check_crc
        append = out.append
        max_ts = MAX_TIMESTAMP_MS
        internal, eos = K.INTERNAL_KEY, K.EOS_PAYLOAD
        scan = _SCAN_FRAMES
        n = len(out)
        limit += n
        try:
            while n < limit:
                absolute = base + pos
                into = absolute % interval
                if into == 0 and absolute:
                    self._pos = pos
                    beacon = self._beacon_at(pos, absolute)
                    if beacon is None:
                        return
                    append(beacon)
                    n += 1
                    pos += beacon.size
                    continue
                seg_end = pos + interval - into
                if seg_end > end:
                    seg_end = end
                if pos >= seg_end:
                    return
                # the hot loop: whole frames inside this segment (no beacon, no end of data)
                while True:
                    if scan is not None:
                        # the common frames in C; it stops before any frame that needs the
                        # code below (cut, new key, bad timestamp or checksum, EOS)
                        pos = scan(buf, pos, seg_end, base, keys, check, out, limit - n)
                        n = len(out)
                        if pos >= seg_end or n >= limit:
                            break
                    k = buf[pos]
                    p0 = pos + 29 + k  # length byte, key, fixed part
                    if p0 > seg_end:
                        break
                    _, raw_key, shard, seq, ts, length = heads[k](buf, pos)
                    key = keys.get(raw_key)  # checked before waiting for the payload
                    if key is None:
                        key = keys[raw_key] = decode_key(raw_key, base + pos)
                    if ts > max_ts:
                        raise FieldError(
                            f"timestamp {ts} out of range in message frame", base + pos
                        )
                    p1 = p0 + length
                    if p1 + 3 > seg_end:
                        break
                    payload = buf[p0:p1]
                    msg = Message(key, shard, seq, ts, payload, base + pos)
                    pos = p1 + 3
                    if check:
                        stored = (buf[p1] << 8) | buf[p1 + 1]
                        if stored != crc(payload):
                            raise self._crc_error(msg, stored)
                    if key == internal and payload == eos:
                        append(EndOfStream(msg))
                        self._ended = True
                        if self._stop_at_eos:
                            return
                    else:
                        append(msg)
                    n += 1
                    if pos >= seg_end or n >= limit:
                        break
                if pos >= seg_end or n >= limit:
                    continue
                absolute = base + pos
                # the frame is cut by a beacon or by the end of the data: the slow path
                self._pos = pos
                got = self._spliced_frame(pos, absolute)
                if got is None:
                    return
                events, pos, msg, stored = got
                self._pos = pos
                for ev in events:
                    append(ev)
                    n += 1
                if check and stored != crc(msg.payload):
                    raise self._crc_error(msg, stored)
                if msg.stream_key == K.INTERNAL_KEY and msg.payload == K.EOS_PAYLOAD:
                    append(EndOfStream(msg))
                    self._ended = True
                    if self._stop_at_eos:
                        return
                else:
                    append(msg)
                n += 1
        finally:
            self._pos = pos

    def _crc_error(self, msg: Message, stored: int) -> ChecksumMismatch:
        computed = crc16_bytes(msg.payload)
        return ChecksumMismatch(
            f"checksum mismatch in message (stream {msg.stream_key!r}, shard {msg.shard_id}, "
            f"seq {msg.sequence}): stored 0x{stored:04X}, computed 0x{computed:04X}",
            msg.offset,
            stored=stored,
            computed=computed,
        )

    def _beacon_at(self, pos: int, absolute: int) -> Beacon | None:
        buf, interval = self._buf, self.interval
        size = beacon_size_at(buf, pos)
        if size is None:
            if pos + 6 > len(buf) or K.BEACON_FIXED + buf[pos + 5] * K.MARKER_FIXED < interval:
                return None
            size = K.BEACON_FIXED + buf[pos + 5] * K.MARKER_FIXED
        if size >= interval:  # beacons never cut beacons (spec 5.2)
            raise FieldError(
                f"beacon of {size} bytes or more does not fit the beacon interval {interval}",
                absolute,
            )
        beacon = parse_beacon_fast(self._buf, pos, absolute, absolute // self.interval)
        self.last_beacon = beacon
        return beacon

    def _gather(self, pos: int, n: int, beacons: list[object]) -> tuple[bytes, int] | None:
        """``n`` logical bytes from ``pos``, parsing beacons met on the way; None if short."""
        buf = self._buf
        parts = []
        interval = self.interval
        while n:
            absolute = self._base + pos
            into = absolute % interval
            if into == 0 and absolute:
                beacon = self._beacon_at(pos, absolute)
                if beacon is None:
                    return None
                beacons.append(beacon)
                pos += beacon.size
                continue
            take = min(n, interval - into, len(buf) - pos)
            if take <= 0:
                return None
            parts.append(buf[pos : pos + take])
            pos += take
            n -= take
        return b"".join(parts), pos

    def _spliced_frame(
        self, pos: int, absolute: int
    ) -> tuple[list[object], int, Message, int] | None:
        """Parse a frame that crosses a boundary; nothing changes if the data is short."""
        events: list[object] = []
        saved = self.last_beacon
        got = self._gather(pos, 1, events)
        if got is not None:
            k = got[0][0]
            got = self._gather(got[1], k + FRAME_FIXED_SIZE, events)
        if got is None:
            self.last_beacon = saved
            return None
        head, pos = got
        shard, seq, ts, length = FRAME_FIXED.unpack_from(head, k)
        key = self._keys.get(head[:k]) or decode_key(head[:k], absolute)
        if ts > MAX_TIMESTAMP_MS:
            raise FieldError(f"timestamp {ts} out of range in message frame", absolute)
        got = self._gather(pos, length + 3, events)
        if got is None:
            self.last_beacon = saved
            return None
        tail, pos = got
        stored = (tail[length] << 8) | tail[length + 1]
        return events, pos, Message(key, shard, seq, ts, tail[:length], absolute), stored

    def _skip_logical(self) -> bool:
        """Drop ``self._skip`` logical bytes (a cut frame's tail) before decoding."""
        dropped: list[object] = []
        got = self._gather(self._pos, self._skip, dropped)
        if got is None:
            return False
        self._pos = got[1]
        self._skip = 0
        return True


def decode_bytes(data: bytes, *, check_crc: bool = True, stop_at_eos: bool = True) -> list[object]:
    """Decode a whole in-memory file into its events (raises at the first error)."""
    dec = Decoder(check_crc=check_crc, stop_at_eos=stop_at_eos)
    dec.feed(data)
    dec.feed_eof()
    out: list[object] = []
    while True:
        before = len(out)
        dec.read_events(out)
        if len(out) == before:
            return out


__all__ = ["Decoder", "NEED_DATA", "decode_bytes"]
