"""A small synchronous facade over the asyncio streamer API, for scripts.

    with ssfile.connect_sync("file:///tmp/rec.ss") as s:
        p = s.create_producer("clock")
        p.send(b"tick").result()
        c = s.create_consumer(["clock"], ConsumerOptions(auto_stream_reset="earliest"))
        print(c.next())

It runs its own event loop in a background thread; every call blocks until done.

A streamer the script leaves connected is disconnected when the program ends (as Python
flushes the files a script leaves open): what its producers were given still reaches the
backend, and a failure to deliver it is a :class:`RuntimeWarning` on stderr, never silent.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import BufferFull
from ..types import Message
from .api import BatchReceipt, Consumer, Producer, Receipt, StreamEnded, Streamer
from .flow import at_exit
from .options import ConsumerOptions, ProducerOptions


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="ssfile-sync", daemon=True
        )
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class SyncReceipt:
    """A :class:`Receipt` for scripts: :meth:`result` waits until the backend has stored the
    message (or raises why it could not)."""

    def __init__(self, loop: _Loop, inner: Receipt) -> None:
        self._loop = loop
        self._inner = inner

    def done(self) -> bool:
        return self._inner.done()

    def result(self) -> Message:
        async def _wait() -> Message:
            return await self._inner

        return self._loop.run(_wait())  # type: ignore[no-any-return]


class SyncBatchReceipt:
    """A :class:`BatchReceipt` for scripts: :meth:`result` waits until every message of the
    batch is stored and returns how many (or raises the first failure)."""

    def __init__(self, loop: _Loop, inner: BatchReceipt) -> None:
        self._loop = loop
        self._inner = inner
        self.count = inner.count

    def done(self) -> bool:
        return self._inner.done()

    def result(self) -> int:
        async def _wait() -> int:
            return await self._inner

        return self._loop.run(_wait())  # type: ignore[no-any-return]


class SyncProducer:
    """A :class:`~ssfile.streamer.api.Producer` for scripts: ``send`` and ``send_batch``
    return receipts whose ``result()`` waits; at the bound they wait for room."""

    def __init__(self, loop: _Loop, inner: Producer) -> None:
        self._loop = loop
        self._inner = inner

    def send(self, payload: bytes) -> SyncReceipt:
        """At the producer's bound (ProducerOptions) this waits until there is room."""

        async def _send() -> Receipt:
            while True:
                try:
                    return self._inner.send(payload)
                except BufferFull:
                    await self._inner.drain()

        return SyncReceipt(self._loop, self._loop.run(_send()))

    def send_batch(self, payloads: Sequence[bytes]) -> SyncBatchReceipt:
        """:meth:`Producer.send_batch <ssfile.streamer.api.Producer.send_batch>`: the batch
        taken whole, in order; at the producer's bound this waits until there is room."""
        payloads = list(payloads)

        async def _send() -> BatchReceipt:
            while True:
                try:
                    return self._inner.send_batch(payloads)
                except BufferFull:
                    await self._inner.drain()

        return SyncBatchReceipt(self._loop, self._loop.run(_send()))

    def drain(self) -> None:
        self._loop.run(self._inner.drain())

    def flush(self) -> None:
        self._loop.run(self._inner.flush())

    def end(self) -> None:
        self._loop.run(self._inner.end())


class SyncConsumer:
    """A :class:`~ssfile.streamer.api.Consumer` for scripts: ``next()`` blocks, and
    ``for m in consumer`` iterates until the stream ends."""

    def __init__(self, loop: _Loop, inner: Consumer) -> None:
        self._loop = loop
        self._inner = inner

    def next(self) -> Message:
        return self._loop.run(self._inner.next())  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[Message]:
        while True:
            try:
                batch = self._loop.run(self._inner.next_batch())
            except StreamEnded:
                return
            yield from batch

    def seek(self, timestamp: Any) -> None:
        self._loop.run(self._inner.seek(timestamp))

    def rewind(self, position: Any) -> None:
        self._loop.run(self._inner.rewind(position))

    def commit(self) -> None:
        self._loop.run(self._inner.commit())

    def close(self) -> None:
        self._loop.run(self._inner.close())


class SyncStreamer:
    def __init__(self, uri: str, **options: Any) -> None:
        from .registry import connect

        self._loop = _Loop()
        try:
            self._inner: Streamer = self._loop.run(connect(uri, **options))
        except BaseException:
            self._loop.stop()
            raise
        self._connected = True
        _connected.add(self)

    def create_producer(
        self, stream_key: str, *, shard_id: int = 0, options: ProducerOptions | None = None
    ) -> SyncProducer:
        inner = self._inner.create_producer(stream_key, shard_id=shard_id, options=options)
        return SyncProducer(self._loop, self._loop.run(inner))

    def create_consumer(
        self, stream_keys: Sequence[str], options: ConsumerOptions | None = None
    ) -> SyncConsumer:
        return SyncConsumer(
            self._loop, self._loop.run(self._inner.create_consumer(stream_keys, options))
        )

    def disconnect(self) -> None:
        """Flush every producer, close everything, stop the loop (again: nothing to do)."""
        if not self._connected:
            return
        self._connected = False
        _connected.discard(self)
        try:
            self._loop.run(self._inner.disconnect())
        finally:
            self._loop.stop()

    def __enter__(self) -> SyncStreamer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()


#: the streamers still connected (held: a dropped one is still disconnected at exit)
_connected: set[SyncStreamer] = set()


def _disconnect_at_exit() -> None:
    # exit hooks run before daemon threads are stopped: each streamer's loop still runs
    for streamer in list(_connected):
        try:
            streamer.disconnect()
        except Exception as err:  # noqa: BLE001 - reported, and the others still flushed
            warnings.warn(
                f"ssfile: a streamer left connected at exit could not deliver everything: {err}",
                RuntimeWarning,
                stacklevel=1,
            )


at_exit(_disconnect_at_exit)


def connect_sync(uri: str, **options: Any) -> SyncStreamer:
    """:func:`ssfile.connect` for scripts: a streamer whose producers and consumers block
    instead of being awaited (``with connect_sync(uri) as s: ...`` disconnects at the end)."""
    return SyncStreamer(uri, **options)
