"""Seeking a :class:`~ssfile.file.reader.Reader`: beacons read from the file, then a short scan.

The search itself is pure (:mod:`ssfile.file.index`); this module reads the beacons it asks
for, repositions the reader's decoder on the chosen beacon (dropping the tail of the frame
the beacon cuts) and scans forward to the first message the target selects.  That message
is kept, so iterating the reader yields it first.
"""

from __future__ import annotations

from typing import BinaryIO

from ..codec.events import EndOfStream
from ..codec.fast import beacon_size_at, parse_beacon_fast
from ..errors import FieldError, FormatError, SeekError, TruncatedError
from ..format import constants as K
from ..format.records import Beacon, FileHeader
from ..timefmt import TimeLike, to_ms
from ..types import Message
from .damage import skip_damage
from .index import SequenceTarget, Target, TimeTarget, find_start
from .reader_state import ReaderState as Reader

HEAD_READ = 4096  # one page: most beacons fit
MAX_BEACON = 7 + 255 * K.MAX_MARKER_SIZE  # 255 markers with 255-byte keys
SCAN_CHUNK = 64 * 1024  # read size while scanning for the target


def file_size(f: BinaryIO) -> int:
    here = f.tell()
    try:
        return f.seek(0, 2)
    finally:
        f.seek(here)


class FileBeacons:
    """A :class:`~ssfile.file.index.BeaconSource` over a seekable binary file.

    Beacons are read on demand (one small read each) and cached.  ``bytes_read`` counts the
    bytes this object has read.  An incomplete last beacon (a file cut inside it, or one
    being written) reads as an empty beacon, which decides nothing; so does a damaged one
    when ``damaged_ok`` (a reader with ``on_damage="skip"``), else it raises, naming
    ``path`` (the reader's file) and the beacon's offset.
    """

    def __init__(
        self,
        f: BinaryIO,
        header: FileHeader,
        size: int,
        damaged_ok: bool = False,
        path: str | None = None,
    ) -> None:
        self._f = f
        self._damaged_ok = damaged_ok
        self._path = path
        self.interval = header.beacon_interval
        self.size = size
        self.bytes_read = 0
        self._cache: dict[int, Beacon] = {}

    def beacon_count(self) -> int:
        """Beacons that start inside the file: ``k*I < size``."""
        return max(self.size - 1, 0) // self.interval

    def _read(self, offset: int, n: int) -> bytes:
        self._f.seek(offset)
        data = self._f.read(n)
        self.bytes_read += len(data)
        return data

    def beacon(self, index: int) -> Beacon:
        got = self._cache.get(index)
        if got is None:
            got = self._cache[index] = self._load(index)
        return got

    def _load(self, index: int) -> Beacon:
        offset = index * self.interval
        data = self._read(offset, min(HEAD_READ, self.interval))
        size = beacon_size_at(data, 0)
        if size is None and len(data) == min(HEAD_READ, self.interval):
            data += self._read(offset + len(data), MAX_BEACON - len(data))
            size = beacon_size_at(data, 0)
        if size is None:
            return Beacon(offset, index, 0, (), 0)  # incomplete: decides nothing
        try:
            if size >= self.interval:
                raise FieldError(f"beacon of {size} bytes does not fit its interval", offset)
            return parse_beacon_fast(data, 0, offset, index)
        except FormatError as err:
            if not self._damaged_ok:
                raise err.with_path(self._path) if self._path else err
            return Beacon(offset, index, 0, (), 0)  # damaged: decides nothing


def _seekable(reader: Reader) -> BinaryIO:
    f = reader._file
    if not f.seekable():
        raise SeekError("cannot seek: the input is not a seekable file")
    return f


def beacons_of(reader: Reader) -> FileBeacons:
    f = _seekable(reader)
    return FileBeacons(f, reader.header, file_size(f), reader._skip_damage, reader.path)


def start_at_beacon(reader: Reader, beacons: FileBeacons, index: int) -> None:
    """Reposition on beacon ``index`` (0 = the first frame), past the frame it cuts."""
    if index == 0:
        reader._restart(K.HEADER_SIZE, 0)
    else:
        beacon = beacons.beacon(index)
        reader._restart(index * beacons.interval, beacon.remaining_messages_bytes)


def scan_to(reader: Reader, target: Target) -> Message | None:
    """Decode forward until ``target`` matches; keep that message as the next one."""
    saved = reader._chunk
    reader._chunk = SCAN_CHUNK
    try:
        while True:
            batch = reader._batch()
            if not batch:
                return None
            for i, ev in enumerate(batch):
                if type(ev) is Message:
                    if target.matches(ev):
                        reader._events, reader._index = batch, i
                        return ev
                elif isinstance(ev, Beacon):
                    reader.last_beacon = ev
                elif isinstance(ev, EndOfStream):
                    reader.ended = True
                    reader._events, reader._index = [], 0
                    return None
    finally:
        reader._chunk = saved


def seek_target(reader: Reader, target: Target) -> Message | None:
    """Position ``reader`` on the first message ``target`` selects (None: there is none)."""
    beacons = beacons_of(reader)
    index = find_start(beacons, target)
    if index > 0 and eos_in_first_interval(reader, beacons):
        index = 0  # a reader stops at that EOS: nothing after it may be reached by a seek
    start_at_beacon(reader, beacons, index)
    reader.seek_bytes = beacons.bytes_read
    return scan_to(reader, target)


def eos_in_first_interval(reader: Reader, beacons: FileBeacons) -> bool:
    """Whether an EOS lies before beacon 1 (upstream appends after such an EOS; notes §5.8).

    Elsewhere an EOS is only ever the last frame (appends overwrite it), so skipping
    whole intervals can never jump over one.  Checked once per reader and remembered.
    """
    known = getattr(reader, "_eos_before_beacon1", None)
    if known is not None:
        return bool(known)
    from ..codec.decoder import Decoder

    data = beacons._read(K.HEADER_SIZE, beacons.interval - K.HEADER_SIZE)
    dec = Decoder(start_offset=K.HEADER_SIZE, header=reader.header, check_crc=False)
    dec.feed(data)
    out: list[object] = []
    try:
        dec.read_events(out)
    except FormatError:
        pass  # a damaged first interval: the scan from the start will report it
    found = any(isinstance(ev, EndOfStream) for ev in out)
    reader._eos_before_beacon1 = found  # type: ignore[attr-defined]
    return found


def seek_time(reader: Reader, when: TimeLike) -> Message | None:
    ms = to_ms(when, "seek_time")
    return seek_target(reader, TimeTarget(ms, K.num_markers(reader.header.beacon_interval)))


def seek_sequence(reader: Reader, stream_key: str, shard_id: int, sequence: int) -> Message | None:
    return seek_target(reader, SequenceTarget(stream_key, shard_id, sequence))


def seek_beacon(reader: Reader, n: int) -> int:
    """Start at beacon ``n`` (clamped to the last complete one); returns the index used."""
    if n < 0:
        raise ValueError(f"beacon index must be >= 0, not {n}")
    beacons = beacons_of(reader)
    index = min(n, beacons.beacon_count())
    while index > 0 and beacons.beacon(index).size == 0:
        index -= 1  # incomplete last beacon
    start_at_beacon(reader, beacons, index)
    return index


def rewind(reader: Reader) -> None:
    _seekable(reader)
    reader._restart(K.HEADER_SIZE, 0)


def seek_end(reader: Reader) -> None:
    """Skip every complete message present now: iteration yields only later ones."""
    seek_beacon(reader, 1 << 62)
    dec, f = reader._dec, reader._file
    out: list[object] = []
    while not dec.ended:
        out.clear()
        try:
            dec.read_events(out)
        except FormatError as err:
            if reader._skip_damage and not reader._at_end and not isinstance(err, TruncatedError):
                if reader._follower is not None and err.offset is not None:
                    reader._restart(err.offset, 0)  # the iteration skips it, waiting if need be
                    return
                if not skip_damage(reader, err, wait=False):
                    return
                dec, f = reader._dec, reader._file
                continue
            raise err.with_path(reader.path) if reader.path else err
        if out:
            for ev in out:
                if isinstance(ev, Beacon):
                    reader.last_beacon = ev
                elif isinstance(ev, EndOfStream):
                    reader.ended = True
            continue
        data = f.read(SCAN_CHUNK)
        if not data:
            return
        dec.feed(data)


__all__ = [
    "FileBeacons",
    "rewind",
    "seek_beacon",
    "seek_end",
    "seek_sequence",
    "seek_target",
    "seek_time",
]
