"""The ``file://`` backend: producers and consumers over one ``.ss`` file.

Rules (spec/streamer.md):
* All producers of one file in a process share one writer (append mode: sequences continue
  after what the file holds).  The writer holds an exclusive ``flock``: a producer in a
  second process fails with a clear error instead of corrupting the file.  Sent messages
  reach the file within ~10 ms (a background flush) or at ``flush()``.
* ``Producer.end()`` writes the end-of-stream frame and closes the shared writer; consumers
  of the file then stop after it.
* Consumers follow the live file (``follow=False`` stops at its end).  Shard filter via
  ``ConsumerOptions.shards``.
* Groups (LoadBalanced, Resumable) are per process: the members of a group share one
  reader; a message goes to ``members[sequence mod n]`` at dispatch time; a member that
  leaves hands its undelivered messages back to the others (nothing lost or duplicated).
* Resumable consumers are at-least-once: a batch counts as processed when the application asks
  for the next one (or calls ``commit()``); the group's position (the
  earliest message not yet processed, else just after the last one delivered) is then stored
  in ``<file>.offsets.sqlite`` beside the file, and a restart resumes there.  A crash repeats
  at most the unacknowledged batches, never skips a message; ``close()`` acknowledges nothing
  (a member's last batch goes back to the other members of its group).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import warnings
from collections import deque
from collections.abc import Sequence
from time import time_ns

from ..errors import EncodeError, SSError, StreamError, WriteFailed, check_on_damage
from ..file.writer import Writer
from ..format import constants as K
from ..format.records import check_producer_key
from ..types import Message
from .api import BatchReceipt, Consumer, Producer, Receipt, StreamEnded, Streamer
from .file_tail import FileTail
from .flow import Window, at_exit, loop_running
from .groups import choose
from .options import ConsumerMode, ConsumerOptions, ProducerOptions, consumer_request

FLUSH_EVERY = 0.01
_writers: dict[str, _SharedWriter] = {}


class _SharedWriter:
    """One writer per file and process, a background flusher, and the receipts waiting for it.

    The messages sent since the last flush share one future (``waiting``); it resolves when a
    flush has handed them all to the OS.  A failed write (disk full...) stops the writer
    (:class:`~ssfile.errors.WriteFailed`): the waiting receipts fail with that error, and so
    does every later ``send``/``flush``/``end``.  The flusher never dies with an exception."""

    def __init__(self, path: str, beacon_interval: int | None) -> None:
        self.writer = Writer(path, "a", beacon_interval=beacon_interval)
        self.users = 0
        self.ended = False
        self.waiting: asyncio.Future[None] | None = None
        self.windows: list[Window] = []  # of its producers: settled together
        self._task: asyncio.Task[None] | None = None

    def ensure_flusher(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while not self.ended and self.writer.failed is None:
            await asyncio.sleep(FLUSH_EVERY)
            if not self.ended and self.waiting is not None:
                try:
                    self.flush()
                except WriteFailed:
                    return  # the receipts have the error; send/flush raise it from now on

    def flush(self) -> None:
        """Hand everything sent to the OS and resolve the waiting receipts (or fail them)."""
        try:
            self.writer.flush()
        except WriteFailed as err:
            self._settle(err)
            raise
        self._settle(None)

    def _settle(self, err: WriteFailed | None) -> None:
        for w in self.windows:
            if w.messages:
                w.give(w.messages, w.bytes, 0 if err is None else w.messages)
        fut, self.waiting = self.waiting, None
        if fut is None or fut.done():
            return
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err)
            fut.exception()  # the receipts raise it when asked; no "never retrieved" log

    def close(self, eos: bool) -> None:
        if self.ended:
            return
        self.ended = True
        if self._task is not None:
            self._task.cancel()
        try:
            self.writer.close(eos=eos)
        except WriteFailed as err:
            self._settle(err)
            raise
        self._settle(None)


def _flush_at_exit() -> None:
    """Hand to the OS what file producers were given when the program ends without
    ``flush()``/``disconnect()`` (an event loop that ended, as a Python file is flushed at
    exit); no EOS.  A writer whose loop still runs (the sync facade's thread) is left to
    its owner, which disconnects at exit (sync.py): two threads never write one file."""
    for shared in list(_writers.values()):
        if shared.ended or loop_running(shared._task):
            continue
        try:
            shared.writer.flush()
        except WriteFailed as err:
            warnings.warn(
                f"ssfile: at exit, a file producer's messages could not be written: {err}",
                RuntimeWarning,
                stacklevel=1,
            )


at_exit(_flush_at_exit)


class _FileReceipt(Receipt):
    """A receipt of the file backend: the batch's future and the header known at send time
    (positional arguments: this runs once per message)."""

    __slots__ = ()

    def __init__(self, future: asyncio.Future[None], fields: tuple[str, int, int, int, bytes]):
        self._value = None
        self._future = future
        self._fields = fields


class FileProducer(Producer):
    """Its bound (``ProducerOptions``) holds as for every backend, but a file acknowledges a
    message by handing it to the OS, which ``send`` does itself at the bound (a local write,
    as when the writer's buffer fills): a file producer never raises BufferFull."""

    def __init__(
        self, shared: _SharedWriter, stream_key: str, shard_id: int, window: Window
    ) -> None:
        self._shared = shared
        self.stream_key = stream_key
        self.shard_id = shard_id
        self.window = window
        shared.windows.append(window)
        self._append = shared.writer.appender(stream_key, shard_id)

    keeps = frozenset({"timestamp", "sequence"})

    def send(
        self, payload: bytes, *, timestamp: int | None = None, sequence: int | None = None
    ) -> Receipt:
        """``timestamp`` (ms, default now) and ``sequence`` (default: the next one) may be
        chosen, e.g. to record another backend's messages with their own headers.  The
        receipt resolves once the message is handed to the OS (within ~10 ms)."""
        # the per-message path: Window.take inlined, the writer's bound appender, one future
        # shared by every receipt until the next flush (see _SharedWriter)
        shared = self._shared
        if shared.ended:
            raise StreamError("producer ended: the file's writer was ended")
        ts = time_ns() // 1_000_000 if timestamp is None else timestamp
        w = self.window
        n = len(payload)
        if w.messages and (w.messages >= w.max_messages or w.bytes + n > w.max_bytes):
            shared.flush()  # at the bound: acknowledges (or fails) everything held
            w.take(n)
        else:
            w.messages += 1
            w.bytes += n
        try:
            if sequence is None:
                seq = self._append(payload, ts)
            else:
                seq = shared.writer.write(
                    payload,
                    stream_key=self.stream_key,
                    shard_id=self.shard_id,
                    timestamp=ts,
                    sequence=sequence,
                )
        except WriteFailed as err:  # a full buffer was written out, and that failed
            shared._settle(err)  # the window is emptied with the failed receipts
            raise
        except BaseException:  # refused (bad key, payload...): never held
            w.give(1, n)
            raise
        fut = shared.waiting
        if fut is None:
            fut = shared.waiting = asyncio.get_running_loop().create_future()
        return _FileReceipt(fut, (self.stream_key, self.shard_id, seq, ts, payload))

    def send_batch(
        self, payloads: Sequence[bytes], *, timestamp: int | None = None
    ) -> BatchReceipt:
        """Send every payload (one timestamp for all: ``timestamp``, default now; sequences
        one after another), as ``send`` one by one would write them: the same bytes.  The
        receipt resolves once all are handed to the OS.  A payload that is not bytes, or is
        too large, raises EncodeError before anything is taken.  A write that fails during the
        call (the writer's buffer filled) raises WriteFailed: the batch has no receipt and is
        not counted in ``window.failed`` (some of it may be in the file, as after a failed
        ``send``); the receipts waiting fail with it."""
        shared = self._shared
        if shared.ended:
            raise StreamError("producer ended: the file's writer was ended")
        self._raise_failure()  # nothing taken
        payloads = list(payloads)
        if any(type(p) is not bytes for p in payloads):
            raise EncodeError("send_batch: every payload must be bytes")
        n = len(payloads)
        if not n:
            return BatchReceipt(0)
        nbytes = sum(map(len, payloads))
        if max(map(len, payloads)) > K.MAX_PAYLOAD:
            raise EncodeError(f"send_batch: a payload exceeds {K.MAX_PAYLOAD} bytes")
        ts = time_ns() // 1_000_000 if timestamp is None else timestamp
        w = self.window
        if not w.fits(n, nbytes):
            shared.flush()  # at the bound: acknowledges (or fails) everything held
        w.take_batch(n, nbytes)
        try:
            shared.writer.append_batch(self.stream_key, self.shard_id, payloads, ts)
        except WriteFailed as err:  # a full buffer was written out, and that failed
            w.give(n, nbytes)  # the batch raised (no receipt): not counted as failed
            shared._settle(err)  # the window is emptied with the failed receipts
            raise
        except BaseException:  # refused: not held (what was encoded goes with the next flush)
            w.give(n, nbytes)
            raise
        fut = shared.waiting
        if fut is None:
            fut = shared.waiting = asyncio.get_running_loop().create_future()
        return BatchReceipt(n, futures=(fut,))

    def last_sequence(self) -> int | None:
        info = self._shared.writer.stream_info(self.stream_key, self.shard_id)
        return None if info is None else info[0]

    async def flush(self) -> None:
        if not self._shared.ended:
            self._shared.flush()
        elif self._shared.writer.failed is not None:
            raise self._shared.writer.failed.again()

    def _raise_failure(self) -> None:
        if self._shared.writer.failed is not None:
            raise self._shared.writer.failed.again()

    async def end(self) -> None:
        self._shared.close(eos=True)


class _Dispatcher:
    """One reader feeding one consumer, or the members of one group."""

    def __init__(
        self, tail: FileTail, keys: tuple[str, ...], shards: tuple[int, ...] | None
    ) -> None:
        self.tail = tail
        self.keys = set(keys)
        self.shards = None if shards is None else set(shards)
        self.members: list[FileConsumer] = []
        self._lock = asyncio.Lock()

    def wanted(self, m: Message) -> bool:
        """A message of one of the keys (every key when there are none: create_consumer_all)."""
        return (not self.keys or m.stream_key in self.keys) and (
            self.shards is None or m.shard_id in self.shards
        )

    async def pump(self) -> bool:
        """Read one batch and hand it out; False when the stream has ended."""
        async with self._lock:
            batch = await self.tail.read_batch()
            if not batch and self.tail.ended:
                return False
            members = self.members
            if self.keys or self.shards is not None:
                wanted = self.wanted
                batch = [m for m in batch if wanted(m)]
            if len(members) == 1:
                members[0].queue.extend(batch)
            else:
                for m in batch:
                    choose(members, m.sequence).queue.append(m)
            return True

    def leave(self, consumer: FileConsumer) -> None:
        """Hand what ``consumer`` got and did not acknowledge (its last batch, if Resumable)
        and what it was not given yet to the other members, in file order."""
        self.members.remove(consumer)
        back = consumer.unacked
        for m in [*back, *consumer.queue]:
            if self.members:
                choose(self.members, m.sequence).queue.append(m)
        if back and self.members:
            for c in self.members:
                c.queue = deque(sorted(c.queue, key=lambda m: m.offset or 0))
        consumer.queue.clear()
        consumer.unacked = []
        if not self.members:
            self.tail.close()


class FileConsumer(Consumer):
    def __init__(
        self,
        streamer: FileStreamer,
        dispatcher: _Dispatcher,
        keys: tuple[str, ...],
        options: ConsumerOptions,
    ) -> None:
        self._streamer = streamer
        self._d = dispatcher
        self.stream_keys = keys
        self.options = options
        self.queue: deque[Message] = deque()
        self.last: Message | None = None
        #: Resumable: the batch the application has and has not yet acknowledged (by asking
        #: for the next batch, or commit())
        self.unacked: list[Message] = []

    def outstanding(self) -> Message | None:
        """The earliest message this consumer got but the application has not acknowledged."""
        if self.unacked:
            return self.unacked[0]
        return self.queue[0] if self.queue else None

    async def next_batch(self, max_messages: int = 1000) -> list[Message]:
        if self.unacked:  # asking for more acknowledges the previous batch
            self.unacked = []
            if self.options.auto_commit:
                self._streamer._commit(self.options.group, self._d)  # type: ignore[arg-type]
        while not self.queue:
            if self not in self._d.members:
                raise StreamEnded("this consumer has left its group")
            if not await self._d.pump():
                if not self.queue:
                    raise StreamEnded("the stream has ended")
        q = self.queue
        if len(q) <= max_messages:
            out = list(q)
            q.clear()
        else:
            out = [q.popleft() for _ in range(max_messages)]
        self.last = out[-1]
        if self.options.mode is ConsumerMode.RESUMABLE:
            self.unacked = out  # committed only once the application asks for more
        return out

    async def next(self) -> Message:
        return (await self.next_batch(1))[0]

    async def commit(self) -> None:
        """Acknowledge every message delivered so far and store the group's position."""
        if self.options.mode is not ConsumerMode.RESUMABLE:
            raise StreamError("you cannot commit on a non-resumable consumer")
        self.unacked = []
        self._streamer._commit(self.options.group, self._d)  # type: ignore[arg-type]

    async def seek(self, timestamp: object) -> None:
        """Continue at the first message of this consumer's keys with timestamp >= ``timestamp``
        (bisection over the beacons, then a short scan)."""
        from ..timefmt import to_ms

        ms = to_ms(timestamp)  # type: ignore[arg-type]
        await self._reposition(lambda r: r.seek_time(ms), lambda m: m.timestamp_ms >= ms)

    async def rewind(self, position: object) -> None:
        """``"beginning"``, ``"end"``, or sequence N: the first message of the consumer's first
        key (and first selected shard, else shard 0) with sequence >= N, as upstream."""
        if position == "beginning":
            await self._reposition(None, lambda m: True)
        elif position == "end":
            self._solo()
            self.queue.clear()
            tail = self._d.tail
            tail.close()
            await tail.start("latest")
        elif isinstance(position, int) and not isinstance(position, bool):
            if not self.stream_keys:
                raise StreamError("rewind to a sequence needs a stream key (this consumer has all)")
            key = self.stream_keys[0]
            shard = self.options.shards[0] if self.options.shards else 0
            await self._reposition(
                lambda r: r.seek_sequence(key, shard, position),
                lambda m: m.stream_key == key and m.shard_id == shard and m.sequence >= position,
            )
        else:
            raise StreamError(
                f"rewind to 'beginning', 'end' or a sequence number, not {position!r}"
            )

    def _solo(self) -> None:
        if len(self._d.members) > 1:
            raise StreamError(
                "seek and rewind move a whole consumer group's reader; "
                "only a consumer alone on its reader can seek"
            )

    async def _reposition(self, locate, accept) -> None:  # type: ignore[no-untyped-def]
        """Find a start offset with a bounded reader (``locate`` seeks it), restart the tail
        there and drop messages until the first one ``accept`` takes."""
        self._solo()
        self.queue.clear()
        self.unacked = []
        tail = self._d.tail
        start: str | tuple[int, bool] = "earliest"
        if locate is not None:
            from ..file.reader import Reader

            with Reader(tail.path, tolerate_truncation=True, on_damage=tail.on_damage) as r:
                found = await asyncio.to_thread(locate, r)
            if found is None:
                start = "latest"  # nothing there yet: wait for new messages
            else:
                start = (found.offset, False)
        tail.close()
        await tail.start(start)
        while True:
            batch = await tail.read_batch(wait=False)
            if not batch:
                return
            for i, m in enumerate(batch):
                if self._d.wanted(m) and accept(m):
                    self.queue.extend(x for x in batch[i:] if self._d.wanted(x))
                    return

    async def close(self) -> None:
        if self in self._d.members:  # an unacknowledged batch goes back to the group
            self._d.leave(self)


class FileStreamer(Streamer):
    def __init__(
        self, path: str, *, beacon_interval: int | None = None, on_damage: str = "raise"
    ) -> None:
        self.path = path
        self._on_damage = check_on_damage(on_damage)  # consumers: spec/ss-format.md 7.5
        self._beacon_interval = beacon_interval
        self._groups: dict[tuple[str, tuple[str, ...]], _Dispatcher] = {}
        self._producers: list[FileProducer] = []
        self._consumers: list[FileConsumer] = []
        self._db: sqlite3.Connection | None = None

    async def create_producer(
        self, stream_key: str, *, shard_id: int = 0, options: ProducerOptions | None = None
    ) -> Producer:
        check_producer_key(stream_key)
        window = Window(options, f"file producer of {stream_key!r}")
        window.kept = True  # in the writer: written out at exit at the latest (_flush_at_exit)
        key = os.path.realpath(self.path)
        shared = _writers.get(key)
        if shared is None or shared.ended:
            shared = _writers[key] = _SharedWriter(self.path, self._beacon_interval)
        shared.users += 1
        shared.ensure_flusher()
        p = FileProducer(shared, stream_key, shard_id, window)
        self._producers.append(p)
        return p

    async def create_consumer(
        self, stream_keys: Sequence[str], options: ConsumerOptions | None = None
    ) -> Consumer:
        keys, options = consumer_request(stream_keys, options)
        return await self._consumer(keys, options)

    async def create_consumer_all(self, options: ConsumerOptions | None = None) -> Consumer:
        """A consumer of every stream of the file, whatever its key (``relay --input
        file:///x.ss`` with no key): only a file can list every key it holds.  It can
        ``seek``, not ``rewind`` to a sequence (that needs one stream)."""
        options = (options or ConsumerOptions()).check()
        return await self._consumer((), options)

    async def _consumer(self, keys: tuple[str, ...], options: ConsumerOptions) -> Consumer:
        group = options.group
        d = self._groups.get((group, keys)) if group else None
        if d is None or not d.members:
            tail = FileTail(self.path, follow=options.follow, on_damage=self._on_damage)
            start: str | tuple[int, bool] = options.auto_stream_reset
            if options.mode is ConsumerMode.RESUMABLE:
                committed = self._committed(group)  # type: ignore[arg-type]
                if committed is not None:
                    start = committed
            await tail.start(start)
            d = _Dispatcher(tail, keys, options.shards)
            if group:
                self._groups[(group, keys)] = d
        c = FileConsumer(self, d, keys, options)
        d.members.append(c)
        self._consumers.append(c)
        return c

    # ---- resumable positions -------------------------------------------------------------

    def _connect_db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.path + ".offsets.sqlite")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS positions (grp TEXT PRIMARY KEY, "
                "offset INTEGER NOT NULL, sequence INTEGER, stream_key TEXT, "
                "inclusive INTEGER NOT NULL DEFAULT 0)"
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(positions)")}
            if "inclusive" not in columns:  # a position stored before issue 12: resume after
                self._db.execute(
                    "ALTER TABLE positions ADD COLUMN inclusive INTEGER NOT NULL DEFAULT 0"
                )
        return self._db

    def _commit(self, group: str, d: _Dispatcher) -> None:
        """Store where the group resumes: at the earliest message a member got and the
        application has not acknowledged (so a crash repeats it, never skips it), else just
        after the last message the members delivered."""
        pending = [m for m in (c.outstanding() for c in d.members) if m is not None]
        if pending:
            at, inclusive = min(pending, key=lambda m: m.offset or 0), 1
        else:
            lasts = [c.last for c in d.members if c.last is not None]
            if not lasts:
                return
            at, inclusive = max(lasts, key=lambda m: m.offset or 0), 0
        db = self._connect_db()
        db.execute(
            "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?)",
            (group, at.offset, at.sequence, at.stream_key, inclusive),
        )
        db.commit()

    def _committed(self, group: str) -> tuple[int, bool] | None:
        """(offset, skip the message there) to resume the group at, or None."""
        row = (
            self._connect_db()
            .execute("SELECT offset, inclusive FROM positions WHERE grp = ?", (group,))
            .fetchone()
        )
        return None if row is None else (int(row[0]), not row[1])

    async def disconnect(self) -> None:
        """Close every consumer and producer; a writer that failed (or fails now, flushing)
        raises its :class:`~ssfile.errors.WriteFailed` after everything is closed."""
        failure: WriteFailed | None = None
        for c in self._consumers:
            await c.close()
        for p in self._producers:
            shared = p._shared
            shared.users -= 1
            if shared.users <= 0:
                try:
                    shared.close(eos=False)
                except WriteFailed as err:
                    failure = failure or err
        self._producers.clear()
        self._consumers.clear()
        if self._db is not None:
            self._db.close()
            self._db = None
        if failure is not None:
            raise failure


def connect_file(path: str, **options: object) -> FileStreamer:
    if not path:
        raise SSError("file:// needs a path")
    return FileStreamer(path, **options)  # type: ignore[arg-type]
