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
* Resumable consumers commit the position of the last message delivered to the group into
  ``<file>.offsets.sqlite`` beside the file and resume after it on restart.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections import deque
from collections.abc import Sequence

from ..errors import SSError, StreamError, check_on_damage
from ..file.writer import Writer, now_ms
from ..format.records import check_stream_key
from ..types import Message
from .api import Consumer, Producer, Receipt, StreamEnded, Streamer
from .file_tail import FileTail
from .groups import choose
from .options import ConsumerMode, ConsumerOptions, consumer_request

FLUSH_EVERY = 0.01
_writers: dict[str, _SharedWriter] = {}


class _SharedWriter:
    def __init__(self, path: str, beacon_interval: int | None) -> None:
        self.writer = Writer(path, "a", beacon_interval=beacon_interval)
        self.users = 0
        self.ended = False
        self._task: asyncio.Task[None] | None = None

    def ensure_flusher(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while not self.ended:
            await asyncio.sleep(FLUSH_EVERY)
            if not self.ended and self.writer._enc.pending:
                self.writer.flush()

    def close(self, eos: bool) -> None:
        if not self.ended:
            self.ended = True
            self.writer.close(eos=eos)
            if self._task is not None:
                self._task.cancel()


class FileProducer(Producer):
    def __init__(self, shared: _SharedWriter, stream_key: str, shard_id: int) -> None:
        self._shared = shared
        self.stream_key = stream_key
        self.shard_id = shard_id

    keeps = frozenset({"timestamp", "sequence"})

    def send(
        self, payload: bytes, *, timestamp: int | None = None, sequence: int | None = None
    ) -> Receipt:
        """``timestamp`` (ms, default now) and ``sequence`` (default: the next one) may be
        chosen, e.g. to record another backend's messages with their own headers."""
        shared = self._shared
        if shared.ended:
            raise StreamError("producer ended: the file's writer was ended")
        ts = now_ms() if timestamp is None else timestamp
        seq = shared.writer.write(
            payload,
            stream_key=self.stream_key,
            shard_id=self.shard_id,
            timestamp=ts,
            sequence=sequence,
        )
        return Receipt(fields=(self.stream_key, self.shard_id, seq, ts, payload))

    def last_sequence(self) -> int | None:
        info = self._shared.writer.stream_info(self.stream_key, self.shard_id)
        return None if info is None else info[0]

    async def flush(self) -> None:
        if not self._shared.ended:
            self._shared.writer.flush()

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
        return m.stream_key in self.keys and (self.shards is None or m.shard_id in self.shards)

    async def pump(self) -> bool:
        """Read one batch and hand it out; False when the stream has ended."""
        async with self._lock:
            batch = await self.tail.read_batch()
            if not batch and self.tail.ended:
                return False
            members = self.members
            for m in batch:
                if self.wanted(m):
                    target = members[0] if len(members) == 1 else choose(members, m.sequence)
                    target.queue.append(m)
            return True

    def leave(self, consumer: FileConsumer) -> None:
        self.members.remove(consumer)
        for m in consumer.queue:
            if self.members:
                choose(self.members, m.sequence).queue.append(m)
        consumer.queue.clear()
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

    async def next_batch(self, max_messages: int = 1000) -> list[Message]:
        while not self.queue:
            if self not in self._d.members:
                raise StreamEnded("this consumer has left its group")
            if not await self._d.pump():
                if not self.queue:
                    raise StreamEnded("the stream has ended")
        q = self.queue
        n = min(max_messages, len(q))
        out = [q.popleft() for _ in range(n)]
        self.last = out[-1]
        if self.options.mode is ConsumerMode.RESUMABLE and self.options.auto_commit:
            self._streamer._commit(self.options.group, self.last)  # type: ignore[arg-type]
        return out

    async def next(self) -> Message:
        return (await self.next_batch(1))[0]

    async def commit(self) -> None:
        if self.options.mode is not ConsumerMode.RESUMABLE:
            raise StreamError("you cannot commit on a non-resumable consumer")
        if self.last is not None:
            self._streamer._commit(self.options.group, self.last)  # type: ignore[arg-type]

    async def seek(self, timestamp: object) -> None:
        """Continue at the first message of this consumer's keys with timestamp >= ``timestamp``
        (bisection over the beacons, then a short scan)."""
        from ..file.writer import to_ms

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
        if self in self._d.members:
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

    async def create_producer(self, stream_key: str, *, shard_id: int = 0) -> Producer:
        check_stream_key(stream_key, allow_empty=False)
        key = os.path.realpath(self.path)
        shared = _writers.get(key)
        if shared is None or shared.ended:
            shared = _writers[key] = _SharedWriter(self.path, self._beacon_interval)
        shared.users += 1
        shared.ensure_flusher()
        p = FileProducer(shared, stream_key, shard_id)
        self._producers.append(p)
        return p

    async def create_consumer(
        self, stream_keys: Sequence[str], options: ConsumerOptions | None = None
    ) -> Consumer:
        keys, options = consumer_request(stream_keys, options)
        group = options.group
        d = self._groups.get((group, keys)) if group else None  # type: ignore[arg-type]
        if d is None or not d.members:
            tail = FileTail(self.path, follow=options.follow, on_damage=self._on_damage)
            start: str | tuple[int, bool] = options.auto_stream_reset
            if options.mode is ConsumerMode.RESUMABLE:
                committed = self._committed(group)  # type: ignore[arg-type]
                if committed is not None:
                    start = (committed, True)
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
                "offset INTEGER NOT NULL, sequence INTEGER, stream_key TEXT)"
            )
        return self._db

    def _commit(self, group: str, last: Message) -> None:
        db = self._connect_db()
        db.execute(
            "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?)",
            (group, last.offset, last.sequence, last.stream_key),
        )
        db.commit()

    def _committed(self, group: str) -> int | None:
        row = (
            self._connect_db()
            .execute("SELECT offset FROM positions WHERE grp = ?", (group,))
            .fetchone()
        )
        return None if row is None else int(row[0])

    async def disconnect(self) -> None:
        for c in self._consumers:
            await c.close()
        for p in self._producers:
            shared = p._shared
            shared.users -= 1
            if shared.users <= 0:
                shared.close(eos=False)
        self._producers.clear()
        self._consumers.clear()
        if self._db is not None:
            self._db.close()
            self._db = None


def connect_file(path: str, **options: object) -> FileStreamer:
    if not path:
        raise SSError("file:// needs a path")
    return FileStreamer(path, **options)  # type: ignore[arg-type]
