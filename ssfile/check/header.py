"""Checking the 128-byte header, and choosing the beacon interval to read a damaged file with.

Magic and version are what upstream checks (errors).  Upstream never looks at the padding or
its 0x0D terminator, so those are warnings.  The beacon interval has no checksum: when the
header's value does not fit the file (its boundaries hold no beacons) but the same value with
one bit flipped does, or the file reads cleanly as having no beacon at all, the better fit is
used and the header is reported damaged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..codec.layout import EOF, OK, Layout, read_beacon
from ..codec.resync import find_next
from ..format import constants as K
from ..format.records import FileHeader
from ..types import MAX_TIMESTAMP_MS
from .diagnosis import Diagnosis

#: how far a candidate interval is test-read when the header's value is in doubt
PROBE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class HeaderCheck:
    """The header as far as it could be read, and how to read the rest of the file."""

    header: FileHeader | None
    magic_ok: bool
    scan_interval: int | None  # interval to read the file with (None: nothing to read)


def check_header(buf: bytes, diag: Diagnosis) -> HeaderCheck:
    size = len(buf)
    magic_ok = bytes(buf[:2]) == K.MAGIC[: min(size, 2)]
    if not magic_ok:
        diag.error("bad-magic", 0, f"file does not start with b'Ss' (found {bytes(buf[:2])!r})")
    if size >= 3 and buf[2] != K.VERSION:
        diag.error("bad-version", 2, f"format version {buf[2]} (expected {K.VERSION})")
    if size < K.HEADER_SIZE:
        diag.error(
            "truncated-header",
            size,
            f"file ends inside the header ({size} of {K.HEADER_SIZE} bytes)",
        )
        return HeaderCheck(None, magic_ok, None)
    n = buf[3]
    header = None
    if n > K.MAX_FILE_NAME_READ:
        diag.error("bad-header", 3, f"file name length {n} exceeds {K.MAX_FILE_NAME_READ}")
    else:
        header = _fields(buf, n)
        _check_fields(buf, n, header, diag)
    claimed = header.beacon_interval if header else 0
    interval, m = _resolve(buf, claimed, diag, 12 + n, _alternatives(buf, n))
    if m is not None:
        diag.error(
            "bad-header",
            3,
            f"file name length {n} looks damaged: the header reads "
            f"consistently (and the file with its interval) with length {m}",
        )
        header = _fields(buf, m)
    return HeaderCheck(header, magic_ok, interval)


def _fields(buf: bytes, n: int) -> FileHeader:
    created, interval = struct.unpack_from(">QI", buf, 4 + n)
    return FileHeader(bytes(buf[4 : 4 + n]).decode("utf-8", errors="replace"), created, interval)


def _check_fields(buf: bytes, n: int, header: FileHeader, diag: Diagnosis) -> None:
    try:
        bytes(buf[4 : 4 + n]).decode("utf-8")
    except UnicodeDecodeError:
        diag.error("bad-header", 4, "file name is not valid UTF-8")
    if header.created_at_ms > MAX_TIMESTAMP_MS:
        diag.error("bad-header", 4 + n, f"created_at {header.created_at_ms} is out of range")
    _check_padding(buf, n, diag)
    if header.beacon_interval < K.MIN_BEACON_INTERVAL:
        diag.error(
            "bad-interval",
            12 + n,
            f"beacon interval {header.beacon_interval} is below {K.MIN_BEACON_INTERVAL}",
        )


def _alternatives(buf: bytes, n: int) -> dict[int, int]:
    """When the header's file name length does not line up with its zero padding: the other
    lengths that do -> the interval each gives."""
    out: dict[int, int] = {}
    if buf[127] != K.SEPARATOR or (n <= K.MAX_FILE_NAME_WRITE and not any(buf[16 + n : 127])):
        return out  # no terminator to line up with, or the header's own length lines up
    for m in range(K.MAX_FILE_NAME_WRITE + 1):
        if m != n and not any(buf[16 + m : 127]):
            out[m] = _fields(buf, m).beacon_interval
    return out


def _check_padding(buf: bytes, n: int, diag: Diagnosis) -> None:
    start = 16 + n
    if n == K.MAX_FILE_NAME_READ:
        diag.warning(
            "header-padding",
            127,
            "no padding and no 0x0D terminator (file name of 112 bytes); "
            "upstream reads it, but cannot write it",
        )
        return
    pad = bytes(buf[start:127])
    if pad.strip(b"\0"):
        first = start + next(i for i, c in enumerate(pad) if c)
        diag.warning("header-padding", first, "header padding is not all zero bytes")
    if buf[127] != K.SEPARATOR:
        diag.warning("header-padding", 127, f"header terminator is {buf[127]:#04x}, not 0x0D")


def _walk(layout: Layout, pos: int) -> tuple[int, bool, int]:
    """Read records from ``pos`` until one fails: (where, failed at the end of data, bytes read)."""
    size = layout.size
    start = pos
    while pos < size and pos < PROBE_BYTES:
        if layout.is_boundary(pos):
            b = layout.beacon(pos)
            if not b.ok:
                return pos, b.reason == "eof", pos - start
            pos += b.beacon.size  # type: ignore[union-attr]
            continue
        f = layout.read_frame(pos)
        if f.status != OK:
            return pos, f.status == EOF, pos - start
        pos = f.end
    return pos, True, pos - start


def _progress(buf: bytes, interval: int) -> tuple[int, bool]:
    """How far the file reads cleanly with ``interval`` (up to :data:`PROBE_BYTES`), and
    whether it stopped at the end of the data (a torn tail says nothing about the interval)."""
    pos, at_end, _ = _walk(Layout(buf, interval), K.HEADER_SIZE)
    return pos, at_end


def _score(buf: bytes, interval: int) -> int:
    """Bytes read cleanly with ``interval``, getting past the first damage once."""
    layout = Layout(buf, interval)
    pos, at_end, read = _walk(layout, K.HEADER_SIZE)
    if at_end:
        return read
    nxt, _ = find_next(layout, pos + 1, min(layout.size, PROBE_BYTES))
    return read if nxt is None else read + _walk(layout, nxt)[2]


def _sound(buf: bytes, at: int, interval: int) -> bool:
    """A beacon at ``at`` with both separators right (evidence, not just tolerance)."""
    b = read_beacon(buf, at, interval)
    return b.ok and b.lead_ok and b.term_ok


def _beacons_fit(buf: bytes, interval: int) -> tuple[int, int]:
    """(sound beacons, boundaries) at the multiples of ``interval`` in the probed range."""
    end = min(len(buf), PROBE_BYTES)
    marks = range(interval, end, interval)
    return sum(1 for m in marks if _sound(buf, m, interval)), len(marks)


def _leads(buf: bytes, start: int, end: int) -> list[int]:
    """The offsets in ``[start, end)`` holding 0x0D: only there can a sound beacon start
    (found with ``find``, not a Python step per byte)."""
    out = []
    at = buf.find(b"\r", start, end)
    while at >= 0:
        out.append(at)
        at = buf.find(b"\r", at + 1, end)
    return out


def _beacon_candidates(buf: bytes) -> list[tuple[int, int, float]]:
    """Intervals whose boundaries (in the probed range) hold sound beacons, best first:
    most sound beacons, then highest share of sound boundaries: (interval, beacons, share).
    A damaged beacon or two does not hide the interval."""
    end = min(len(buf), PROBE_BYTES)
    sound = {at for at in _leads(buf, K.MIN_BEACON_INTERVAL, end) if _sound(buf, at, end)}
    scored = []
    for cand in sound | {
        at // 2 for at in sound if at % 2 == 0 and at // 2 >= K.MIN_BEACON_INTERVAL
    }:
        marks = range(cand, end, cand)
        hits = sum(1 for m in marks if m in sound and _sound(buf, m, cand))
        if hits:
            scored.append((-hits, -hits / len(marks), cand))
    return [(cand, -neg, -share) for neg, share, cand in sorted(scored)]


def _resolve(
    buf: bytes, claimed: int, diag: Diagnosis, where: int, alternatives: dict[int, int]
) -> tuple[int, int | None]:
    """(interval, other name length) to read the file with.

    The header's interval is kept when most of its boundaries hold sound beacons and the file
    reads cleanly with it.  Else the interval with the most sound beacons at its boundaries
    (damage elsewhere leaves that the header's); else, when the header itself looks damaged
    or puts no boundary in the file, the candidate (the header's value
    with one bit flipped, the header read with another name length, no beacon at all) that
    reads furthest.  The name length is returned when the interval came from the header
    read with another name length."""
    valid = claimed >= K.MIN_BEACON_INTERVAL
    sound, total = _beacons_fit(buf, claimed) if valid else (0, 0)
    base, at_end = _progress(buf, claimed) if valid else (K.HEADER_SIZE, False)
    if valid and 2 * sound >= total and (base >= min(len(buf), PROBE_BYTES) or at_end):
        return claimed, None
    found = _beacon_candidates(buf)
    if found and found[0][1] >= 2:  # switch only to an interval that finds more beacons
        best, hits, share = found[0]
        if best == claimed or (
            valid
            and 2 * sound >= total
            and (sound > hits or (sound == hits and sound >= share * total))
        ):
            return claimed, None
        return _report(diag, where, claimed, best, False), None
    if (
        valid
        and total
        and not any(
            _beacons_fit(buf, i)[0] for i in alternatives.values() if i >= K.MIN_BEACON_INTERVAL
        )
    ):
        return claimed, None  # no other reading of the header is borne out by beacons: trust it
    beyond = max(len(buf) + 1, K.MIN_BEACON_INTERVAL)  # "no beacon in this file"
    candidates: dict[int, int | None] = {claimed ^ (1 << b): None for b in range(32)}
    candidates.update({i: None for i, *_ in found})
    candidates.update({i: m for m, i in alternatives.items()})
    candidates[beyond] = None
    # a valid header value is only replaced by one reading clearly further (by half an interval)
    margin = min(claimed, len(buf)) // 2 if valid else 0
    best, best_m, best_progress = claimed, None, (_score(buf, claimed) + margin) if valid else 0
    for cand, m in candidates.items():
        if K.MIN_BEACON_INTERVAL <= cand <= K.MAX_BEACON_INTERVAL and cand != claimed:
            got = _score(buf, cand)
            if got > best_progress:
                best, best_m, best_progress = cand, m, got
    if best == claimed:
        return (claimed if valid else beyond), None
    return _report(diag, where, claimed, best, best == beyond), best_m


def _report(diag: Diagnosis, where: int, claimed: int, chosen: int, none: bool) -> int:
    what = "no beacon at all" if none else f"beacons every {chosen} bytes"
    diag.error(
        "bad-interval",
        where,
        f"header beacon interval {claimed} does not fit the file, "
        f"which reads as having {what}; reading it that way",
    )
    return chosen
