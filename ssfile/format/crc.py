"""CRC-16/CDMA2000 (poly 0xC867, init 0xFFFF, no reflection, no final xor) and running checksums.

:func:`crc16` uses ``fastcrc`` (chosen by measurement, see bench/RESULTS.md) when it is
installed, else the pure-Python table below.  Both are tested equal.
"""

from __future__ import annotations

from collections.abc import Callable

POLY = 0xC867
INIT = 0xFFFF


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ POLY) if c & 0x8000 else (c << 1)
        table.append(c & 0xFFFF)
    return table


TABLE = tuple(_make_table())


def crc16_py(data: bytes | bytearray | memoryview, initial: int = INIT) -> int:
    """Pure-Python CRC-16/CDMA2000 of ``data``, continuing from ``initial``."""
    crc = initial
    table = TABLE
    for b in bytes(data):
        crc = table[((crc >> 8) ^ b) & 0xFF] ^ ((crc << 8) & 0xFFFF)
    return crc


def _load_fast() -> Callable[..., int] | None:
    try:
        from fastcrc import crc16 as _fast
    except ImportError:
        return None
    fn: Callable[..., int] = _fast.cdma2000
    if fn(b"123456789") != 0x4C06:  # pragma: no cover - a broken build
        return None
    return fn


_fast_fn = _load_fast()
ACCELERATED = _fast_fn is not None


def crc16(data: bytes | bytearray | memoryview, initial: int = INIT) -> int:
    """CRC-16/CDMA2000 of ``data``, continuing from ``initial`` (0xFFFF starts a new one)."""
    if _fast_fn is not None:
        return _fast_fn(bytes(data) if isinstance(data, memoryview) else data, initial)
    return crc16_py(data, initial)


#: Hot-path variant: ``crc16_bytes(data)`` with ``data`` bytes, starting at 0xFFFF.  Bound to
#: the library function itself, so a call costs no extra Python frame (bench/crc.py).
crc16_bytes = _fast_fn if _fast_fn is not None else crc16_py


def running_update(running: int, checksum: int) -> int:
    """Feed one payload checksum (high byte first) into a running checksum."""
    t = TABLE
    running = t[((running >> 8) ^ (checksum >> 8)) & 0xFF] ^ ((running << 8) & 0xFFFF)
    return t[((running >> 8) ^ checksum) & 0xFF] ^ ((running << 8) & 0xFFFF)


class RunningChecksum:
    """The per-(stream, shard) checksum a writer keeps: CRC over the big-endian payload CRCs."""

    __slots__ = ("value",)

    def __init__(self, value: int = INIT) -> None:
        self.value = value

    def update(self, checksum: int) -> int:
        self.value = running_update(self.value, checksum)
        return self.value
