"""The logical frame stream of a memory-mapped file: the segments between beacons.

A ``.ss`` file is the 128-byte header, then frames written back to back, physically cut at
every multiple of the beacon interval by a beacon.  Beacon sizes are computable from their
marker count and key lengths, so one pass over the beacons (not the frames) tells where
every segment of frame bytes lives.  Concatenating the segments gives the *logical* stream
in which frames are contiguous.  Each beacon is read as the reader reads it (markers
validated, and it must fit its interval); the segments stop at a damaged one.
"""

from __future__ import annotations

import bisect
import mmap
from dataclasses import dataclass

from ..codec.layout import Buffer, read_beacon
from ..codec.layout import Layout as _Checked
from ..codec.resync import recover
from ..errors import FormatError
from ..format import constants as K
from ..format.layouts import parse_file_header
from ..format.records import FileHeader


@dataclass(frozen=True)
class Layout:
    """Segments of frame bytes: segment ``j`` is physical ``[phys[j], phys[j] + length[j])``
    and logical ``[logical[j], logical[j] + length[j])``."""

    header: FileHeader
    size: int
    phys: list[int]
    logical: list[int]
    length: list[int]
    torn_beacon: int | None  # physical offset of a beacon cut by the end of the file
    #: (offset, reason) of a damaged beacon: the segments stop there (a scan that reaches
    #: it raises; one that ends at an EOS before it does not)
    bad_beacon: tuple[int, str] | None = None

    @property
    def total(self) -> int:
        """Length of the logical stream."""
        return self.logical[-1] + self.length[-1]

    def segment_of(self, pos: int) -> int:
        """Index of the segment holding logical ``pos`` (the later one at a boundary)."""
        return bisect.bisect_right(self.logical, pos) - 1

    def to_physical(self, pos: int) -> int:
        j = self.segment_of(pos)
        return self.phys[j] + pos - self.logical[j]

    def to_logical(self, offset: int) -> int:
        """Logical position of physical ``offset`` (which must not be inside a beacon)."""
        j = bisect.bisect_right(self.phys, offset) - 1
        return self.logical[j] + min(offset - self.phys[j], self.length[j])

    def pieces(self, start: int, stop: int) -> list[tuple[int, int]]:
        """Physical ``(offset, length)`` runs that make up logical ``[start, stop)``."""
        out = []
        j = self.segment_of(start)
        while start < stop:
            seg_end = self.logical[j] + self.length[j]
            take = min(stop, seg_end) - start
            if take > 0:
                out.append((self.phys[j] + start - self.logical[j], take))
                start += take
            j += 1
        return out


def scan_layout(buf: bytes | memoryview | mmap.mmap, path: str | None = None) -> Layout:
    """Parse the header of ``buf`` (a whole file, e.g. an mmap) and locate every segment."""
    header = parse_file_header(bytes(buf[: K.HEADER_SIZE]), 0)
    interval = header.beacon_interval
    size = len(buf)
    phys, logical, length = [K.HEADER_SIZE], [0], [min(interval, size) - K.HEADER_SIZE]
    torn = None
    bad = None
    at = interval
    while at < size:
        b = read_beacon(buf, at, interval)
        if b.beacon is None:
            if b.reason == "eof":
                torn = at
            else:
                bad = (at, b.reason)
            break
        got = b.beacon.size
        start, end = at + got, min(at + interval, size)
        if start > end:
            raise FormatError(f"beacon of {got} bytes overruns the next beacon", at, path=path)
        logical.append(logical[-1] + length[-1])
        phys.append(start)
        length.append(end - start)
        at += interval
    return Layout(header, size, phys, logical, length, torn, bad)


def check_torn(buf: Buffer, interval: int, offset: int, path: str | None) -> None:
    """Raise unless the record at ``offset`` is a torn tail: a whole record cut by the end of
    the file with nothing intact after it (the reader's test, :func:`recover`).  A record
    that does not read (bad key, timestamp or beacon) or is followed by intact data is
    damage."""
    r = recover(_Checked(buf, interval), offset)
    if r.resume is not None:
        raise FormatError(
            f"damaged record: it runs past the end of the file, but intact data follows at "
            f"offset {r.resume}",
            offset,
            path=path,
        )
    if r.kind == "damage":
        raise FormatError(f"damaged record: {r.reason}", offset, path=path)
