"""Find every frame of a window of the logical stream, vectorised.

The frame walk is inherently sequential (a frame's start depends on the previous frame's
length), so instead of walking, we *guess and verify*:

1. candidates: every position that looks like ``[len(key)][key]`` for a stream key already
   seen (a few numpy compares over the window);
2. for each candidate, its header fields and the position of the frame after it
   (``next = start + 32 + k + L``), gathered in one go;
3. the true frames are the chain ``0 -> next(0) -> next(next(0)) ...``.  Where consecutive
   candidates link up (``next[i] == cand[i+1]``, the common case) the chain is verified in
   bulk; a candidate that does not link is a false positive inside a payload (skipped by
   following ``next``) or the frame before an unknown key, which a one-frame Python step
   parses, learning the key.

So the result is exact whatever the payloads contain; only its speed depends on them.
"""

from __future__ import annotations

from typing import Any

from ..codec.fast import decode_key
from ..errors import FormatError

FIXED = 28  # shard, sequence, timestamp, payload length
TRAILER = 3  # checksum, separator


def head_dtype(np: Any) -> Any:
    return np.dtype([("shard", ">u8"), ("seq", ">u8"), ("ts", ">u8"), ("len", ">u4")])


class KeyTable:
    """Stream keys in order of first appearance; codes index :attr:`names`."""

    def __init__(self) -> None:
        self.codes: dict[bytes, int] = {}
        self.names: list[str] = []

    def code(self, raw: bytes, offset: int) -> int:
        code = self.codes.get(raw)
        if code is None:
            self.names.append(decode_key(raw, offset))  # validates, raises FieldError
            code = self.codes[raw] = len(self.names) - 1
        return code

    def by_length(self) -> dict[int, list[tuple[bytes, int]]]:
        out: dict[int, list[tuple[bytes, int]]] = {}
        for raw, code in self.codes.items():
            out.setdefault(len(raw), []).append((raw, code))
        return out


def candidates(np: Any, win: Any, keys: KeyTable) -> tuple[Any, Any]:
    """Sorted positions that start with a known ``[len][key]`` and have room for the fixed
    fields, and the key code of each."""
    n = len(win)
    starts, codes = [], []
    if n < 1 + FIXED:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    for k, entries in keys.by_length().items():
        limit = n - (1 + k + FIXED) + 1
        if limit <= 0:
            continue
        pos = np.flatnonzero(win[:limit] == k)
        keyed = np.lib.stride_tricks.sliding_window_view(win, k)[pos + 1] if k else None
        for raw, code in entries:
            if keyed is None:
                sel = pos
            else:
                sel = pos[(keyed == np.frombuffer(raw, dtype=np.uint8)).all(axis=1)]
            starts.append(sel)
            codes.append(np.full(len(sel), code, dtype=np.int32))
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    cand, code = np.concatenate(starts), np.concatenate(codes)
    if len(starts) > 1:
        order = np.argsort(cand, kind="stable")
        cand, code = cand[order], code[order]
    return cand, code


def gather_heads(np: Any, win: Any, starts: Any) -> Any:
    """The fixed fields (shard, seq, ts, len) of the frames at ``starts`` (a record array)."""
    if not len(starts):
        return np.zeros(0, head_dtype(np))
    fields = starts + 1 + win[starts].astype(np.int64)
    rows = np.lib.stride_tricks.sliding_window_view(win, FIXED)[fields]
    return rows.view(head_dtype(np))[:, 0]


class Window:
    """The frames of one window (``win`` starts on a frame boundary)."""

    def __init__(self, np: Any, win: Any, keys: KeyTable, to_offset: Any) -> None:
        self.np, self.win, self.keys, self.to_offset = np, win, keys, to_offset
        self._seen = -1
        self.error: FormatError | None = None

    def _refresh(self) -> None:
        np = self.np
        if self._seen == len(self.keys.names):
            return
        self._seen = len(self.keys.names)
        self.cand, self.code = candidates(np, self.win, self.keys)
        self.head = gather_heads(np, self.win, self.cand)
        lens = self.head["len"].astype(np.int64)
        self.next = self.cand + (1 + FIXED + TRAILER) + self.win[self.cand].astype(np.int64) + lens
        self.bad = np.flatnonzero(self.next[:-1] != self.cand[1:])

    def _chain(self, pos: int, ranges: list[tuple[int, int]]) -> int:
        """Follow verified candidates from ``pos``; add index ranges; return where it stops."""
        np, cand, nxt, n = self.np, self.cand, self.next, len(self.win)
        i = int(np.searchsorted(cand, pos))
        while i < len(cand) and cand[i] == pos:
            j = int(np.searchsorted(self.bad, i))
            b = int(self.bad[j]) if j < len(self.bad) else len(cand) - 1
            if nxt[b] > n:  # frame b runs past the window
                ranges.append((i, b))
                return int(cand[b])
            ranges.append((i, b + 1))
            pos = int(nxt[b])
            i = int(np.searchsorted(cand, pos))
        return pos

    def _step(self, pos: int) -> tuple[int, int] | None:
        """Parse the one frame at ``pos`` in Python: (key code, next position) or None."""
        win, n = self.win, len(self.win)
        if pos >= n:
            return None
        k = int(win[pos])
        f = pos + 1 + k
        if f + FIXED > n:
            return None
        end = f + FIXED + TRAILER + int.from_bytes(win[f + 24:f + FIXED].tobytes(), "big")
        if end > n:
            return None
        return self.keys.code(win[pos + 1:f].tobytes(), self.to_offset(pos)), end

    def _take(self, ranges: list[tuple[int, int]]) -> tuple[Any, Any, Any]:
        """The candidates in index ``ranges`` (views when there is a single run)."""
        np = self.np
        ranges = [(a, b) for a, b in ranges if b > a]
        if len(ranges) == 1:  # the common case: one verified run, no copy
            idx: Any = slice(*ranges[0])
        else:
            idx = (np.concatenate([np.arange(a, b) for a, b in ranges]) if ranges
                   else np.zeros(0, np.int64))
        return self.cand[idx], self.code[idx], self.head[idx]

    def frames(self) -> tuple[Any, Any, Any, int]:
        """(starts, codes, heads, consumed): every whole frame of the window, in order."""
        np = self.np
        pos, pieces = 0, []
        while True:
            self._refresh()
            ranges: list[tuple[int, int]] = []
            pos = self._chain(pos, ranges)
            pieces.append(self._take(ranges))
            try:
                got = self._step(pos)  # may learn a key: the next _refresh sees it
            except FormatError as err:  # a bad key: raised once the frames before it pass
                self.error = err
                break
            if got is None:
                break
            start = np.array([pos], dtype=np.int64)
            pieces.append((start, np.array([got[0]], dtype=np.int32),
                           gather_heads(np, self.win, start)))
            pos = got[1]
        if len(pieces) == 1:
            return (*pieces[0], pos)
        return (*(np.concatenate([p[i] for p in pieces]) for i in range(3)), pos)
