"""The vectorised scan: header columns (and optionally payloads) of a whole file.

The file is memory-mapped; :mod:`.layout` finds the segments between beacons, windows of
the logical stream are copied out of them (a few MiB at a time) and :mod:`.frames` finds
every frame of a window with numpy.  Results are filtered per window, so memory is the
selected columns plus one window.  The result equals what :class:`ssfile.Reader` yields
(tests/test_export.py holds it to that), including its errors: a bad key or timestamp
raises :class:`~ssfile.errors.FieldError`, a bad payload checksum (``check_crc=True``)
:class:`~ssfile.errors.ChecksumMismatch`, a torn tail :class:`~ssfile.errors.TruncatedError`
(unless ``tolerate_truncation``), each with the absolute offset; the EOS frame ends the scan.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

from ..errors import FormatError, TruncatedError
from ..format import constants as K
from ..types import MAX_TIMESTAMP_MS
from . import _deps, cscan
from .frames import FIXED, KeyTable, Window
from .layout import Layout, check_torn, scan_layout
from .scan_types import Scan as Scan  # re-exported: the scan's result
from .scan_types import Selection as Selection
from .vcrc import payload_crcs

WINDOW = 4 << 20
#: run the C twin of this scan (:mod:`.cscan`) when the accelerator is built; tests switch it
USE_C = True
_COLUMNS = ("code", "shard_id", "sequence", "timestamp_ms", "offset", "length")


def scan(
    path: str | os.PathLike[str],
    *,
    payload: str | None = None,
    check_crc: bool = True,
    select: Selection | None = None,
    start: int | None = None,
    stop: int | None = None,
    tolerate_truncation: bool = False,
    window: int = WINDOW,
    on_damage: str = "raise",
) -> Scan:
    """Scan ``path``.  ``payload``: None, ``"buffer"`` (uint8 pieces) or ``"bytes"``.
    ``start``/``stop``: physical frame offsets bounding the scan (from a seek).

    ``on_damage="skip"``: a file the vectorised scan finds damaged is read again with
    :class:`ssfile.Reader` (``on_damage="skip"``), so the rows are exactly the messages the
    reader yields, and the reader's :class:`~ssfile.errors.DamageWarning` is emitted."""
    np = _deps.numpy()
    name = os.fspath(path)
    with open(name, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise TruncatedError("file too short for a header", 0, path=name)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _Scanner(
            np, mm, name, payload, check_crc, select or Selection(), tolerate_truncation, window
        ).run(start, stop)
    except FormatError as err:
        if on_damage != "skip" or isinstance(err, TruncatedError):
            raise err if err.path else err.with_path(name)
    finally:
        mm.close()
    from .damaged import reader_scan

    return reader_scan(
        np, name, payload, check_crc, select or Selection(), start, stop, tolerate_truncation
    )


def payload_bytes(np: Any, win: Any, starts: Any, lengths: Any) -> Any:
    """The payloads at ``starts`` (ascending) back to back: a mask of alternating runs
    (skip to the payload, take it) built by one ``repeat``, then one compress."""
    if not len(starts):
        return np.zeros(0, dtype=np.uint8)
    skips = np.diff(starts, prepend=0)
    skips[1:] -= lengths[:-1]
    runs = np.empty(2 * len(starts), dtype=np.int64)
    runs[0::2], runs[1::2] = skips, lengths
    take = np.tile(np.array([False, True]), len(starts))
    mask = np.repeat(take, runs)
    return win[: len(mask)][mask]


def frame_size(win: Any) -> int | None:
    """The size the frame at the start of ``win`` declares (None: its header is cut)."""
    if len(win) < 1 or len(win) < 1 + int(win[0]) + FIXED:
        return None
    f = 1 + int(win[0])
    return f + FIXED + 3 + int.from_bytes(win[f + 24 : f + FIXED].tobytes(), "big")


class _Scanner:
    #: whether this scanner may hand its frames to the C scan (a subclass that tracks where
    #: the next frame starts through the numpy walk's state says no)
    c_path = True

    def __init__(
        self,
        np: Any,
        mm: mmap.mmap,
        path: str,
        payload: str | None,
        check_crc: bool,
        select: Selection,
        tolerate: bool,
        window: int,
    ) -> None:
        self.np, self.mm, self.path = np, mm, path
        self.layout: Layout = scan_layout(mm, path)
        self.keys = KeyTable()
        self.payload, self.check_crc, self.select = payload, check_crc, select
        self.tolerate, self.window = tolerate, window
        self.parts: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
        self.payloads: list[Any] = []
        self.ended = False
        self.torn: int | None = None
        lay = self.layout
        self.seg_logical = np.array(lay.logical, dtype=np.int64)
        self.seg_shift = np.array(lay.phys, dtype=np.int64) - self.seg_logical

    def run(self, start: int | None, stop: int | None) -> Scan:
        if USE_C and self.c_path and cscan.available():
            columns, self.payloads = cscan.CScan(self, self.window).run(start, stop)
            return Scan(
                self.layout.header,
                list(self.keys.names),
                columns,
                self.payloads,
                self.ended,
                self.torn,
            )
        lay = self.layout
        pos = 0 if start is None else lay.to_logical(start)
        end = self.stop = lay.total if stop is None else lay.to_logical(stop)
        size = self.window
        while pos < end and not self.ended:
            hi = min(pos + size, lay.total)
            win = self._assemble(pos, hi)
            consumed = self._window(win, pos)
            need = frame_size(win) if consumed == 0 else None
            del win
            if consumed == 0 and hi < lay.total:  # a frame larger than the window
                if need is None or pos + need <= lay.total:
                    size = max(size * 2, need or 0)
                    continue
                hi = lay.total  # it says it runs past the end of the file: torn
            size = self.window
            pos += consumed
            if hi == lay.total and pos < min(end, lay.total) and not self.ended:
                self._torn(
                    lay.to_physical(pos),
                    f"truncated message frame ({lay.total - pos} bytes at the end of the file)",
                )
                break
        else:
            if not self.ended and stop is None and lay.bad_beacon is not None:
                self._torn(lay.bad_beacon[0], "")
            if not self.ended and stop is None and lay.torn_beacon is not None:
                self._torn(
                    lay.torn_beacon,
                    f"truncated beacon ({lay.size - lay.torn_beacon} bytes at the end of the file)",
                )
        return self._finish()

    def _torn(self, offset: int, reason: str) -> None:
        bad = self.layout.bad_beacon
        if bad is not None:  # the logical stream stops at a damaged beacon, not at the end
            raise FormatError(f"damaged beacon: {bad[1]}", bad[0], path=self.path)
        check_torn(self.mm, self.layout.header.beacon_interval, offset, self.path)
        if not self.tolerate:
            raise TruncatedError(reason, offset, path=self.path)
        self.torn = offset

    def _assemble(self, lo: int, hi: int) -> Any:
        np = self.np
        arr = np.frombuffer(self.mm, dtype=np.uint8)
        try:
            runs = [arr[o : o + n] for o, n in self.layout.pieces(lo, hi)]
            return np.concatenate(runs) if len(runs) != 1 else runs[0].copy()
        finally:
            del arr

    def _offsets(self, logical: Any) -> Any:
        j = self.np.searchsorted(self.seg_logical, logical, side="right") - 1
        return logical + self.seg_shift[j]

    def _window(self, win: Any, base: int) -> int:
        np = self.np
        to_offset = lambda p: self.layout.to_physical(base + p)  # noqa: E731
        window = Window(np, win, self.keys, to_offset)
        starts, codes, heads, consumed = window.frames()
        inside = int(np.searchsorted(starts, self.stop - base))
        if inside < len(starts) or consumed >= self.stop - base:
            # frames at or after the stop are not looked at (their damage, their EOS)
            consumed = int(starts[inside]) if inside < len(starts) else consumed
            starts, codes, heads = starts[:inside], codes[:inside], heads[:inside]
            window.error = None
        if not len(starts):
            if window.error:
                raise window.error
            return consumed
        lens = heads["len"].astype(np.int64)
        pstart = starts + 1 + FIXED + win[starts].astype(np.int64)
        cut = self._eos_at(win, codes, pstart, lens)
        if cut is not None:
            consumed = int(starts[cut])
        limit = len(starts) if cut is None else cut + 1
        ts = heads["ts"][:limit].astype(np.int64)
        self._check(win, base, starts[:limit], codes, heads[:limit], ts, pstart, lens)
        if window.error and cut is None:
            raise window.error
        keep = self._keep(codes[:limit], heads[:limit], ts) & (starts[:limit] < self.stop - base)
        if cut is not None:
            keep = keep[:cut]
            self.ended = True
        idx: Any = np.flatnonzero(keep)
        if len(idx) == len(keep):
            idx = slice(0, len(keep))  # everything kept: views, no gathers
        if len(keep) and (not isinstance(idx, np.ndarray) or len(idx)):
            self._emit(win, base, idx, starts, codes, heads, ts, pstart, lens)
        return consumed

    def _eos_at(self, win: Any, codes: Any, pstart: Any, lens: Any) -> int | None:
        np = self.np
        internal = self.keys.codes.get(K.INTERNAL_KEY.encode())
        if internal is None:
            return None
        hits = np.flatnonzero((codes == internal) & (lens == len(K.EOS_PAYLOAD)))
        for i in hits.tolist():
            p = int(pstart[i])
            if win[p : p + 3].tobytes() == K.EOS_PAYLOAD:
                return int(i)
        return None

    def _check(
        self,
        win: Any,
        base: int,
        starts: Any,
        codes: Any,
        heads: Any,
        ts: Any,
        pstart: Any,
        lens: Any,
    ) -> None:
        """Raise at the first frame with an out-of-range timestamp or a bad checksum."""
        np = self.np
        n = len(starts)
        bad_ts = np.flatnonzero(heads["ts"] > MAX_TIMESTAMP_MS)
        first_ts = int(bad_ts[0]) if len(bad_ts) else n
        first_crc, stored, computed = n, 0, 0
        if self.check_crc:
            p, ln = pstart[:n], lens[:n]
            crcs = payload_crcs(win, p, ln)
            stored_all = (win[p + ln].astype(np.uint16) << 8) | win[p + ln + 1]
            bad = np.flatnonzero(crcs != stored_all)
            if len(bad):
                first_crc = int(bad[0])
                stored, computed = int(stored_all[first_crc]), int(crcs[first_crc])
        first = min(first_ts, first_crc)
        if first == n:
            return
        offset = self.layout.to_physical(base + int(starts[first]))
        if first == first_ts:
            raise cscan.timestamp_error(int(heads["ts"][first]), offset)
        h = heads[first]
        name = self.keys.names[codes[first]]
        raise cscan.checksum_error(name, int(h["shard"]), int(h["seq"]), stored, computed, offset)

    def _keep(self, codes: Any, heads: Any, ts: Any) -> Any:
        np, sel = self.np, self.select
        keep = np.ones(len(codes), dtype=bool)
        if sel.streams is not None:
            wanted = [c for raw, c in self.keys.codes.items() if raw.decode() in sel.streams]
            keep &= np.isin(codes, np.array(wanted, dtype=np.int32))
        if sel.shards is not None:
            keep &= np.isin(heads["shard"], np.array(sorted(sel.shards), dtype=np.uint64))
        if sel.since_ms is not None:
            keep &= ts >= sel.since_ms
        if sel.until_ms is not None:
            keep &= ts < sel.until_ms
        return keep

    def _emit(
        self,
        win: Any,
        base: int,
        idx: Any,
        starts: Any,
        codes: Any,
        heads: Any,
        ts: Any,
        pstart: Any,
        lens: Any,
    ) -> None:
        np, parts = self.np, self.parts
        h = heads[idx]
        small = len(self.keys.names) <= 32767  # int16 codes halve that column while scanning
        parts["code"].append(codes[idx].astype(np.int16) if small else codes[idx])
        parts["shard_id"].append(h["shard"].astype(np.uint64))
        parts["sequence"].append(h["seq"].astype(np.uint64))
        parts["timestamp_ms"].append(ts[idx])
        parts["offset"].append(self._offsets(base + starts[idx]))
        if self.payload == "buffer":
            parts["length"].append(lens[idx])
        if self.payload == "buffer":
            self.payloads.append(payload_bytes(np, win, pstart[idx], lens[idx]))
        elif self.payload == "bytes":
            raw = win.tobytes()
            self.payloads.append(
                [raw[s : s + n] for s, n in zip(pstart[idx].tolist(), lens[idx].tolist())]
            )

    def _finish(self) -> Scan:
        np = self.np
        columns = {}
        empty = {"code": np.int16, "shard_id": np.uint64, "sequence": np.uint64}
        for name in _COLUMNS:  # one column at a time: peak = the parts + one column
            chunks = self.parts.pop(name)
            columns[name] = (
                np.concatenate(chunks) if chunks else np.zeros(0, dtype=empty.get(name, np.int64))
            )
            del chunks
        return Scan(
            self.layout.header, list(self.keys.names), columns, self.payloads, self.ended, self.torn
        )
