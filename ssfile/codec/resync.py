"""Resynchronisation: where reading can go on after damage.  One implementation, used by
``verify``/``repair`` (ssfile/check/) and by every reader's ``on_damage="skip"``.

A position is a *plausible frame start* when a whole frame parses there: valid key bytes,
sizes inside the data, a matching payload CRC and the 0x0D separator (see
:meth:`Layout.plausible`).  :func:`find_next` looks for the first one after the damage,
interval by interval:

* at every boundary it reads the beacon: if it is sound (it parses and both its 0x0D
  separators are there), its ``remaining_messages_bytes`` says where the next frame starts,
  which is tried first (a long damaged frame is skipped in one step), and the beacon's own
  bytes are never scanned; bytes that merely parse as a beacon are scanned like any others;
* inside an interval, a cheap test (:func:`candidates`: key length and key bytes, the
  declared length fits, a 0x0D at the end it declares) picks the positions worth a full
  read.  It runs in C when the accelerator is built (``_speedups.resync_candidate``, tested
  equal to the pure code); in pure Python a segment with no 0x0D left is skipped in one step.

:func:`recover` is what a scan does with a record that does not read: how much is damaged
and where reading resumes.  It never moves backwards, so a message is never read twice.

The payload checksum does not cover a frame's key, shard, sequence or timestamp, so a frame
whose key was zeroed can read as a plausible frame of the empty key (its fixed fields and
payload are still there).  A candidate with an empty key is therefore taken only when the
byte before it is 0x0D, the terminator of the record before (writers never originate an
empty key; spec 2.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .accel import speedups as _speedups
from .layout import BAD_CRC, EOF, KEY_BYTES, OK, SEP, BeaconRead, Buffer, FrameRead, Layout

_MAX_KEY = 249
#: the C twin of :func:`_candidate_pure`, None without the accelerator or with SSFILE_PURE=1
_CANDIDATE = None if _speedups is None else getattr(_speedups, "resync_candidate", None)


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


def _candidate_pure(
    buf: Buffer, start: int, stop: int, seg: int, size: int, can_cross: bool
) -> int:
    """The first buffer index in ``[start, stop)`` that passes the cheap test, or -1.

    ``seg``: where the interval ends (or the data, if sooner); ``size``: the end of the
    data; ``can_cross``: a sound beacon at ``seg`` lets a frame run past it.  A frame that
    stays inside the segment must end with a 0x0D: past the last 0x0D of the segment only
    frames running past ``seg`` remain possible.
    """
    key_ok = KEY_BYTES.match
    if not can_cross:
        last = buf.rfind(b"\r", start, seg)  # type: ignore[union-attr]  # bytes or mmap here
        stop = min(stop, last - 30)  # a frame is at least 32 bytes, its last one 0x0D
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
        return q
    return -1


def candidate(buf: Buffer, start: int, stop: int, seg: int, size: int, can_cross: bool) -> int:
    """:func:`_candidate_pure`, in C when the accelerator is there (same result)."""
    if _CANDIDATE is not None:
        return _CANDIDATE(buf, start, stop, seg, size, can_cross)  # type: ignore[no-any-return]
    return _candidate_pure(buf, start, stop, seg, size, can_cross)


def _scan_segment(layout: Layout, start: int, stop: int) -> int | None:
    """The first plausible frame start in ``[start, stop)`` (no boundary inside)."""
    buf, base, size = layout.buf, layout.base, layout.size
    seg = min(layout.next_boundary(start), size)
    # a frame can only run past the segment through a sound beacon at its end
    can_cross = seg < size and layout.beacon(seg).ok
    q = start - base
    while True:
        q = candidate(buf, q, stop - base, seg - base, size - base, can_cross)
        if q < 0:
            return None
        # an empty key right after zeroed bytes is usually a damaged frame's own fixed fields
        # and payload (the CRC covers only the payload): only trusted after a terminator
        if (buf[q] or buf[q - 1] == SEP) and layout.plausible(q + base) is not None:
            return q + base
        q += 1


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
            # damaged, cut by the end of the file, or not evidently a beacon: look inside and
            # past it.  After damage (an inserted byte shifts everything) the bytes at a
            # boundary can parse as a beacon by chance; both 0x0D separators are the evidence
            # that it is one (writers always write them) before its bytes are skipped whole.
            if not (b.ok and b.lead_ok and b.term_ok):
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


@dataclass(slots=True)
class Recovery:
    """What :func:`recover` found for a record at ``start`` that does not read.

    ``resume``: where reading goes on (None: nothing readable up to the end of the data);
    the bytes ``[start, resume)`` are lost.  ``frame``: a frame whose payload checksum fails
    but whose extent is confirmed (``resume`` is its end).  ``kind``: ``"damage"``, or at the
    end of the data ``"torn-frame"`` (a frame cut off) or ``"torn-beacon"`` (only a beacon's
    bytes are missing).  ``met``: sound beacons inside the lost range.
    """

    start: int
    resume: int | None
    reason: str
    kind: str = "damage"
    met: list[BeaconRead] = field(default_factory=list)
    frame: FrameRead | None = None
    beacon: BeaconRead | None = None


def recover(layout: Layout, pos: int) -> Recovery:
    """Read the record at ``pos`` again and decide how far the damage there reaches."""
    if layout.is_boundary(pos):
        b = layout.beacon(pos)
        q, met = find_next(layout, pos + 1)
        if b.ok:  # a sound beacon whose frame failed later on: the reader's view of it
            return Recovery(pos, q, "damage after a beacon", "damage", met, beacon=b)
        if b.reason == "eof" and q is None:
            return Recovery(pos, None, "file ends inside a beacon", "torn-beacon", beacon=b)
        return Recovery(pos, q, f"damaged beacon: {b.reason}", "damage", met, beacon=b)
    f = layout.read_frame(pos)
    cut = f.status == EOF
    found = None
    if f.status == BAD_CRC and f.separator == SEP:
        found = find_next(layout, pos + 1, f.end)
        if found[0] is None and confirms_end(layout, f.end):
            return Recovery(pos, f.end, "payload checksum mismatch", frame=f)
        if found[0] is None:
            rest = find_next(layout, f.end)
            found = (rest[0], found[1] + rest[1])
    if found is None:
        found = find_next(layout, pos + 1)
    q, met = found
    kind = "torn-frame" if q is None and cut else "damage"
    return Recovery(pos, q, frame_reason(f), kind, met)


def frame_reason(f: FrameRead) -> str:
    if f.status == EOF:
        return f"file ends inside a frame ({f.reason})"
    if f.status == "bad-beacon":
        return f"frame cut by a damaged beacon ({f.reason})"
    if f.status == BAD_CRC:
        return "no plausible frame here (checksum and separator both wrong, or frames inside it)"
    if f.status == OK:
        return f"frame separator is {f.separator:#04x}"
    return f"no valid frame here ({f.reason})"


__all__ = ["Recovery", "candidate", "confirms_end", "find_next", "recover"]
