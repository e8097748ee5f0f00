"""CRC-16/CDMA2000 of many payloads at once, vectorised across payloads with numpy.

Payloads are grouped by length into buckets of doubling width; each bucket's payloads are
copied into a byte matrix (one column per byte position, rows sorted by length, longest
first) and the table-driven update runs once per column on the rows still that long.
uint16 arithmetic drops the bits shifted out, as the CRC wants.  Payloads longer than
:data:`LONG` go through :func:`ssfile.format.crc.crc16_bytes` one by one instead, so a
single huge payload never costs one numpy call per byte.
"""

from __future__ import annotations

from typing import Any

from ..format.crc import POLY, TABLE, crc16_bytes
from . import _deps

LONG = 256
WIDTHS = (8, 16, 32, 64, 128, LONG)


def payload_crcs(buf: Any, starts: Any, lengths: Any) -> Any:
    """crc16 of ``buf[starts[i] : starts[i] + lengths[i]]`` for every i (uint16 array).

    ``buf`` is a 1-D uint8 array; ``starts``/``lengths`` are int64 arrays.
    """
    np = _deps.numpy()
    out = np.full(len(starts), 0xFFFF, dtype=np.uint16)
    padded = np.concatenate([buf, np.zeros(LONG, dtype=np.uint8)])
    table = np.asarray(TABLE, dtype=np.uint16)
    low = 0
    for width in WIDTHS:
        rows = np.flatnonzero((lengths > low) & (lengths <= width))
        low = width
        if len(rows):
            out[rows] = _bucket(np, padded, table, starts[rows], lengths[rows], width)
    raw = buf.tobytes() if (lengths > LONG).any() else b""
    for i in np.flatnonzero(lengths > LONG).tolist():
        s = int(starts[i])
        out[i] = crc16_bytes(raw[s : s + int(lengths[i])])
    return out


def _word_table(np: Any) -> Any:
    """T[v] = the register after feeding the 16 bits of ``v`` into a zero register: for a
    16-bit CRC, two bytes ``b0 b1`` update ``crc`` to ``T[crc ^ (b0 << 8 | b1)]``."""
    global _WORDS
    if _WORDS is None:
        crc = np.arange(1 << 16, dtype=np.uint32)
        for _ in range(16):
            crc = np.where(crc & 0x8000, (crc << 1) ^ POLY, crc << 1) & 0xFFFF
        _WORDS = crc.astype(np.uint16)
    return _WORDS


_WORDS = None


def _bucket(np: Any, padded: Any, table: Any, starts: Any, lengths: Any, width: int) -> Any:
    order = np.argsort(-lengths, kind="stable")
    lens = lengths[order]
    rows = np.lib.stride_tricks.sliding_window_view(padded, width)[starts[order]]
    words = rows.view(">u2").T.astype(np.uint16)  # words[j]: bytes 2j, 2j+1 of every row
    singles = rows[:, ::2].T.copy()  # singles[j]: byte 2j, for odd lengths
    words_table = _word_table(np)
    # rows with at least 2j+2 bytes, at least 2j+1 bytes (lens is descending)
    whole = np.searchsorted(-lens, -np.arange(2, width + 2, 2), side="right").tolist()
    some = np.searchsorted(-lens, -np.arange(1, width + 1, 2), side="right").tolist()
    crc = np.full(len(lens), 0xFFFF, dtype=np.uint16)
    for j in range((int(lens[0]) + 1) // 2):
        a, b = whole[j], some[j]
        crc[:a] = words_table[crc[:a] ^ words[j, :a]]
        if b > a:  # the last, odd byte of rows of length 2j+1
            c = crc[a:b]
            crc[a:b] = table[(c >> 8) ^ singles[j, a:b]] ^ (c << 8)
    result = np.empty_like(crc)
    result[order] = crc
    return result
