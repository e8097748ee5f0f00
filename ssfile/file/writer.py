"""The synchronous writer: a thin loop that moves encoder output into a file.

Modes: ``"w"`` creates or truncates, ``"x"`` creates and fails if the file exists, ``"a"``
appends (a missing or empty file is created).  Appending scans the file once to recover the
append point and the encoder state, so that the result is byte-for-byte what one writer
session would have produced (see spec/ss-format.md, "Appending"):

* the append point is just after the last complete frame; an EOS there is overwritten
  (always: upstream keeps an EOS before the first beacon, which hides everything appended);
* the file is truncated at the append point (a torn tail is dropped, not left behind);
* sequences, timestamps, running checksums and the marker rotation continue.

One writer per file at a time: the writer holds an exclusive lock (``flock``; on Windows
``msvcrt.locking``, see :mod:`ssfile.platform`) and a second one fails with :class:`~ssfile.errors.SSError` instead of corrupting the file.

A failed write (disk full, I/O error) or fsync raises :class:`~ssfile.errors.WriteFailed`
and the writer refuses every further write, flush and EOS (spec/ss-format.md, "The writer
after a failed write"): the file holds every byte handed to the OS before the failure and at
most a torn tail, which appending or ``repair`` removes.  Bytes not yet written stay in the
buffer, so an interrupted write (Ctrl-C) is simply continued by the next flush.
"""

from __future__ import annotations

import errno
import os
import time
import warnings
from collections.abc import Callable, Sequence

from .. import platform
from ..codec.decoder import Decoder
from ..codec.encoder import Encoder, StreamState
from ..codec.events import EndOfStream
from ..errors import (
    ChecksumMismatch,
    EncodeError,
    FormatError,
    SSError,
    TruncatedError,
    WriteFailed,
)
from ..format import constants as K
from ..format.crc import crc16_bytes, running_update
from ..format.records import Beacon, FileHeader
from ..timefmt import TimeLike, to_ms
from ..types import Message

FLUSH_AT = 1 << 20


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ms_or_now(value: TimeLike | None, what: str) -> int:
    """A timestamp argument as int milliseconds (:func:`ssfile.timefmt.to_ms`); None: now.
    What is not a time is an :class:`EncodeError`, as everything a writer refuses."""
    if value is None:
        return now_ms()
    try:
        return to_ms(value, what)
    except (TypeError, ValueError) as err:
        raise EncodeError(str(err)) from None


def scan_for_append(path: str) -> tuple[FileHeader, int, dict[tuple[str, int], StreamState], int]:
    """Recover (header, append offset, stream states, markers emitted) from an existing file.

    The append offset is where the decoder stopped: the EOS frame's start if there is one,
    else the start of a torn record at the end, else the end of the file.
    """
    dec = Decoder(check_crc=True, stop_at_eos=True)
    streams: dict[tuple[str, int], StreamState] = {}
    beacons: list[Beacon] = []
    header: FileHeader | None = None
    append_at: int | None = None
    out: list[object] = []
    with open(path, "rb") as f:
        while append_at is None:
            out.clear()
            try:
                dec.read_events(out)
            except TruncatedError as err:
                if header is None:  # nothing to append to: refuse rather than guess a header
                    raise err.with_path(path)
                append_at = dec.offset  # a torn tail: cut it off
                break
            except ChecksumMismatch as err:
                raise FormatError(
                    f"cannot append to a damaged file ({err.reason}); run `ssfile repair` first",
                    err.offset,
                    path=path,
                ) from err
            except FormatError as err:
                raise err.with_path(path)
            if not out:
                data = f.read(FLUSH_AT)
                if data:
                    dec.feed(data)
                    continue
                dec.feed_eof()
                if dec.buffered == 0:
                    append_at = dec.offset
                continue
            for ev in out:
                if type(ev) is Message:
                    _track(streams, ev)
                elif isinstance(ev, Beacon):
                    beacons.append(ev)
                elif isinstance(ev, FileHeader):
                    header = ev
                elif isinstance(ev, EndOfStream):
                    append_at = ev.message.offset  # overwritten
    assert header is not None and append_at is not None
    markers = sum(len(b.markers) for b in beacons if b.offset < append_at)
    return header, append_at, streams, markers


def _complete_messages(header: FileHeader | None, start: int, data: bytes) -> int:
    """Messages (EOS excluded) that end within ``data``, the bytes written from ``start`` (a
    record boundary) in a write that then failed; 0 if that cannot be told."""
    if header is None or not data:
        return 0
    dec = Decoder(start_offset=start, header=header) if start else Decoder()
    out: list[object] = []
    try:
        dec.feed(bytes(data))
        dec.read_events(out)
    except FormatError:  # the torn record at the end (or anything unexpected): stop there
        pass
    return sum(1 for ev in out if type(ev) is Message)


def _messages(enc: Encoder) -> int:
    """Messages the encoder has written (the appended-to file's included), EOS excluded."""
    return sum(st.count for (key, _), st in enc.streams.items() if key != K.INTERNAL_KEY)


def _track(streams: dict[tuple[str, int], StreamState], msg: Message) -> None:
    key = (msg.stream_key, msg.shard_id)
    st = streams.get(key)
    if st is None:
        st = streams[key] = StreamState(msg.sequence, msg.timestamp_ms)
    st.sequence = max(st.sequence, msg.sequence)
    st.timestamp_ms = max(st.timestamp_ms, msg.timestamp_ms)
    st.running = running_update(st.running, crc16_bytes(msg.payload))
    st.count += 1


def _done_with(enc: Encoder, view: memoryview, written: int) -> None:
    """Release ``view`` (the encoder's output) and drop the ``written`` bytes from it.  (A piece
    of it that outlives the write, say in a traceback, keeps the buffer exported: the encoder
    then moves to a new one when it must grow.)"""
    view.release()
    enc.consume(written)


class Writer:
    """Write messages to a ``.ss`` file.  Use :func:`ssfile.open` (mode ``"w"``, ``"x"``, ``"a"``).

    ``eos=True``: closing writes the end-of-stream frame (not when the ``with`` block exits
    with an exception: the file is flushed and left without EOS, like a live recording).
    ``fsync=True``: fsync on flush and close.

    A writer dropped without :meth:`close` (no ``with``, a notebook variable rebound, the end
    of the program) still hands its buffered messages to the file when it is collected, as a
    Python file object does, and leaves the file without EOS (nothing said the recording was
    complete) and unlocked, with a :class:`ResourceWarning`; if that write fails, a
    :class:`RuntimeWarning` says what the file holds (never a silent loss).

    ``path`` may also be an open file descriptor (``sys.stdout.fileno()``: ``ssfile encode
    -``): mode ``"w"`` only, written from where it is, sequentially (a pipe is fine); it is
    neither locked, truncated nor closed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | int,
        mode: str = "w",
        *,
        beacon_interval: int | None = None,
        file_name: str | None = None,
        created_at: TimeLike | None = None,
        eos: bool = True,
        fsync: bool = False,
        buffer_size: int = FLUSH_AT,
    ) -> None:
        if mode not in ("w", "x", "a"):
            raise ValueError(f"mode must be 'w', 'x' or 'a', not {mode!r}")
        self._owns = not isinstance(path, int)
        if not self._owns and mode != "w":
            raise ValueError(f"a file descriptor is written in mode 'w' only, not {mode!r}")
        self.path = f"<fd {path}>" if isinstance(path, int) else os.fspath(path)
        self.eos = eos
        self._fsync = fsync
        self._buffer_size = buffer_size
        self._closed = True  # until the file is open and its header written (see __del__)
        self._parked = False  # the descriptor is closed until the next write to the file
        self._ended = False  # the EOS frame is encoded: nothing may follow it
        self._failed: WriteFailed | None = None  # set by the first failed write or fsync
        self._synced = 0  # with fsync=True: the file offset the last fsync covered
        self._synced_messages = 0  # and the messages before it
        self._durable = 0  # messages wholly handed to the OS (a lower bound after a failure)
        if not isinstance(path, int):
            flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if mode == "x" else 0)
            platform.check_file_name(self.path)
            fd = platform.open_binary(self.path, flags, 0o644)
            try:
                platform.lock_writer(fd, self.path)
            except BaseException:
                os.close(fd)
                raise
        else:
            fd = path
        self._fd = fd
        try:
            self._enc = self._setup(mode, beacon_interval, file_name, created_at)
            self._durable = _messages(self._enc)
            self._enc.start()
            self._write_out()
            self._synced, self._synced_messages = self._enc.offset, self._durable
        except BaseException:
            if self._owns:
                platform.unlock_writer(fd)
                os.close(fd)
            raise
        self._closed = False
        self.header = self._enc.header

    def _setup(
        self,
        mode: str,
        interval: int | None,
        file_name: str | None,
        created_at: TimeLike | None,
    ) -> Encoder:
        if mode == "a" and os.fstat(self._fd).st_size > 0:
            header, offset, streams, markers = scan_for_append(self.path)
            if interval is not None and interval != header.beacon_interval:
                raise EncodeError(
                    f"{self.path} has beacon interval {header.beacon_interval}, not {interval}"
                )
            platform.truncate(self._fd, offset, self.path)
            os.lseek(self._fd, offset, os.SEEK_SET)
            return Encoder(header, offset=offset, streams=streams, markers_emitted=markers)
        name = os.path.basename(self.path) if file_name is None else file_name
        header = FileHeader(
            name,
            ms_or_now(created_at, "created_at"),
            K.DEFAULT_BEACON_INTERVAL if interval is None else interval,
        )
        encoder = Encoder(header)  # validates first: a refused open leaves the file alone
        if self._owns:
            platform.truncate(self._fd, 0, self.path)
        return encoder

    @property
    def offset(self) -> int:
        """Bytes in the file once everything written so far is flushed."""
        return self._enc.offset

    def stream_info(self, stream_key: str, shard_id: int = 0) -> tuple[int, int, int] | None:
        """(largest sequence, largest timestamp, message count) of this stream in the file
        so far (appended-to file included), or None if it has none."""
        st = self._enc.streams.get((stream_key, shard_id))
        return None if st is None else (st.sequence, st.timestamp_ms, st.count)

    def write(
        self,
        payload: bytes,
        *,
        stream_key: str,
        shard_id: int = 0,
        sequence: int | None = None,
        timestamp: TimeLike | None = None,
    ) -> int:
        """Write one message; returns its sequence number.

        ``sequence=None``: one more than the largest sequence of this (stream, shard) in the
        file (1 for a new one).  ``timestamp=None``: now.  A timestamp is anything
        :func:`ssfile.timefmt.to_ms` takes (int ms, datetime with naive = UTC,
        pandas.Timestamp, numpy.datetime64, text); it is stored with millisecond precision.
        """
        if self._closed or self._failed is not None or self._ended:
            self._refuse()
        if not isinstance(payload, bytes):
            if isinstance(payload, (bytearray, memoryview)):
                payload = bytes(payload)
            else:
                raise EncodeError(f"payload must be bytes, not {type(payload).__name__}")
        enc = self._enc
        if sequence is None:
            st = enc.streams.get((stream_key, shard_id))
            sequence = 1 if st is None else st.sequence + 1
        if type(timestamp) is int:
            ts = timestamp
        else:
            ts = ms_or_now(timestamp, "timestamp")
        enc.encode(stream_key, shard_id, sequence, ts, payload)
        if enc.pending >= self._buffer_size:
            self._write_out()
        return sequence

    def appender(self, stream_key: str, shard_id: int = 0) -> Callable[[bytes, int], int]:
        """``append(payload, timestamp_ms) -> sequence``: :meth:`write` with the default
        sequence for one (stream, shard), its arguments bound once (the streamer's file
        producer calls it per message).  Anything but ``bytes`` and an ``int`` timestamp, or a
        writer that refuses, takes :meth:`write` itself: same results, same errors."""
        enc = self._enc
        put = enc.appender(stream_key, shard_id)
        size = self._buffer_size
        write = self.write

        def append(payload: bytes, timestamp: int) -> int:
            if (
                self._closed
                or self._failed is not None
                or self._ended
                or type(payload) is not bytes
                or type(timestamp) is not int
            ):
                return write(payload, stream_key=stream_key, shard_id=shard_id, timestamp=timestamp)
            seq = put(payload, timestamp)
            if enc.pending >= size:
                self._write_out()
            return seq

        return append

    def append_batch(
        self, stream_key: str, shard_id: int, payloads: Sequence[bytes], timestamp: int
    ) -> int:
        """Append ``payloads`` to one (stream, shard), all stamped ``timestamp`` (int ms), each
        with the default sequence (as :meth:`appender` one by one: same bytes, same errors);
        returns the sequence of the first.  An error leaves the payloads before it written."""
        if self._closed or self._failed is not None or self._ended:
            self._refuse()
        if type(timestamp) is not int or any(type(p) is not bytes for p in payloads):
            seqs = [
                self.write(p, stream_key=stream_key, shard_id=shard_id, timestamp=timestamp)
                for p in payloads
            ]
            return seqs[0] if seqs else 0
        enc = self._enc
        encode = enc.encode
        size = self._buffer_size
        st = enc.streams.get((stream_key, shard_id))
        first = seq = 1 if st is None else st.sequence + 1
        for payload in payloads:  # each sequence is the largest so far: the appender's
            encode(stream_key, shard_id, seq, timestamp, payload)
            seq += 1
            if enc.pending >= size:
                self._write_out()
        return first

    def _refuse(self) -> None:
        if self._failed is not None:
            raise self._again()
        if self._closed:
            raise SSError(f"{self.path}: writer is closed")
        raise SSError(f"{self.path}: the end-of-stream frame is written; nothing may follow it")

    def _again(self) -> WriteFailed:
        assert self._failed is not None
        return self._failed.again()

    @property
    def failed(self) -> WriteFailed | None:
        """The failure that stopped this writer, or None."""
        return self._failed

    def _fail(self, err: OSError, offset: int, messages: int, action: str) -> WriteFailed:
        self._failed = WriteFailed(self.path, err, offset, messages, action=action)
        return self._failed

    def _write_out(self) -> None:
        """Hand the encoder's output to the OS.  Written bytes leave the output as they go, so
        nothing is ever skipped: after an exception the rest is still there (and, after an
        OSError, the writer refuses to go on, see WriteFailed)."""
        if self._failed is not None:
            raise self._again()
        enc = self._enc
        if not enc.pending:
            return
        start = enc.offset - enc.pending
        if self._parked:
            self._unpark(start)
        fd = self._fd
        view = enc.view()  # no copy; released before the encoder's arena changes again
        held = True
        total = len(view)
        done = 0
        try:
            while done < total:
                n = os.write(fd, view[done:])
                if n <= 0:  # never for a regular file; do not loop forever
                    raise OSError(errno.EIO, "write() wrote nothing")
                done += n
        except OSError as err:
            written = bytes(view[:done])
            held = False
            _done_with(enc, view, done)
            durable = self._durable + _complete_messages(enc.header, start, written)
            raise self._fail(err, start + done, durable, "write") from err
        finally:
            if held:  # what the OS has leaves; the rest stays (Ctrl-C: next flush)
                _done_with(enc, view, done)
        self._durable = _messages(enc)

    def flush(self) -> None:
        """Hand everything written so far to the OS (and fsync if asked).
        Raises :class:`~ssfile.errors.WriteFailed` if that failed now or before."""
        self._write_out()
        if self._fsync and not self._parked:  # parked: nothing was written since its fsync
            self._sync()

    def park(self) -> None:
        """Flush (see :meth:`flush`), then close the file descriptor and release the lock,
        keeping everything the writer knows: the next write that reaches the file reopens it
        and goes on at its end, so the file gets the same bytes as if it had stayed open.

        For a process that holds more writers than it may have open files (``split
        --by-stream``: one output per stream).  While parked, nothing stops another writer
        from opening the file: park only a file no one else writes (a temporary file)."""
        if self._closed or self._parked:
            return  # a parked writer's later writes stay buffered until its buffer fills
        if not self._owns:
            raise ValueError("a writer of a file descriptor cannot park it")
        self.flush()
        self._parked = True
        platform.unlock_writer(self._fd)
        os.close(self._fd)

    def _unpark(self, offset: int) -> None:
        """Reopen the parked file where the writer stopped (``offset``, its size then)."""
        try:
            fd = platform.open_binary(self.path, os.O_RDWR)
        except OSError as err:
            raise self._fail(err, offset, self._durable, "reopen") from err
        try:
            platform.lock_writer(fd, self.path)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._parked = False

    def _sync(self) -> None:
        try:
            platform.fsync(self._fd)
        except OSError as err:
            # after a failed fsync the kernel may have dropped the dirty pages: only what an
            # earlier fsync covered is known to be on disk, and retrying cannot tell
            raise self._fail(err, self._synced, self._synced_messages, "fsync") from err
        self._synced = self._enc.offset
        self._synced_messages = self._durable

    def close(self, *, eos: bool | None = None) -> None:
        """Write the EOS frame (unless ``eos=False`` or the writer says so), flush, close.

        Always releases the file; raises :class:`~ssfile.errors.WriteFailed` if the writer
        failed (now or before): its data did not all reach the file."""
        if self._closed:
            return
        try:
            if self._failed is None:
                if (self.eos if eos is None else eos) and not self._ended:
                    self.write_eos()
                self.flush()
        finally:
            self._closed = True
            if self._owns and not self._parked:
                platform.unlock_writer(self._fd)
                os.close(self._fd)
        if self._failed is not None:
            raise self._again()

    def write_eos(self, *, timestamp: TimeLike | None = None) -> None:
        """Write the end-of-stream frame now (``timestamp``: default now).  Nothing may be
        written after it; :meth:`close` then writes no second one.  This is the only way to
        write the reserved key ``SEA_STREAMER_INTERNAL`` (spec 2.3)."""
        if self._closed or self._failed is not None or self._ended:
            self._refuse()
        self._enc.end_of_stream(ms_or_now(timestamp, "timestamp"))
        self._ended = True

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close(eos=False)
        except WriteFailed as err:
            # never hide the exception that ended the block: the failure to close rides on it
            if not (isinstance(exc, WriteFailed) and exc.path == err.path):
                exc.add_note(f"and then: {err}")

    def __del__(self) -> None:
        # see the class docstring: a dropped writer's messages still reach the file
        if getattr(self, "_closed", True):
            return  # closed, or __init__ did not get as far as opening the file
        told = self._failed is not None  # the failure was raised to the caller already
        try:
            self.close(eos=False)
        except WriteFailed as err:
            if not told:
                warnings.warn(
                    f"{err} (the writer was dropped without close())",
                    RuntimeWarning,
                    stacklevel=1,
                )
        else:
            warnings.warn(
                f"unclosed ssfile.Writer {self.path!r}: its messages were written out when it "
                "was collected, without an end-of-stream frame; use `with` or close()",
                ResourceWarning,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        return f"<ssfile.Writer {self.path!r} interval={self._enc.interval}>"
