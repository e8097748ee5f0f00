"""Inputs and outputs shared by the surgery operations.

Inputs are :class:`~ssfile.file.reader.Reader` objects with the caller's ``on_damage``; with
``"skip"`` a torn tail is forgiven too, and reported like a skipped range, so that nothing
read or left out goes unsaid (spec/ss-format.md 7.5).

Outputs are :class:`Output`: a :class:`~ssfile.file.output.NewFile` (a temporary name beside
the target, renamed into place by :meth:`Output.commit`; never one of the inputs) holding a
:class:`~ssfile.file.writer.Writer` that keeps each message's key, shard, sequence, timestamp
and payload.  Every output ends with an EOS frame stamped with the largest timestamp written
(the header's ``created_at`` when empty), so the same inputs always give the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator

from ...errors import DamageWarning, EncodeError, check_on_damage
from ...types import Message
from ..output import Endpoint, NewFile, named
from ..reader import Reader
from ..writer import FLUSH_AT, Writer
from .summary import Damage, Summary

PathLike = str | os.PathLike[str]

#: Writer buffer for an output that stays open beside many others (split --by-stream)
SMALL_BUFFER = 64 * 1024


def open_input(path: PathLike, on_damage: str) -> Reader:
    """A reader for ``path``; with ``on_damage="skip"`` a torn tail does not raise either
    (:func:`note_damage` reports it)."""
    skip = check_on_damage(on_damage) == "skip"
    return Reader(path, on_damage=on_damage, tolerate_truncation=skip)


def note_damage(reader: Reader, summary: Summary) -> None:
    """Record what ``reader`` skipped (damaged ranges, a torn tail) in ``summary``."""
    path = reader.path or "<input>"
    for (offset, length), err in zip(reader.damage, reader.damage_errors):
        summary.damage.append(Damage(path, offset, length, err.reason))
    if reader.torn_tail is not None:
        end = os.path.getsize(path) if reader.path else reader.torn_tail
        length = max(end - reader.torn_tail, 0)
        reason = "torn tail (the file ends inside a record)"
        summary.damage.append(Damage(path, reader.torn_tail, length, reason))
        warnings.warn(DamageWarning([(reader.torn_tail, length)], [reason], path), stacklevel=3)


def _ts(m: Message) -> int:
    return m.timestamp_ms


@contextlib.contextmanager
def producing(outputs: list[Output]) -> Iterator[None]:
    """Discard every output if the block fails; an OSError about a temporary file (a full
    disk) is told of its target, which is unchanged."""
    try:
        yield
    except BaseException as exc:
        for out in outputs:
            out.discard()
        for out in outputs:
            told = out.file.as_target_error(exc)
            if told is not exc:
                raise told from None
        raise


class Output:
    """One new ``.ss`` file for ``target``, written under a temporary name.

    ``inputs``: the files it must not be (same device and inode, through links too).
    """

    def __init__(
        self,
        target: PathLike,
        *,
        inputs: Iterable[Endpoint],
        beacon_interval: int,
        created_at: int,
        file_name: str | None = None,
        buffer_size: int | None = None,
    ) -> None:
        self.target = os.fspath(target)
        self.file = NewFile(self.target, inputs=inputs)
        self.messages = 0
        self.last_ts: int | None = None
        self.created_at = created_at
        self.closed = False
        try:
            with named(self.target):
                self.writer = Writer(
                    self.file.path,
                    "w",
                    beacon_interval=beacon_interval,
                    file_name=os.path.basename(self.target) if file_name is None else file_name,
                    created_at=created_at,
                    eos=False,
                    buffer_size=FLUSH_AT if buffer_size is None else buffer_size,
                )
        except BaseException as err:  # e.g. the header, on a full disk
            self.file.discard()
            told = self.file.as_target_error(err)
            if told is not err:
                raise told from None
            raise

    @property
    def offset(self) -> int:
        """Bytes in the file so far (the EOS not included)."""
        return self.writer.offset

    def write(self, m: Message, source: str | None = None, *, sequence: int | None = None) -> None:
        """Copy ``m`` (with another ``sequence`` if given: merge's renumbering)."""
        ts = m.timestamp_ms
        try:
            self.writer.write(
                m.payload,
                stream_key=m.stream_key,
                shard_id=m.shard_id,
                sequence=m.sequence if sequence is None else sequence,
                timestamp=ts,
            )
        except EncodeError as err:
            raise self._unwritable(m, source, err) from None
        self.messages += 1
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def write_all(self, msgs: list[Message], source: str | None = None) -> None:
        """Copy every message of ``msgs`` as it is."""
        if not msgs:
            return
        write = self.writer.write
        m = msgs[0]
        try:
            for m in msgs:
                write(
                    m.payload,
                    stream_key=m.stream_key,
                    shard_id=m.shard_id,
                    sequence=m.sequence,
                    timestamp=m.timestamp_ms,
                )
        except EncodeError as err:
            raise self._unwritable(m, source, err) from None
        self.messages += len(msgs)
        top = max(msgs, key=_ts).timestamp_ms
        if self.last_ts is None or top > self.last_ts:
            self.last_ts = top

    def _unwritable(self, m: Message, source: str | None, err: EncodeError) -> EncodeError:
        where = f"{source}: " if source else ""
        at = f" at offset {m.offset}" if m.offset is not None else ""
        return EncodeError(
            f"{where}the message{at} (stream {m.stream_key!r} shard {m.shard_id} "
            f"sequence {m.sequence}) cannot be written to {self.target}: {err}"
        )

    def close(self) -> None:
        """Write the EOS frame and close the writer (the file is not in place yet)."""
        if self.closed:
            return
        self.closed = True
        with named(self.target):
            eos_ts = self.created_at if self.last_ts is None else self.last_ts
            try:
                self.writer.write_eos(timestamp=eos_ts)
            finally:
                self.writer.close()

    def park(self) -> None:
        """Close the file descriptor until the next write reaches the file (the writer keeps
        its state: see :meth:`~ssfile.file.writer.Writer.park`)."""
        with named(self.target):
            self.writer.park()

    def commit(self) -> None:
        """Close (if not yet) and rename the file into place."""
        self.close()
        self.file.commit()

    def discard(self) -> None:
        """Drop the temporary file: the target stays as it was."""
        try:
            if not self.closed:
                self.closed = True
                self.writer.close(eos=False)
        except OSError:
            pass  # the writer failed before: the file goes away anyway
        finally:
            self.file.discard()


__all__ = ["Output", "SMALL_BUFFER", "note_damage", "open_input", "producing"]
