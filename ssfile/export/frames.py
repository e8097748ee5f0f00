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
STEADY = 16  # Python steps without a new key before going back to the vectorised chain


_HEAD: list[Any] = []


def head_dtype(np: Any) -> Any:
    if not _HEAD:
        _HEAD.append(np.dtype([("shard", ">u8"), ("seq", ">u8"), ("ts", ">u8"), ("len", ">u4")]))
    return _HEAD[0]


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


def length_positions(np: Any, win: Any, k: int) -> Any:
    """Positions whose byte is ``k`` and that leave room for a ``k``-byte key and the
    fixed fields after it."""
    limit = len(win) - (1 + k + FIXED) + 1
    return np.flatnonzero(win[:limit] == k) if limit > 0 else np.zeros(0, np.int64)


def _match_keys(
    np: Any, win: Any, pos: Any, k: int, entries: list[tuple[bytes, int]]
) -> tuple[Any, Any]:
    """The positions in ``pos`` followed by one of the ``k``-byte keys, and their codes.

    One key: a direct compare.  Several: a 64-bit polynomial hash of the ``k`` bytes after
    each position is looked up among the keys' hashes (a sorted search), and every hit is
    then compared byte for byte, so a hash collision can only cost speed, never a result.
    """
    if not len(pos):  # (and the window may be shorter than a key)
        return pos, np.zeros(0, dtype=np.int32)
    rows = np.lib.stride_tricks.sliding_window_view(win, k)[pos + 1]
    if len(entries) == 1:
        ((raw, code),) = entries
        sel = pos[(rows == np.frombuffer(raw, dtype=np.uint8)).all(axis=1)]
        return sel, np.full(len(sel), code, dtype=np.int32)
    weights = np.cumprod(np.full(k, 0x9E3779B97F4A7C15, dtype=np.uint64))
    table = np.frombuffer(b"".join(raw for raw, _ in entries), dtype=np.uint8).reshape(-1, k)
    hashes = (table.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    order = np.argsort(hashes)
    hashes, table = hashes[order], table[order]
    table_codes = np.array([code for _, code in entries], dtype=np.int32)[order]
    h = (rows.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    at = np.minimum(np.searchsorted(hashes, h), len(hashes) - 1)
    maybe = np.flatnonzero(hashes[at] == h)
    sure = maybe[(rows[maybe] == table[at[maybe]]).all(axis=1)]
    return pos[sure], table_codes[at[sure]]


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
        self._seen = 0
        self._by_length: dict[int, Any] = {}
        self.cand: Any = None
        self.error: FormatError | None = None

    def _positions(self, k: int) -> Any:
        got = self._by_length.get(k)
        if got is None:
            got = self._by_length[k] = length_positions(self.np, self.win, k)
        return got

    def _find(self, new: list[tuple[bytes, int]]) -> tuple[Any, Any]:
        """Sorted candidate positions of the keys ``new`` and their codes."""
        np = self.np
        by_length: dict[int, list[tuple[bytes, int]]] = {}
        for raw, code in new:
            by_length.setdefault(len(raw), []).append((raw, code))
        starts, codes = [], []
        for k, entries in by_length.items():
            pos = self._positions(k)
            if k == 0:  # the empty key: the length byte is the whole match
                starts.append(pos)
                codes.append(np.full(len(pos), entries[0][1], dtype=np.int32))
            else:
                sel, code = _match_keys(np, self.win, pos, k, entries)
                starts.append(sel)
                codes.append(code)
        cand = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        code = np.concatenate(codes) if codes else np.zeros(0, np.int32)
        order = np.argsort(cand, kind="stable")
        return cand[order], code[order]

    def _refresh(self) -> None:
        """Add the candidates of keys learned since the last time (merged in order)."""
        np, keys = self.np, self.keys
        if self.cand is not None and self._seen == len(keys.names):
            return
        new = [(raw, code) for raw, code in keys.codes.items() if code >= self._seen]
        self._seen = len(keys.names)
        cand, code = self._find(new)
        head = gather_heads(np, self.win, cand)
        nxt = cand + (1 + FIXED + TRAILER) + self.win[cand].astype(np.int64) + head["len"]
        if self.cand is None:
            self.cand, self.code, self.head, self.next = cand, code, head, nxt
        else:
            at = np.searchsorted(self.cand, cand)
            self.cand = np.insert(self.cand, at, cand)
            self.code = np.insert(self.code, at, code)
            self.head = np.insert(self.head, at, head)
            self.next = np.insert(self.next, at, nxt)
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
        end = f + FIXED + TRAILER + int.from_bytes(win[f + 24 : f + FIXED].tobytes(), "big")
        if end > n:
            return None
        return self.keys.code(win[pos + 1 : f].tobytes(), self.to_offset(pos)), end

    def _take(self, ranges: list[tuple[int, int]]) -> tuple[Any, Any, Any]:
        """The candidates in index ``ranges`` (views when there is a single run)."""
        np = self.np
        ranges = [(a, b) for a, b in ranges if b > a]
        if len(ranges) == 1:  # the common case: one verified run, no copy
            idx: Any = slice(*ranges[0])
        else:
            idx = (
                np.concatenate([np.arange(a, b) for a, b in ranges])
                if ranges
                else np.zeros(0, np.int64)
            )
        return self.cand[idx], self.code[idx], self.head[idx]

    def _steps(self, pos: int, pieces: list[tuple[Any, Any, Any]]) -> tuple[int, bool]:
        """Python steps from ``pos`` while keys are being learned (until :data:`STEADY`
        frames in a row bring no new key): (position, whether the window is done)."""
        np, quiet, done = self.np, 0, True
        starts: list[int] = []
        codes: list[int] = []
        while True:
            known = len(self.keys.names)
            try:
                got = self._step(pos)
            except FormatError as err:  # a bad key: raised once the frames before it pass
                self.error = err
                break
            if got is None:
                break
            quiet = quiet + 1 if len(self.keys.names) == known else 0
            starts.append(pos)
            codes.append(got[0])
            pos = got[1]
            if quiet >= STEADY:
                done = False
                break
        if starts:
            at = np.array(starts, dtype=np.int64)
            pieces.append((at, np.array(codes, dtype=np.int32), gather_heads(np, self.win, at)))
        return pos, done

    def frames(self) -> tuple[Any, Any, Any, int]:
        """(starts, codes, heads, consumed): every whole frame of the window, in order."""
        np = self.np
        pos, pieces, done = 0, [], False
        while not done:
            self._refresh()
            ranges: list[tuple[int, int]] = []
            pos = self._chain(pos, ranges)
            pieces.append(self._take(ranges))
            pos, done = self._steps(pos, pieces)
        if len(pieces) == 1:
            return (*pieces[0], pos)
        return (*(np.concatenate([p[i] for p in pieces]) for i in range(3)), pos)
