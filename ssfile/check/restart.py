"""Explaining a beacon's running checksum by a writer session that restarted it.

Upstream appends (notes §5.8, §6.2) start a new writer whose running checksums restart at
0xFFFF, or at the payload CRC of the stream's latest frame for the key that triggered the
scan.  So a marker written after an append summarises only the frames since the append.

The running checksum is affine in its state: feeding a payload CRC ``c`` maps ``s`` to
``M(s) ^ g(c)`` with ``M`` linear and invertible.  Hence, if ``full`` is the checksum over
every frame of the stream and the session restarted at frame ``j`` (of ``n``) from ``init``,

    restarted = full ^ M^(n-j+1)(before_j ^ init)

where ``before_j`` is the full checksum just before frame ``j``.  Walking back from the marker
value with ``M^-1`` tests every ``j`` in one pass.
"""

from __future__ import annotations

from ..format.crc import INIT, TABLE, running_update

_LOW = [t & 0xFF for t in TABLE]
_INV_LOW = {v: i for i, v in enumerate(_LOW)}
INVERTIBLE = len(_INV_LOW) == 256


def _unstep(s: int) -> int:
    """Inverse of feeding one zero byte: s' = (s << 8 & 0xFFFF) ^ TABLE[s >> 8]."""
    hi = _INV_LOW[s & 0xFF]
    lo = (s >> 8) ^ (TABLE[hi] >> 8)
    return (hi << 8) | lo


def restart_explains(marker: int, full: int, start: int, start_prev: int, crcs: list[int]) -> bool:
    """Whether a session restart explains ``marker``.

    ``crcs``: the stream's payload CRCs since the window start, oldest first; ``start`` the
    full running checksum at the window start and ``start_prev`` the CRC of the frame before
    it (-1 if unknown); ``full`` the full running checksum after the last of ``crcs``.
    """
    if not INVERTIBLE:  # pragma: no cover - the CDMA2000 table is invertible
        return False
    befores = []
    running = start
    for crc in crcs:
        befores.append(running)
        running = running_update(running, crc)
    u = marker ^ full
    for j in range(len(crcs) - 1, -1, -1):
        u = _unstep(_unstep(u))
        prev = crcs[j - 1] if j else start_prev
        if u == befores[j] ^ INIT or (prev >= 0 and u == befores[j] ^ prev):
            return True
    return False


def seeded_without_frames(marker: int, last_crc: int) -> bool:
    """A session seeded with the stream's last payload CRC, with no frame of it since."""
    return last_crc >= 0 and marker == last_crc
