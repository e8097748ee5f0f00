"""The checked, restartable scan: every record of a damaged file, in order, with the damage.

:func:`scan` yields, in file order:

* :class:`~ssfile.check.layout.FrameRead` for every frame read whole (status ``ok``, or
  ``bad-crc`` when the payload checksum fails but the frame's extent is confirmed: nothing
  plausible starts inside it and a record starts right after it);
* :class:`BeaconItem` for every sound beacon (``expected`` = the remaining-bytes count it
  must hold, None inside damage where it cannot be known);
* :class:`BadBeaconItem` for a boundary that does not hold a sound beacon;
* :class:`GapItem` for every byte range nothing could be read from (``torn``: it runs to
  the end of the file).

Frames that a beacon cuts carry that beacon in ``crossed`` instead of a separate item.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..codec.layout import OK, BeaconRead, Layout
from ..codec.resync import recover


@dataclass(frozen=True, slots=True)
class BeaconItem:
    read: BeaconRead
    expected: int | None


@dataclass(frozen=True, slots=True)
class BadBeaconItem:
    read: BeaconRead


@dataclass(frozen=True, slots=True)
class GapItem:
    start: int
    end: int
    reason: str
    torn: bool
    #: "damage", or at the end of the file "torn-frame" (a frame cut off: one message
    #: lost) or "torn-beacon" (only the beacon's bytes are missing: no message lost)
    kind: str = "damage"


def scan(layout: Layout, start: int) -> Iterator[object]:
    """Walk the records from ``start`` (just after the header) to the end of the file."""
    pos = start
    size = layout.size
    while pos < size:
        if layout.is_boundary(pos):
            b = layout.beacon(pos)
            if b.ok:
                yield BeaconItem(b, 0)
                pos += b.beacon.size  # type: ignore[union-attr]
                continue
            yield BadBeaconItem(b)
        else:
            f = layout.read_frame(pos)
            if f.status == OK:
                yield f
                pos = f.end
                continue
        r = recover(layout, pos)
        if r.frame is not None:  # a bad checksum, but the frame's extent is confirmed
            yield r.frame
            pos = r.frame.end
            continue
        q = r.resume
        torn = q is None
        yield GapItem(pos, size if q is None else q, r.reason, torn, r.kind)
        for b in r.met:
            yield BeaconItem(b, None)
        if q is None:
            return
        pos = q
