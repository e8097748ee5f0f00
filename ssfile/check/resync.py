"""Resynchronisation: find the next plausible frame after damage.

A position is a *plausible frame start* when a whole frame parses there: valid key bytes,
sizes inside the file, a matching payload CRC and the 0x0D separator (see
:meth:`Layout.plausible`).  The search walks forward byte by byte inside each beacon
interval and, at every boundary, reads the beacon: if it is sound, its
``remaining_messages_bytes`` says where the next frame starts, which is tried first (a
long damaged frame is skipped in one step); the beacon's own bytes are never scanned.
"""

from __future__ import annotations

from .layout import KEY_BYTES, SEP, BeaconRead, Layout

_MAX_KEY = 249


def _jump(layout: Layout, beacon: BeaconRead, limit: int) -> int | None:
    """Where the beacon's remaining-bytes count says the next frame starts, if confirmed."""
    b = beacon.beacon
    assert b is not None
    after = b.offset + b.size
    if not b.remaining_messages_bytes:
        return None
    target = layout.advance(after, b.remaining_messages_bytes)
    if target is None or target >= limit:
        return None
    if layout.is_boundary(target):
        return target if layout.beacon(target).ok else None
    return target if layout.plausible(target) else None


def _scan_segment(layout: Layout, start: int, stop: int) -> int | None:
    """The first plausible frame start in ``[start, stop)`` (no boundary inside)."""
    buf = layout.buf
    size = layout.size
    plausible = layout.plausible
    key_ok = KEY_BYTES.match
    seg = min(layout.next_boundary(start), size)
    # a frame can only run past the segment through a sound beacon at its end
    can_cross = seg < size and layout.beacon(seg).ok
    for q in range(start, stop):
        k = buf[q]
        if k > _MAX_KEY:
            continue
        fixed = q + 1 + k
        if fixed + 28 > seg:
            if not can_cross:
                continue
        else:
            length = int.from_bytes(buf[fixed + 24 : fixed + 28], "big")
            end = fixed + 31 + length
            if end > size or (end <= seg and buf[end - 1] != SEP):
                continue
        if not key_ok(bytes(buf[q + 1 : min(fixed, seg)])):
            continue
        if plausible(q) is not None:
            return q
    return None


def find_next(
    layout: Layout, start: int, limit: int | None = None
) -> tuple[int | None, list[BeaconRead]]:
    """The first plausible frame start (or sound boundary) at or after ``start``, before
    ``limit``; and the sound beacons met on the way.  None if there is none."""
    size = layout.size
    lim = size if limit is None else min(limit, size)
    met: list[BeaconRead] = []
    p = start
    while p < lim:
        if layout.is_boundary(p):
            b = layout.beacon(p)
            if not b.ok:  # damaged, or cut by the end of the file: look past it anyway
                p += 1
                continue
            met.append(b)
            target = _jump(layout, b, lim)
            if target is not None:
                return target, met
            p += b.beacon.size  # type: ignore[union-attr]
            continue
        stop = min(layout.next_boundary(p), lim)
        q = _scan_segment(layout, p, stop)
        if q is not None:
            return q, met
        p = stop
    return None, met


def confirms_end(layout: Layout, end: int) -> bool:
    """Whether ``end`` looks like where a record starts (used to trust a bad-CRC frame's length)."""
    if end >= layout.size:
        return end == layout.size
    if layout.is_boundary(end):
        b = layout.beacon(end)
        return b.ok or b.reason == "eof"
    f = layout.read_frame(end)
    if f.status == "eof":
        return True
    return f.status in ("ok", "bad-crc") and f.separator == SEP
