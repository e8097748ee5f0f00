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

from ..format.crc import TABLE, crc16_bytes
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
        out[i] = crc16_bytes(raw[s:s + int(lengths[i])])
    return out


def _bucket(np: Any, padded: Any, table: Any, starts: Any, lengths: Any, width: int) -> Any:
    order = np.argsort(-lengths, kind="stable")
    lens = lengths[order]
    columns = np.lib.stride_tricks.sliding_window_view(padded, width)[starts[order]].T.copy()
    # active[j]: rows with a byte at position j (lens is descending)
    active = np.searchsorted(-lens, -np.arange(int(lens[0])), side="left").tolist()
    crc = np.full(len(lens), 0xFFFF, dtype=np.uint16)
    for j, count in enumerate(active):
        c = crc[:count]
        crc[:count] = table[(c >> 8) ^ columns[j, :count]] ^ (c << 8)
    result = np.empty_like(crc)
    result[order] = crc
    return result
