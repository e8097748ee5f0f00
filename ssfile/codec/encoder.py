"""The sans-I/O encoder: messages in, bytes out, beacons placed exactly as upstream does.

The encoder appends to an internal buffer; a driver moves the bytes to a file with
:meth:`Encoder.take`, or without a copy with :meth:`Encoder.view` then :meth:`Encoder.consume`.
The buffer is an arena that is reused, not emptied: its memory stays allocated from one flush
to the next (a bytearray emptied by ``del`` or ``clear()`` gives its memory back, and touching
fresh memory again cost more than encoding, bench/write_sizes.py).

Beacon rules (spec/ss-format.md, "Beacons"): a beacon starts at every positive multiple of
the interval, written as soon as the output reaches it; it carries ``num_markers(interval)``
markers chosen by rotating over the (stream, shard) pairs sorted by key bytes then shard,
starting at (markers emitted so far) mod (pairs known); each marker holds that pair's
running maxima of sequence and timestamp and its running checksum, updated *before* the
frame that crosses the boundary is written.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from operator import index as _index

from ..errors import EncodeError
from ..format import constants as K
from ..format.crc import ACCELERATED, crc16_bytes
from ..format.crc import TABLE as _TABLE
from ..format.layouts import build_file_header
from ..format.records import FileHeader, check_stream_key
from ..types import MAX_TIMESTAMP_MS, MAX_U64
from .accel import speedups as _speedups
from .fast import FRAME_HEADS as _HEADS
from .fast import FRAME_TRAILER as _TRAILER
from .fast import build_beacon_fast, build_frame_fast

_FRAME_FIXED = K.FRAME_FIXED
_MAX_PAYLOAD = K.MAX_PAYLOAD
_SEPARATOR = K.SEPARATOR
_INTERNAL_BYTES = K.INTERNAL_KEY.encode("ascii")
#: ``_FRAME_PACKS[k][n]``: a cached whole-frame ``pack`` for a k-byte key, n-byte payload
_FRAME_PACKS: tuple[dict[int, Callable[..., bytes]], ...] = tuple({} for _ in range(256))
#: the arena is cut back to this size once its output is consumed (after a huge payload)
KEEP = 4 << 20


def _frame_pack(k: int, n: int) -> Callable[..., bytes]:
    """A whole-frame ``pack`` for a k-byte key and an n-byte payload (FRAME_HEADS[k], the
    payload, FRAME_TRAILER in one struct); cached, for payload sizes that repeat."""
    cache = _FRAME_PACKS[k]
    if len(cache) >= 1024:
        cache.clear()
    fmt = f"{_HEADS[k].format}{n}s{_TRAILER.format[1:]}"
    pack = cache[n] = struct.Struct(fmt).pack
    return pack


@dataclass(slots=True)
class StreamState:
    """What a beacon marker says about one (stream, shard)."""

    sequence: int
    timestamp_ms: int
    running: int = 0xFFFF
    count: int = 0  # messages written (informational; not in the file)


class Encoder:
    """Encode messages for one file.

    A new file: ``Encoder(header)`` then :meth:`start` (header bytes).  Resuming an existing
    file (append): ``Encoder(header, offset=..., streams=..., markers_emitted=...)`` with the
    state recovered by scanning it; :meth:`start` then only writes the empty beacon that a
    boundary at the append point requires.
    """

    def __init__(
        self,
        header: FileHeader,
        *,
        offset: int = 0,
        streams: dict[tuple[str, int], StreamState] | None = None,
        markers_emitted: int = 0,
    ) -> None:
        interval = header.beacon_interval
        if not K.MIN_BEACON_INTERVAL <= interval <= K.MAX_BEACON_INTERVAL:
            raise EncodeError(f"beacon interval {interval} must be in [128, 2^32-1]")
        if len(header.file_name.encode("utf-8")) > K.MAX_FILE_NAME_WRITE:
            raise EncodeError(
                f"file name longer than {K.MAX_FILE_NAME_WRITE} UTF-8 bytes: {header.file_name!r}"
            )
        if not 0 <= header.created_at_ms <= MAX_TIMESTAMP_MS:
            raise EncodeError(f"created_at {header.created_at_ms} out of range")
        self.header = header
        self.interval = interval
        self.offset = offset
        self.streams: dict[tuple[str, int], StreamState] = dict(streams or {})
        self.markers_emitted = markers_emitted
        self._nm = K.num_markers(interval)
        #: the arena: its first ``pending`` bytes are the output not yet taken or consumed
        self._buf = bytearray()
        #: bytes of output not yet taken or consumed
        self.pending = 0
        self._keys: dict[str, bytes] = {}
        self._started = False

    # ---- output ----------------------------------------------------------------------------

    def take(self) -> bytes:
        """Bytes produced since the last call (or :meth:`consume`)."""
        out = bytes(self._buf[: self.pending])
        self.consume(self.pending)
        return out

    def view(self) -> memoryview:
        """The output not yet taken, without a copy.  Release the view (``release()``)
        before encoding more or calling :meth:`consume`: the arena must stay resizable."""
        return memoryview(self._buf)[: self.pending]

    def consume(self, n: int) -> None:
        """Drop the first ``n`` bytes of the output (a driver wrote them)."""
        rest = self.pending - n
        buf = self._buf
        if rest:
            buf[:rest] = buf[n : self.pending]  # the same length: in place, no reallocation
        self.pending = rest
        if len(buf) > KEEP and rest <= KEEP:
            self._buf = buf[:KEEP]

    def _room(self, end: int) -> bytearray:
        """The arena, grown to hold at least ``end`` bytes (doubling)."""
        buf = self._buf
        more = bytes(max(end, 2 * len(buf)) - len(buf))
        try:
            buf += more
        except BufferError:  # a view of it is still held (a failed write's traceback): a new one
            buf = self._buf = buf + more
        return buf

    def _put(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` to the output."""
        used = self.pending
        end = used + len(data)
        buf = self._buf if end <= len(self._buf) else self._room(end)
        buf[used:end] = data
        self.pending = end

    # ---- writing ---------------------------------------------------------------------------

    def start(self) -> None:
        """Write the header (new file) or the beacon an append point on a boundary needs."""
        if self._started:
            return
        self._started = True
        if self.offset == 0:
            self._put(build_file_header(self.header))
            self.offset = K.HEADER_SIZE
        if self.offset % self.interval == 0:
            # I == 128, or an append point exactly on a boundary: an empty beacon
            self._emit(b"", 0)

    def key_bytes(self, key: str) -> bytes:
        """The bytes of a message's stream key (cached), or :class:`EncodeError` for an
        invalid key or the reserved ``SEA_STREAMER_INTERNAL`` (spec 2.3), which only the
        end-of-stream frame carries (:meth:`end_of_stream`)."""
        kb = self._keys.get(key)
        if kb is None:
            if key == K.INTERNAL_KEY:
                raise EncodeError(
                    f"stream key {key!r} is reserved for the end-of-stream frame "
                    "and cannot carry messages"
                )
            kb = self._keys[key] = check_stream_key(key).encode("ascii")
        return kb

    def _marker_key(self, key: str) -> bytes:
        """key_bytes, also for the EOS frame's pair (a beacon may cut the EOS frame)."""
        return _INTERNAL_BYTES if key == K.INTERNAL_KEY else self.key_bytes(key)

    def encode(self, key: str, shard: int, seq: int, ts: int, payload: bytes) -> int:
        """Append one frame (and any beacons it reaches); returns its payload checksum.
        :class:`EncodeError` (nothing written) for a value the format cannot hold or the
        reserved key ``SEA_STREAMER_INTERNAL``."""
        if _ENCODE_FRAME is not None:
            # the common case in C (the whole frame); None (nothing changed) for anything the
            # code below must do
            got = _ENCODE_FRAME(
                self._buf,
                self.pending,
                self._keys,
                self.streams,
                key,
                shard,
                seq,
                ts,
                payload,
                self.offset,
                self.interval,
            )
            if got is not None:
                end, crc = got
                offset = self.offset
                size = end - offset
                if size < self.interval - offset % self.interval:  # no boundary reached
                    self.pending += size
                    self.offset = end
                else:  # the part after the boundary goes behind the beacon(s)
                    cut = self.pending + self.interval - offset % self.interval
                    rest = bytes(memoryview(self._buf)[cut : self.pending + size])
                    self.pending = cut
                    self.offset = end - len(rest)
                    self._emit(rest, 0)
                return crc  # type: ignore[no-any-return]  # from the C accelerator
        kb = self._keys.get(key)
        if kb is None:
            kb = self.key_bytes(key)
        try:  # integers (numpy's too) as int; a float or text is refused before any state changes
            shard, seq, ts = _index(shard), _index(seq), _index(ts)
        except TypeError:
            raise EncodeError(
                f"shard, sequence and timestamp must be integers, not {shard!r}, {seq!r}, {ts!r}"
            ) from None
        if not (0 <= shard <= MAX_U64 and 0 <= seq <= MAX_U64 and 0 <= ts <= MAX_TIMESTAMP_MS):
            raise EncodeError(
                f"out of range: shard {shard}, sequence {seq}, timestamp {ts} "
                f"(timestamps must be in [0, {MAX_TIMESTAMP_MS}] ms)"
            )
        n = len(payload)
        if n > _MAX_PAYLOAD:
            raise EncodeError(f"payload of {n} bytes exceeds {K.MAX_PAYLOAD}")
        crc = crc16_bytes(payload)
        state = self.streams.get((key, shard))
        if state is None:
            state = self.streams[(key, shard)] = StreamState(seq, ts)
        else:
            if seq > state.sequence:
                state.sequence = seq
            if ts > state.timestamp_ms:
                state.timestamp_ms = ts
        # running_update(state.running, crc), inlined: this runs once per message
        r = state.running
        r = _TABLE[((r >> 8) ^ (crc >> 8)) & 0xFF] ^ ((r << 8) & 0xFFFF)
        state.running = _TABLE[((r >> 8) ^ crc) & 0xFF] ^ ((r << 8) & 0xFFFF)
        state.count += 1
        k = len(kb)
        size = _FRAME_FIXED + k + n
        offset = self.offset
        if size < self.interval - offset % self.interval:  # the common case: no boundary reached
            pack = _FRAME_PACKS[k].get(n)
            if pack is None:
                pack = _frame_pack(k, n)
            used = self.pending
            end = used + size
            buf = self._buf if end <= len(self._buf) else self._room(end)
            buf[used:end] = pack(k, kb, shard, seq, ts, n, payload, crc, _SEPARATOR)
            self.pending = end
            self.offset = offset + size
            return crc
        self._emit(build_frame_fast(kb, shard, seq, ts, payload, crc), 0)
        return crc

    def appender(self, key: str, shard: int) -> Callable[[bytes, int], int]:
        """``put(payload, ts) -> sequence``: :meth:`encode` of the next message of one
        (stream, shard), its sequence one more than the largest so far (1 for a new one), with
        the arguments bound once (a producer's per-message path).  Same bytes, same errors."""
        streams = self.streams
        state_key = (key, shard)
        encode = self.encode  # the C frame encoder writes at ``pending`` in the kept buffer

        def put(payload: bytes, ts: int) -> int:
            st = streams.get(state_key)
            seq = 1 if st is None else st.sequence + 1
            encode(key, shard, seq, ts, payload)
            return seq

        return put

    def _emit(self, frame: bytes, pos: int) -> None:
        """Write ``frame[pos:]``, inserting a beacon at every boundary reached."""
        interval = self.interval
        view = memoryview(frame)
        while True:
            if self.offset % interval == 0:
                self._beacon(len(frame) - pos)
            if pos >= len(frame):
                return
            n = min(interval - self.offset % interval, len(frame) - pos)
            self._put(view[pos : pos + n])
            pos += n
            self.offset += n
            if self.offset % interval and pos >= len(frame):
                return

    def _beacon(self, remaining: int) -> None:
        chosen = []
        if self._nm and self.streams:
            pairs = sorted(self.streams, key=lambda p: (self._marker_key(p[0]), p[1]))
            start = self.markers_emitted % len(pairs)
            chosen = (pairs[start:] + pairs)[: min(len(pairs), self._nm)]
        markers = []
        for key, shard in chosen:
            st = self.streams[(key, shard)]
            markers.append((self._marker_key(key), shard, st.sequence, st.timestamp_ms, st.running))
        data = build_beacon_fast(remaining, markers)
        self._put(data)
        self.offset += len(data)
        self.markers_emitted = (self.markers_emitted + len(markers)) & 0xFFFFFFFF

    def end_of_stream(self, ts: int) -> None:
        """Append the EOS frame (key SEA_STREAMER_INTERNAL, shard 0, seq 0, payload EOS).

        The reserved key is known to the key cache only during this call, so :meth:`encode`
        refuses it for every other frame (and the C path always hands it back)."""
        self._keys[K.INTERNAL_KEY] = _INTERNAL_BYTES
        try:
            self.encode(K.INTERNAL_KEY, 0, 0, ts, K.EOS_PAYLOAD)
        finally:
            del self._keys[K.INTERNAL_KEY]


#: the C twin of Encoder.encode's common case (ssfile/_speedups.c), None without it
_ENCODE_FRAME = None
if _speedups is not None:
    _speedups.configure_encoder(
        StreamState,
        MAX_TIMESTAMP_MS,
        _MAX_PAYLOAD,
        _INTERNAL_BYTES,
        crc16_bytes if ACCELERATED else None,  # fastcrc for long payloads
    )
    _ENCODE_FRAME = _speedups.encode_frame

__all__ = ["Encoder", "StreamState"]
