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

from .layout import BAD_CRC, EOF, OK, SEP, BeaconRead, FrameRead, Layout
from .resync import confirms_end, find_next


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
            found: tuple[int | None, list[BeaconRead]] | None = find_next(layout, pos + 1)
            if b.reason == "eof" and found is not None and found[0] is None:
                yield GapItem(pos, size, "file ends inside a beacon", True, "torn-beacon")
                return
            reason = f"damaged beacon: {b.reason}"
            cut = False
        else:
            f = layout.read_frame(pos)
            if f.status == OK:
                yield f
                pos = f.end
                continue
            found = None
            cut = f.status == EOF
            if f.status == BAD_CRC and f.separator == SEP:
                found = find_next(layout, pos + 1, f.end)
                if found[0] is None and confirms_end(layout, f.end):
                    yield f
                    pos = f.end
                    continue
                if found[0] is None:
                    rest = find_next(layout, f.end)
                    found = (rest[0], found[1] + rest[1])
            reason = _frame_reason(f)
        if found is None:
            found = find_next(layout, pos + 1)
        q, met = found
        kind = "torn-frame" if q is None and cut else "damage"
        yield GapItem(pos, size if q is None else q, reason, q is None, kind)
        for b in met:
            yield BeaconItem(b, None)
        if q is None:
            return
        pos = q


def _frame_reason(f: FrameRead) -> str:
    if f.status == "eof":
        return f"file ends inside a frame ({f.reason})"
    if f.status == "bad-beacon":
        return f"frame cut by a damaged beacon ({f.reason})"
    if f.status == BAD_CRC:
        return "no plausible frame here (checksum and separator both wrong, or frames inside it)"
    if f.status == OK:
        return f"frame separator is {f.separator:#04x}"
    return f"no valid frame here ({f.reason})"
