"""The columnar scan through the C accelerator (``scan_columns`` in ssfile/_speedups.c).

The twin of the numpy scan in :mod:`.columns`: the same segments (:mod:`.layout`), the same
rows, dtypes, errors and offsets (tests/test_columns_c.py holds the two equal), but the
frames are walked one after the other in C, straight from the memory map, CRCs included,
and written into the columns directly.  Memory: the columns are allocated once from an
estimate of their final length (rows per byte scanned so far) and grown in place (numpy
``resize``, a ``realloc``: large blocks are remapped, not copied), then trimmed, so the peak
is the columns themselves.  With ``payload="bytes"`` the payloads go through a bounded
buffer that is cut into ``bytes`` objects chunk by chunk.

The C walk stops at anything unusual (a key seen for the first time, a bad timestamp or
checksum, the EOS frame, a frame cut by the end of the data) and this module takes over:
a new key is checked and learned here, and every error is built here with the same text and
offset as the numpy path builds it (:func:`timestamp_error`, :func:`checksum_error` are
shared by both).
"""

from __future__ import annotations

from typing import Any

from ..codec.accel import speedups
from ..errors import ChecksumMismatch, FieldError
from ..format import constants as K
from ..format.crc import crc16_bytes
from ..types import MAX_TIMESTAMP_MS

DONE, FULL, NEWKEY, WIDEN, BAD_TS, BAD_CRC, EOS, TORN = range(8)
FIRST_ROWS = 1 << 16  # rows allocated before there is anything to estimate from
_INTERNAL = K.INTERNAL_KEY.encode("ascii")
_I64 = (-(1 << 63), (1 << 63) - 1)


def available() -> bool:
    """Whether the C scan can run (the accelerator is built, and SSFILE_PURE is not set)."""
    return speedups is not None and hasattr(speedups, "scan_columns")


def timestamp_error(ts: int, offset: int) -> FieldError:
    return FieldError(f"timestamp {ts} out of range in message frame", offset)


def checksum_error(
    key: str, shard: int, seq: int, stored: int, computed: int, offset: int
) -> ChecksumMismatch:
    return ChecksumMismatch(
        f"checksum mismatch in message (stream {key!r}, shard {shard}, seq {seq}): stored "
        f"0x{stored:04X}, computed 0x{computed:04X}",
        offset,
        stored=stored,
        computed=computed,
    )


def _clamp(v: int | None) -> int | None:
    return None if v is None else min(max(v, _I64[0]), _I64[1])


def _grown(np: Any, a: Any, used: int, size: int) -> Any:
    """``a`` (of which ``used`` items are filled) with room for ``size`` items.  A small
    ``a`` is copied into a new array (whose pages are touched only as they fill); a large one
    grows in place (``resize``: a ``realloc``, which remaps a large block instead of copying
    it, and zero-fills only the new part), so the peak is never two big arrays."""
    if used * 4 < size:
        out = np.empty(size, a.dtype)
        out[:used] = a[:used]
        return out
    a.resize(size, refcheck=False)
    return a


class CScan:
    """One run of the C scan over a ``_Scanner``'s map and layout (see :meth:`run`)."""

    def __init__(self, sc: Any, chunk: int) -> None:
        self.sc, self.np, self.lay = sc, sc.np, sc.layout
        self.chunk = max(1, chunk)  # the bytes-mode payload buffer; rows start at chunk // 64
        np, lay = self.np, self.lay
        self.segs = tuple(np.array(v, dtype=np.int64) for v in (lay.phys, lay.logical, lay.length))

    def _bytes(self, pos: int, n: int) -> bytes:
        """``n`` bytes of the logical stream from ``pos`` (they exist)."""
        mm = self.sc.mm
        return b"".join(mm[o : o + m] for o, m in self.lay.pieces(pos, pos + n))

    def _frame(self, pos: int) -> tuple[bytes, int, int, int, bytes, int]:
        """(raw key, shard, seq, ts, payload, stored crc) of the whole frame at ``pos``."""
        k = self._bytes(pos, 1)[0]
        head = self._bytes(pos, 1 + k + 28)
        n = int.from_bytes(head[-4:], "big")
        f = 1 + k
        body = self._bytes(pos + f + 28, n + 2)
        shard, seq, ts = (int.from_bytes(head[f + 8 * i : f + 8 * i + 8], "big") for i in range(3))
        return head[1:f], shard, seq, ts, body[:n], int.from_bytes(body[n:], "big")

    def run(self, start: int | None, stop: int | None) -> tuple[dict[str, Any], list[Any]]:
        """The columns and payload pieces of the frames in ``[start, stop)`` (physical offsets
        of frames, None: the edges); sets the scanner's ``ended``/``torn``, raises its errors."""
        sc, np, lay = self.sc, self.np, self.lay
        accel = speedups
        assert accel is not None  # available() was checked before this scan was chosen
        pos = 0 if start is None else lay.to_logical(start)
        end = lay.total if stop is None else lay.to_logical(stop)
        first = pos
        sel = sc.select
        shards = None if sel.shards is None else np.array(sorted(sel.shards), dtype=np.uint64)
        mode = sc.payload
        upper = max(0, end - pos) // 32 + 1  # no frame is shorter than 32 bytes
        cap = min(upper, FIRST_ROWS if self.chunk >= 1 << 20 else max(1, self.chunk // 64))
        cols: list[Any] = [np.empty(cap, np.int16)]
        cols += [np.empty(cap, np.uint64) for _ in range(2)]
        cols += [np.empty(cap, np.int64) for _ in range(2)]
        cols.append(np.empty(cap, np.int64) if mode else None)
        pbuf: Any = None
        if mode == "buffer":
            pbuf = np.empty(min(max(0, end - pos), max(cap * 64, 1 << 16)), np.uint8)
        elif mode == "bytes":
            pbuf = np.empty(self.chunk, np.uint8)
        row = pfill = flushed = 0
        lists: list[list[bytes]] = []
        while True:
            pos, row, pfill, reason, need = accel.scan_columns(
                sc.mm,
                *self.segs,
                pos,
                end,
                sc.keys.codes,
                sc.keys.names,
                sel.streams,
                shards,
                _clamp(sel.since_ms),
                _clamp(sel.until_ms),
                sc.check_crc,
                MAX_TIMESTAMP_MS,
                _INTERNAL,
                tuple(cols),
                row,
                pbuf,
                pfill,
            )
            if reason == FULL:
                if mode == "bytes":
                    lists.append(accel.split_payloads(pbuf, cols[5][flushed:], row - flushed))
                    flushed, pfill = row, 0
                    if need > len(pbuf):
                        pbuf = np.empty(need, np.uint8)
                elif need:  # the payload buffer
                    grow = self._estimate(pfill, pos - first, end - pos, need)
                    pbuf = _grown(np, pbuf, pfill, pfill + grow)
                if not need:
                    cap = row + self._estimate(row, pos - first, end - pos, 1)
                    cols = [None if c is None else _grown(np, c, row, cap) for c in cols]
                continue
            if reason == NEWKEY:
                k = self._bytes(pos, 1)[0]
                sc.keys.code(self._bytes(pos + 1, k), lay.to_physical(pos))  # raises if bad
                continue
            if reason == WIDEN:
                cols[0] = cols[0].astype(np.int32)
                continue
            if reason in (BAD_TS, BAD_CRC):
                raw, shard, seq, ts, payload, stored = self._frame(pos)
                offset = lay.to_physical(pos)
                if reason == BAD_TS:
                    raise timestamp_error(ts, offset)
                name = sc.keys.names[sc.keys.codes[raw]]
                raise checksum_error(name, shard, seq, stored, crc16_bytes(payload), offset)
            if reason == EOS:
                sc.ended = True
            elif reason == TORN:
                sc._torn(
                    lay.to_physical(pos),
                    f"truncated message frame ({lay.total - pos} bytes at the end of the file)",
                )
            elif stop is None:  # DONE at the end of the segments: what comes after them
                if lay.bad_beacon is not None:
                    sc._torn(lay.bad_beacon[0], "")
                if lay.torn_beacon is not None:
                    sc._torn(
                        lay.torn_beacon,
                        f"truncated beacon ({lay.size - lay.torn_beacon} bytes at the end of "
                        "the file)",
                    )
            break
        if mode == "bytes" and row > flushed:
            lists.append(accel.split_payloads(pbuf, cols[5][flushed:], row - flushed))
        return self._finish(cols, row, mode, pbuf, pfill, lists)

    @staticmethod
    def _estimate(have: int, scanned: int, left: int, least: int) -> int:
        """How much more room: what the rest of the data should need at the rate so far
        (plus 2%), never less than ``least`` nor than a quarter more."""
        guess = have * left // max(scanned, 1) * 51 // 50 + 1024 if have else 2 * least + 1024
        return max(guess, least, have // 4 + 16)

    def _finish(
        self, cols: list[Any], row: int, mode: str | None, pbuf: Any, pfill: int, lists: list[Any]
    ) -> tuple[dict[str, Any], list[Any]]:
        np = self.np
        for c in cols:
            if c is not None:
                c.resize(row, refcheck=False)
        names = ("code", "shard_id", "sequence", "timestamp_ms", "offset")
        columns = dict(zip(names, cols))
        columns["length"] = cols[5] if mode == "buffer" else np.zeros(0, np.int64)
        if mode == "buffer":
            pbuf.resize(pfill, refcheck=False)
            return columns, [pbuf]
        return columns, lists if mode == "bytes" else []
