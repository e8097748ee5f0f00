"""CRC-16/CDMA2000 of many payloads at once, vectorised across payloads with numpy.

The table-driven update runs once per byte *position*, on every payload that is at least
that long (payloads are sorted by length so that set is a prefix).  Payloads longer than
:data:`LONG` go through :func:`ssfile.format.crc.crc16_bytes` one by one instead, so a
single huge payload never costs one numpy call per byte.
"""

from __future__ import annotations

from typing import Any

from ..format.crc import TABLE, crc16_bytes
from . import _deps

LONG = 256


def payload_crcs(buf: Any, starts: Any, lengths: Any) -> Any:
    """crc16 of ``buf[starts[i] : starts[i] + lengths[i]]`` for every i (uint16 array).

    ``buf`` is a 1-D uint8 array; ``starts``/``lengths`` are int64 arrays.
    """
    np = _deps.numpy()
    out = np.full(len(starts), 0xFFFF, dtype=np.uint32)
    short = np.flatnonzero(lengths <= LONG)
    order = short[np.argsort(-lengths[short], kind="stable")]
    lens = lengths[order]
    pos = starts[order]
    crc = out[order]
    table = np.asarray(TABLE, dtype=np.uint32)
    # active[j] = how many payloads have a byte at position j (lens is descending)
    active = np.searchsorted(-lens, -np.arange(int(lens[0]) if len(lens) else 0), side="left")
    for j, count in enumerate(active.tolist()):
        c = crc[:count]
        byte = buf[pos[:count] + j]
        crc[:count] = table[(c >> 8) ^ byte] ^ ((c << 8) & 0xFFFF)
    out[order] = crc
    raw = buf.tobytes() if len(short) < len(starts) else b""
    for i in np.flatnonzero(lengths > LONG).tolist():
        s = int(starts[i])
        out[i] = crc16_bytes(raw[s:s + int(lengths[i])])
    return out.astype(np.uint16)
