"""Cutting recordings into independent partitions at beacons (for :mod:`ssfile.dask`).

A file no larger than the block size is one partition.  A larger one is cut near every
multiple of the block size, at a beacon: the plan (:func:`plan`) names, for partition
``j`` of a file, the beacon index ``first[j]`` it starts at (0: the first frame), and the
partition reads the frames that start in ``[boundary(first[j]), boundary(first[j+1]))``.
A frame cut by a beacon therefore belongs to the partition where it starts.

:func:`boundary` is the first frame after a beacon: the beacon's ``remaining_messages_bytes``
skips the tail of the frame it cuts, as seeking does (spec section 8), across further beacons
when that frame spans them.  A beacon is *usable* only if it reads, every beacon the skip
crosses reads, and a plausible frame (whole, checksum and separator right; spec 7.5) starts
where the skip lands, or the data ends exactly there.  An unusable beacon is no cut: the
partition before it runs on to the next usable one (:func:`start_of` / :func:`stop_of`), so
both neighbours always agree on where one ends and the next begins, and every frame lands in
exactly one partition.  The plan needs only each file's size and beacon interval; the
beacons are read by the partitions themselves, where the data is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..codec.layout import EOF, OK, SEP, Buffer, Layout
from ..format import constants as K

#: Reads ``n`` bytes at absolute ``offset`` of a file (fewer at its end).
ReadAt = Callable[[int, int], bytes]


@dataclass(frozen=True)
class Part:
    """Partition ``index`` of file ``file`` (its position in the file list): beacons
    ``[first, until)`` (``until`` None: to the end of the file)."""

    file: int
    index: int
    first: int
    until: int | None


def parse_blocksize(blocksize: int | str) -> int:
    """Bytes of ``blocksize``: an int, or text such as ``"256MiB"``, ``"64 MB"``, ``"1e6"``."""
    if isinstance(blocksize, bool):
        raise TypeError(
            f"blocksize must be a byte count or text such as '256MiB', not {blocksize!r}"
        )
    if isinstance(blocksize, int):
        n = blocksize
    elif isinstance(blocksize, str):
        n = _parse_size(blocksize)
    else:
        raise TypeError(
            f"blocksize must be a byte count or text such as '256MiB', not {blocksize!r}"
        )
    if n < 1:
        raise ValueError(f"blocksize must be at least 1 byte, not {blocksize!r}")
    return n


_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 2**10,
    "m": 2**20,
    "g": 2**30,
}


def _parse_size(text: str) -> int:
    s = text.strip().lower().replace(" ", "")
    i = len(s)
    while i and s[i - 1].isalpha():
        i -= 1
    number, unit = s[:i], s[i:]
    if unit not in _UNITS or not number:
        raise ValueError(f"blocksize {text!r}: not a size such as '256MiB' or '64MB'")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"blocksize {text!r}: not a size such as '256MiB' or '64MB'") from None
    return int(value * _UNITS[unit])


def beacon_indices(size: int, interval: int, blocksize: int) -> list[int]:
    """Where the partitions of a file of ``size`` bytes start: beacon 0 (the first frame),
    then the beacon nearest each further multiple of ``blocksize``, without repeats."""
    last = (size - 1) // interval  # beacons that start inside the file: k*I < size
    firsts = [0]
    j = 1
    while j * blocksize < size:
        k = min(max(round(j * blocksize / interval), 1), last)
        if k > firsts[-1]:
            firsts.append(k)
        j += 1
    return firsts


def plan(files: list[tuple[int, int | None]], blocksize: int) -> list[Part]:
    """The partitions of ``files`` (``(size, interval)`` each; interval None for a file that
    is one partition anyway), in file order then byte order."""
    parts = []
    for f, (size, interval) in enumerate(files):
        if interval is None or size <= blocksize:
            parts.append(Part(f, 0, 0, None))
            continue
        firsts = beacon_indices(size, interval, blocksize)
        for i, k in enumerate(firsts):
            parts.append(Part(f, i, k, firsts[i + 1] if i + 1 < len(firsts) else None))
    return parts


class Beacons:
    """Finds frame boundaries after beacons in a file read through ``read_at`` (a memory
    map, or ranged requests of a remote file) of ``size`` bytes and beacon interval
    ``interval``.  Reads a window around each beacon, widened while a frame runs past it."""

    def __init__(self, read_at: ReadAt, size: int, interval: int) -> None:
        self.read_at, self.size, self.interval = read_at, size, interval

    def count(self) -> int:
        """Beacons that start inside the file."""
        return (self.size - 1) // self.interval

    def boundary(self, k: int) -> int | None:
        """The offset of the first frame after beacon ``k``, or None if it is not usable."""
        at = k * self.interval
        want = min(2 * self.interval, 1 << 20)
        while True:
            buf = self.read_at(at, want)
            got = _boundary(buf, at, self.interval, self.size)
            if got is not MORE:
                return None if got is UNUSABLE else got  # type: ignore[return-value]
            want *= 4  # a frame runs past the window: read more

    def start_of(self, first: int, until: int | None) -> int | None:
        """Where the partition of beacons ``[first, until)`` starts (None: it is empty)."""
        if first == 0:
            return K.HEADER_SIZE
        end = self.count() + 1 if until is None else until
        for k in range(first, end):
            got = self.boundary(k)
            if got is not None:
                return got
        return None

    def stop_of(self, until: int | None) -> int | None:
        """Where the partition that ends before beacon ``until`` stops (None: the end)."""
        if until is None:
            return None
        for k in range(until, self.count() + 1):
            got = self.boundary(k)
            if got is not None:
                return got
        return None


MORE, UNUSABLE = "more", "unusable"


def _boundary(buf: Buffer, at: int, interval: int, size: int) -> int | str:
    """The first frame after the beacon at ``at`` in ``buf`` (the file from ``at`` on, up to
    its end at ``size`` or less), UNUSABLE, or MORE when ``buf`` ends too soon to tell."""
    lay = Layout(buf, interval, base=at)
    cut_short = MORE if lay.size < size else UNUSABLE  # what running out of bytes means
    first = lay.beacon(at)
    if first.beacon is None:
        return cut_short if first.reason == "eof" else UNUSABLE
    pos, left = at + first.beacon.size, first.beacon.remaining_messages_bytes
    while True:  # skip the tail of the frame the beacon cuts, and any beacon on the way
        if lay.is_boundary(pos):
            b = lay.beacon(pos)
            if b.beacon is None:
                return cut_short if b.reason == "eof" else UNUSABLE
            pos += b.beacon.size
            continue
        if not left:
            break
        take = min(left, lay.next_boundary(pos) - pos)
        if pos + take > lay.size:
            return cut_short
        pos += take
        left -= take
    if pos >= lay.size:
        return cut_short
    f = lay.read_frame(pos)
    if f.status == EOF:
        return cut_short
    return pos if f.status == OK and f.separator == SEP else UNUSABLE
