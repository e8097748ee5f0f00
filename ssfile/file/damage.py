"""``on_damage="skip"``: how a :class:`~ssfile.file.reader.Reader` gets past damaged bytes.

When the decoder fails on a record (a bad key, timestamp, checksum or beacon, or a length
that runs past the end while intact data follows), the reader asks
:func:`ssfile.codec.resync.recover` -- the same search ``verify`` and ``repair`` use --
where reading can resume, records the skipped range, warns (:class:`DamageWarning`) and
restarts its decoder there.  The search only moves forward, so no message is yielded twice.

The bytes come from a read-only memory map of the file (nothing is copied); a source that
cannot be mapped (a pipe, an in-memory stream) is read to its end into memory first.  When
following a growing file, a damaged range that runs to the current end is not reported
until more data arrives and shows where reading resumes.
"""

from __future__ import annotations

import mmap
import os
import stat
import warnings
from typing import TYPE_CHECKING

from ..codec.decoder import Decoder
from ..codec.layout import Layout
from ..codec.resync import Recovery, recover
from ..errors import DamageWarning, FormatError

if TYPE_CHECKING:
    from .reader_state import ReaderState as Reader


def recover_in_file(fd: int, interval: int, start: int) -> tuple[Recovery, int] | None:
    """:func:`recover` over a read-only map of the file ``fd`` as it is now: (what it found,
    the file size then); None if ``fd`` is not a regular, non-empty file that maps."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return None
    try:
        m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    try:
        layout = Layout(m, interval)
        r = recover(layout, start)
        return r, layout.size
    finally:
        m.close()


def _recover_mapped(reader: Reader, start: int, wait: bool) -> tuple[Recovery, int] | None:
    """Search a map of the file; with a follower (and ``wait``) wait for growth while the
    damage runs to the current end.  None: the source cannot be mapped."""
    try:
        fd = reader._file.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    while True:
        got = recover_in_file(fd, reader._dec.interval, start)
        if got is None:
            return None
        r, end = got
        follower = reader._follower
        if r.resume is not None or follower is None or not wait:
            return r, end
        reader._file.seek(end)
        if not follower.wait():  # closed while waiting
            return r, end


def skip_damage(reader: Reader, err: FormatError, *, wait: bool = True) -> bool:
    """Skip the damage ``err`` reports; True when reading resumes, False if it runs to the end."""
    # a beacon that fails inside a frame it cuts names itself; the damage starts at the frame
    # (the decoder stays on the record it could not read)
    at = reader._dec.offset
    start = at if err.offset is None else min(err.offset, at)
    header = reader._dec.header
    assert header is not None
    got = _recover_mapped(reader, start, wait)
    if got is not None:
        r, end = got
        if r.resume is not None:
            reader._restart(r.resume, 0)
    else:  # not mappable: the rest of the stream, in memory
        dec = reader._dec
        held = bytes(dec._buf[start - dec._base :]) if dec._base <= start else b""
        data = held + (reader._file.read() or b"")
        layout = Layout(data, header.beacon_interval, start)
        r, end = recover(layout, start), layout.size
        if r.resume is not None:
            reader._dec = Decoder(start_offset=r.resume, header=header, check_crc=reader._check_crc)
            reader._dec.feed(data[r.resume - start :])
            reader._events, reader._index = [], 0
    stop = end if r.resume is None else r.resume
    reader.damage.append((start, stop - start))
    reader.damage_errors.append(err)
    if reader._warn_damage:
        warnings.warn(
            DamageWarning([(start, stop - start)], [err.reason], reader.path), stacklevel=2
        )
    if r.resume is None:  # nothing readable up to the end of the data
        reader._dec = Decoder(start_offset=max(end, 1), header=header)
        reader._dec.feed_eof()
        reader._at_end = True
        return False
    return True


__all__ = ["recover_in_file", "skip_damage"]
