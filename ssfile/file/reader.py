"""The synchronous reader: a thin loop that feeds file chunks to the sans-I/O decoder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

from ..codec.decoder import Decoder
from ..codec.events import EndOfStream
from ..errors import FormatError, TruncatedError, check_on_damage
from ..format import constants as K
from ..format.records import Beacon, FileHeader
from ..timefmt import TimeLike
from ..types import Message
from .damage import skip_damage

CHUNK = 1 << 20
#: events per batch taken from the decoder: small enough that a batch's messages die young
#: (handed out and dropped before the cyclic GC promotes them: ~15% faster than whole
#: 1 MiB chunks, bench/RESULTS.md), large enough that the per-call cost does not show
BATCH = 256


class Reader:
    """Read a ``.ss`` file (or any binary stream) message by message, in bounded memory.

    Iterating yields data messages in file order and stops at the EOS frame (``ended``
    becomes True; the EOS itself is not yielded).  A file that stops cleanly after a whole
    frame simply ends (``ended`` stays False).  A file cut inside a record raises
    :class:`~ssfile.errors.TruncatedError` (with the offset where the torn record starts)
    after every complete message has been yielded; with ``tolerate_truncation=True`` the
    iteration ends cleanly instead and :attr:`torn_tail` holds that offset.  That forgives
    only a torn tail: a record that runs past the end while intact data follows it is damage.

    Damage (a record that does not read: bad key, timestamp, checksum, beacon) raises a
    :class:`~ssfile.errors.FormatError` naming its offset (``on_damage="raise"``, the
    default).  With ``on_damage="skip"`` the reader resumes at the next record that reads
    (the search ``verify`` and ``repair`` use, spec section 7.5), warns with a
    :class:`~ssfile.errors.DamageWarning` per skipped range and records it in :attr:`damage`
    (``(offset, length)``; the errors in :attr:`damage_errors`); every intact message is
    yielded once, in file order.  The file header itself must read.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        check_crc: bool = True,
        tolerate_truncation: bool = False,
        chunk_size: int = CHUNK,
        follow: bool = False,
        on_damage: str = "raise",
    ) -> None:
        self._skip_damage = check_on_damage(on_damage) == "skip"
        #: skipped damaged ranges, ``(offset, length)``, in file order (``on_damage="skip"``)
        self.damage: list[tuple[int, int]] = []
        self.damage_errors: list[FormatError] = []
        self._at_end = False
        self._warn_damage = True  # False: the caller reports self.damage itself (ssfile info)
        if isinstance(source, (str, os.PathLike)):
            self.path: str | None = os.fspath(source)
            self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self._owns = True
        else:
            self.path = (
                getattr(source, "name", None)
                if isinstance(getattr(source, "name", None), str)
                else None
            )
            self._file = source
            self._owns = False
        self._chunk = chunk_size
        self._tolerate = tolerate_truncation
        self._dec = Decoder(check_crc=check_crc)
        self._check_crc = check_crc
        self.seek_bytes = 0  # bytes of beacons read by the last seek (seek.py)
        self._follower = None
        if follow:  # wait at the end for appended data (follow.py)
            from .follow import Follower

            self._follower = Follower(self._file, self.path)
        self._events: list[object] = []
        self._current: Iterator[Message] | None = None  # the run __iter__ is handing out
        self._index = 0
        self.ended = False
        self.torn_tail: int | None = None
        self.last_beacon: Beacon | None = None
        try:
            first = self._next_event()
        except FormatError as err:
            self.close()
            raise err.with_path(self.path) if self.path else err
        except BaseException:
            self.close()
            raise
        if not isinstance(first, FileHeader):  # a file cut inside its header, truncation tolerated
            self.close()  # (it was left open: a ResourceWarning when collected)
            raise FormatError("missing file header (the file ends inside it)", 0, path=self.path)
        self.header: FileHeader = first

    # ---- plumbing ---------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Feed one chunk; False at end of input."""
        if self._at_end:
            return False
        data = self._file.read(self._chunk)
        if not data:
            if self._follower is not None and self._follower.wait():
                return True
            self._dec.feed_eof()
            return False
        self._dec.feed(data)
        return True

    def _batch(self) -> list[object]:
        """The next non-empty batch of events, or [] at the end."""
        dec = self._dec
        out: list[object] = []
        more = True
        while True:
            try:
                dec.read_events(out, BATCH)
            except TruncatedError as err:
                if not self._tolerate:
                    raise err.with_path(self.path) if self.path else err
                self.torn_tail = err.offset
                return out
            except FormatError as err:
                if self._skip_damage and not self._at_end and dec.header is not None:
                    skip_damage(self, err)
                    dec = self._dec
                    more = True
                    continue
                raise err.with_path(self.path) if self.path else err
            if out or not more:
                return out
            if dec.ended:
                return out
            more = self._fill()

    def _next_event(self) -> object | None:
        self._reclaim()
        if self._index >= len(self._events):
            self._events = self._batch()
            self._index = 0
            if not self._events:
                return None
        ev = self._events[self._index]
        self._index += 1
        return ev

    # ---- public -----------------------------------------------------------------------------

    def events(self) -> Iterator[object]:
        """Every event: messages, beacons and the :class:`EndOfStream`, in file order."""
        while True:
            ev = self._next_event()
            if ev is None:
                return
            if isinstance(ev, Beacon):
                self.last_beacon = ev
            elif isinstance(ev, EndOfStream):
                self.ended = True
            yield ev
            if self.ended:
                return

    def __iter__(self) -> Iterator[Message]:
        # chain() hands out each message at C speed; the generator only runs between runs
        return chain.from_iterable(self._message_runs())

    def _reclaim(self) -> None:
        """Put back the messages of a run an earlier ``for m in reader`` left unconsumed
        (after a ``break``), so that whatever reads next starts with them."""
        if self._current is not None:
            rest: list[object] = list(self._current)
            self._current = None
            if rest:
                self._events = rest + self._events[self._index :]
                self._index = 0

    def _message_runs(self) -> Iterator[Iterator[Message]]:
        """Iterators over runs of consecutive data messages (beacons and the EOS are handled
        between runs).  The current one is kept in ``_current``: a list iterator remembers
        how far ``chain`` got, so a ``break`` loses nothing (see :meth:`_reclaim`)."""
        for run in self._plain_runs():
            self._current = it = iter(run)
            yield it
        self._current = None

    def _plain_runs(self) -> Iterator[list[Message]]:
        """Runs of messages.  Before each yield, ``_events``/``_index`` point just past the run,
        so a consumer that stops mid-batch (``break``) leaves the rest of the batch in place."""
        msg_type = Message
        self._reclaim()
        while True:
            if self._index >= len(self._events):
                self._events, self._index = self._batch(), 0
                if not self._events:
                    return
            batch, start = self._events, self._index
            if start:
                batch = batch[start:]
                self._events, self._index = batch, 0
            types = list(map(type, batch))
            if types.count(msg_type) == len(types):
                self._index = len(batch)
                yield batch  # type: ignore[misc]
                continue
            start = 0
            for i in _positions_of_others(types, msg_type):
                if i > start:
                    self._index = i
                    yield batch[start:i]  # type: ignore[misc]
                self._index = start = i + 1
                ev = batch[i]
                if isinstance(ev, Beacon):
                    self.last_beacon = ev
                elif isinstance(ev, EndOfStream):
                    self.ended = True
                    return
            if start < len(batch):
                self._index = len(batch)
                yield batch[start:]  # type: ignore[misc]

    def read_all(self) -> list[Message]:
        return list(self)

    # ---- seeking (logic in seek.py / index.py) ------------------------------------------------

    def seek_time(self, when: TimeLike) -> Message | None:
        """Go to the first message with timestamp >= ``when``; returns it (None: past the end).

        ``when``: int ms, a datetime (naive = UTC), a pandas.Timestamp, a numpy.datetime64
        or text such as ``"2026-01-01T00:08:20Z"`` (see :func:`ssfile.timefmt.to_ms`)."""
        from .seek import seek_time

        return seek_time(self, when)

    def seek_sequence(self, stream_key: str, shard_id: int, sequence: int) -> Message | None:
        """Go to the first message of (stream, shard) with sequence >= ``sequence``; returns it."""
        from .seek import seek_sequence

        return seek_sequence(self, stream_key, shard_id, sequence)

    def seek_beacon(self, n: int) -> int:
        """Go to beacon ``n`` (clamped to the last one); returns the index used."""
        from .seek import seek_beacon

        return seek_beacon(self, n)

    def rewind(self) -> None:
        """Go back to the first message."""
        from .seek import rewind

        rewind(self)

    def seek_end(self) -> None:
        """Skip every complete message present now (with ``follow=True``: wait for new ones)."""
        from .seek import seek_end

        seek_end(self)

    def _restart(self, offset: int, skip: int) -> None:
        """A fresh decoder at absolute ``offset`` (a boundary or the header end)."""
        self._file.seek(offset)
        self._dec = Decoder(
            start_offset=offset, header=self.header, skip=skip, check_crc=self._check_crc
        )
        self._events, self._index = [], 0
        self._current = None
        self.ended = False
        self.torn_tail = None
        self._at_end = False

    @property
    def offset(self) -> int:
        """Absolute offset of the next byte the decoder will look at."""
        return self._dec.offset

    def close(self) -> None:
        if self._owns:
            self._file.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ssfile.Reader {self.path!r} interval={self.header.beacon_interval}>"

    def _repr_html_(self) -> str:
        """Jupyter: the header and a streams table (ssfile/display.py)."""
        from ..display import reader_html

        return reader_html(self)


def _positions_of_others(types: list[type], msg_type: type) -> list[int]:
    """Sorted indices of the entries of ``types`` that are not ``msg_type`` (C-speed scans)."""
    found = []
    for t in set(types):
        if t is msg_type:
            continue
        i = -1
        try:
            while True:
                i = types.index(t, i + 1)
                found.append(i)
        except ValueError:
            pass
    found.sort()
    return found


def read_header(path: str | os.PathLike[str]) -> FileHeader:
    """Just the file header."""
    from ..format.layouts import parse_file_header

    with open(path, "rb") as f:
        data = f.read(K.HEADER_SIZE)
    try:
        return parse_file_header(data)
    except FormatError as err:
        raise err.with_path(os.fspath(path))
