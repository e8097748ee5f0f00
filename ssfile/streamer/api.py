"""The streamer API every backend implements (asyncio first; see sync.py for scripts).

streamer = await ssfile.connect("file:///data/rec.ss")
producer = await streamer.create_producer("clock")
receipt = producer.send(b'{"tick": 1}')      # never blocks; await it for the header
batch = producer.send_batch([b"a", b"b"])     # one receipt for many; await it for the count
await producer.drain()                        # at the bound send raises BufferFull: wait
await producer.flush(); await producer.end()
consumer = await streamer.create_consumer(["clock"], ConsumerOptions(...))
msg = await consumer.next()                   # also: async for msg in consumer
await streamer.disconnect()

Streamers, producers and consumers are async context managers:

async with await ssfile.connect(uri) as streamer:          # exit: disconnect()
    async with await streamer.create_producer("clock") as producer:   # exit: flush()
        producer.send(b"tick")
    async with await streamer.create_consumer(["clock"]) as consumer:  # exit: close()
        async for msg in consumer: ...

``connect``, ``create_producer`` and ``create_consumer`` are coroutines (a backend may
talk to its server first), so what is entered is the awaited value: ``async with await``.
(An object both awaitable and enterable, as aiohttp's ``session.get``, would let the
``await`` go, but then these would no longer be coroutines: ``asyncio.create_task`` would
refuse them and every backend's signature would change; one word is cheaper.)  A
producer's exit flushes but does not ``end()`` the stream: on a file, ``end()`` writes the
end-of-stream frame for every producer of that file, a decision to take explicitly.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from typing import Any, Self

from ..codec.accel import speedups
from ..errors import StreamError
from ..types import Message
from .flow import Window
from .options import ConsumerOptions, ProducerOptions


class Receipt:
    """What ``Producer.send`` returns: await it (or call :meth:`result`) for the message header
    (a :class:`~ssfile.types.Message` with the payload the backend stored).

    It resolves only once the backend has the message (the file backend: handed to the OS);
    if storing failed it raises that error (e.g. :class:`~ssfile.errors.WriteFailed`).
    :meth:`result` before that raises ``asyncio.InvalidStateError``."""

    __slots__ = ("_value", "_future", "_fields")

    def __init__(
        self,
        value: Message | None = None,
        future: asyncio.Future[Any] | None = None,
        *,
        fields: tuple[str, int, int, int, bytes] | None = None,
    ) -> None:
        self._value = value
        self._future = future  # with fields: resolves (to anything) once they are stored
        self._fields = fields  # a header known at send time, made a Message only if asked

    def done(self) -> bool:
        return self._future is None or self._future.done()

    def result(self) -> Message:
        if self._value is not None:
            return self._value
        if self._future is not None:
            got = self._future.result()  # raises while pending, or the failure
            if self._fields is None:
                return got  # type: ignore[no-any-return]
        assert self._fields is not None
        self._value = Message(*self._fields)
        return self._value

    def __await__(self) -> Generator[Any, None, Message]:
        if self._future is not None:
            yield from self._future.__await__()
        return self.result()


class BatchReceipt:
    """What ``Producer.send_batch`` returns: one receipt for the whole batch.  Await it (or
    call :meth:`result`) for ``count``, the number of messages stored; it resolves once every
    message of the batch is stored and raises the first failure if any could not be.
    :meth:`result` before that raises ``asyncio.InvalidStateError``.

    Holds either the futures the backend resolves (one per chunk it writes) or, in the default
    ``send_batch``, the per-message receipts."""

    __slots__ = ("count", "_futures", "_receipts")

    def __init__(
        self,
        count: int,
        futures: Sequence[asyncio.Future[Any]] = (),
        receipts: Sequence[Receipt] = (),
    ) -> None:
        self.count = count
        self._futures = futures
        self._receipts = receipts

    def done(self) -> bool:
        return all(f.done() for f in self._futures) and all(r.done() for r in self._receipts)

    def result(self) -> int:
        for f in self._futures:
            f.result()  # raises while pending, or the failure
        for r in self._receipts:
            r.result()
        return self.count

    def __await__(self) -> Generator[Any, None, int]:
        for f in self._futures:
            yield from f.__await__()
        for r in self._receipts:
            yield from r.__await__()
        return self.result()


class Producer(abc.ABC):
    """Sends to one stream key (the anchor) and one shard.

    ``keeps`` names the header fields a caller may choose per message, as keyword arguments
    of ``send``: ``"timestamp"`` (int ms) and/or ``"sequence"``; other backends take none
    (``relay --keep-headers`` relies on this).  ``last_sequence()``: the largest sequence of
    this producer's (key, shard) the backend already holds, when it knows (file backend).

    Flow control (spec/streamer.md, "Producers"): a producer holds at most
    ``ProducerOptions.max_messages`` unacknowledged messages and ``max_bytes`` of their
    payloads; at the bound ``send`` raises :class:`~ssfile.errors.BufferFull`, and
    ``await drain()`` waits until there is room, as asyncio's ``StreamWriter.write``/``drain``."""

    stream_key: str
    shard_id: int
    keeps: frozenset[str] = frozenset()
    window: Window

    @abc.abstractmethod
    def send(self, payload: bytes) -> Receipt:
        """Queue one message; never blocks.  Raises BufferFull at the bound."""

    def send_batch(self, payloads: Sequence[bytes]) -> BatchReceipt:
        """Queue every payload, in order, as ``send`` would one by one; never blocks.

        The batch is taken whole or not at all: if the producer holds messages and the
        batch does not fit below the bound, it raises BufferFull and nothing is taken; a
        producer holding nothing takes a whole batch even beyond the bound (as it takes one
        message larger than ``max_bytes``).  A payload the backend refuses (EncodeError...)
        raises before anything is taken.  This default sends one by one (a backend with a
        faster path overrides it: file, stdio)."""
        payloads = list(payloads)
        w = self.window
        w.check_batch(len(payloads), sum(map(len, payloads)))
        w.grace = len(payloads)  # checked whole: each send takes its message without the check
        try:
            receipts = [self.send(p) for p in payloads]
        finally:
            w.grace = 0
        return BatchReceipt(len(receipts), receipts=receipts)

    async def drain(self) -> None:
        """Return at once while below the bound; else wait until at most half of it is held.
        Raises the producer's first failure (as ``flush`` would) instead of waiting on."""
        self._raise_failure()
        await self.window.room()
        self._raise_failure()

    def _raise_failure(self) -> None:
        """Raise the error that failed this producer's messages, if any (it stays pending for
        ``flush``)."""
        return None

    def last_sequence(self) -> int | None:
        return None

    @abc.abstractmethod
    async def flush(self) -> None:
        """Wait until everything sent is stored by the backend."""

    @abc.abstractmethod
    async def end(self) -> None:
        """Flush and end the stream (the file backend writes an end-of-stream frame)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Flush (everything sent is stored, or the error is raised); the stream goes on."""
        await self.flush()


class Consumer(abc.ABC):
    stream_keys: tuple[str, ...]
    options: ConsumerOptions

    @abc.abstractmethod
    async def next(self) -> Message:
        """The next message; raises :class:`StreamEnded` when the stream has ended."""

    async def next_batch(self, max_messages: int = 1000) -> list[Message]:
        """Up to ``max_messages`` already available messages (at least one; waits for it)."""
        return [await self.next()]

    async def seek(self, timestamp: Any) -> None:
        """Continue from the first message with timestamp >= ``timestamp``."""
        raise StreamError(f"{type(self).__name__} cannot seek")

    async def rewind(self, position: Any) -> None:
        """Continue from ``"beginning"``, ``"end"`` or the first message with sequence >= N."""
        raise StreamError(f"{type(self).__name__} cannot rewind")

    async def commit(self) -> None:
        """Store the position of the last delivered message (Resumable consumers)."""
        raise StreamError("you cannot commit on a real-time consumer")

    async def close(self) -> None:
        """Leave the group (if any) and release resources."""
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Message]:
        return _BatchIterator(self._refill)  # type: ignore[no-any-return]

    async def _refill(self, it: Any) -> Message:
        """The iterator's slow path: the next batch, loaded into ``it``; its first message."""
        while True:
            try:
                batch = await self.next_batch()
            except StreamEnded:
                raise StopAsyncIteration from None
            if batch:
                it.load(batch, 1)
                return batch[0]


class BatchIterator:
    """``async for m in consumer``: the messages of one batch after the other (``refill``
    awaits the next batch, ``load``s it here and returns its first message).  Pure twin of
    ``ssfile._speedups.BatchIter``, which hands out each message without a coroutine.

    Unlike an async generator, it survives a cancelled ``__anext__`` (``asyncio.wait_for``
    around ``anext``): the next call goes on where it stopped, nothing is skipped."""

    __slots__ = ("_refill", "_batch", "_pos")

    def __init__(self, refill: Callable[[Any], Awaitable[Message]]) -> None:
        self._refill = refill
        self._batch: list[Message] = []
        self._pos = 0

    def load(self, batch: list[Message], pos: int = 0) -> None:
        self._batch, self._pos = batch, pos

    def __aiter__(self) -> BatchIterator:
        return self

    async def __anext__(self) -> Message:
        pos = self._pos
        if pos < len(self._batch):
            self._pos = pos + 1
            return self._batch[pos]
        self._batch = []
        return await self._refill(self)


#: the C iterator when the accelerator is built, else the pure one
_BatchIterator: Any = getattr(speedups, "BatchIter", None) or BatchIterator


class StreamEnded(StreamError):
    """The stream has ended (end-of-stream seen, or the backend closed)."""


class Streamer(abc.ABC):
    @abc.abstractmethod
    async def create_producer(
        self, stream_key: str, *, shard_id: int = 0, options: ProducerOptions | None = None
    ) -> Producer: ...

    @abc.abstractmethod
    async def create_consumer(
        self, stream_keys: Sequence[str], options: ConsumerOptions | None = None
    ) -> Consumer: ...

    @abc.abstractmethod
    async def disconnect(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()
