"""Pure offset arithmetic for beacons: where they are and how a frame is cut by them."""

from __future__ import annotations


def next_boundary(offset: int, interval: int) -> int:
    """The first beacon offset strictly after ``offset``."""
    return offset - offset % interval + interval


def is_boundary(offset: int, interval: int) -> bool:
    """Whether a beacon starts at ``offset`` (every positive multiple of the interval)."""
    return offset > 0 and offset % interval == 0


def beacon_index(offset: int, interval: int) -> int:
    """Index of the beacon interval ``offset`` lies in (0 = the one with the header)."""
    return offset // interval


def last_boundary(size: int, interval: int) -> int:
    """Offset of the last beacon at or before ``size`` (the header end if there is none)."""
    return max(size - size % interval, 0)
