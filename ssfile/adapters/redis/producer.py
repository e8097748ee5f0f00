"""The producer of the ``redis://`` backend (see :mod:`.connection`).

``send`` appends the payload to the open batch (at most ``produce_batch`` messages) and returns
a receipt pointing into it; a background task writes the batches in order, one round trip
each: the batch's ``XADD KEY * msg PAYLOAD`` commands packed by hand (redis-py's pipeline
object costs several microseconds a command) and their replies read in order.  A receipt
becomes its header (parsed from the entry id) only when asked.  If the connection fails
midway, the receipts without a reply fail: those entries may or may not have been stored.
On a Redis Cluster the batch is packed the same way and sent to the master of the key's hash
slot (one shard stream lives on one master, so a batch is one node's round trip; the
producers of several shards write to their nodes concurrently, each from its own task).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ...errors import EncodeError, StreamError
from ...streamer.api import Producer, Receipt
from ...streamer.flow import Window
from ...types import Message
from . import mapping

if TYPE_CHECKING:
    from .connection import RedisConnection


class _Batch:
    __slots__ = ("producer", "payloads", "nbytes", "replies", "future")

    def __init__(self, producer: RedisProducer, future: asyncio.Future[None]) -> None:
        self.producer = producer
        self.payloads: list[bytes] = []
        self.nbytes = 0
        self.replies: list[Any] = []
        self.future = future


class RedisReceipt(Receipt):
    """A receipt whose header is parsed from its entry id when first asked for."""

    __slots__ = ("_batch", "_index")

    def __init__(self, batch: _Batch, index: int) -> None:
        super().__init__()
        self._batch = batch
        self._index = index

    def done(self) -> bool:
        return self._batch.future.done()

    def result(self) -> Message:
        if self._value is None:
            b = self._batch
            b.future.result()  # raises InvalidStateError while the batch is in flight
            self._value = b.producer._header(b.replies[self._index], b.payloads[self._index])
        return self._value

    def __await__(self) -> Generator[Any, None, Message]:
        yield from self._batch.future.__await__()
        return self.result()


class RedisProducer(Producer):
    def __init__(
        self,
        streamer: RedisConnection,
        stream_key: str,
        shard_id: int,
        redis_key: str,
        window: Window,
    ) -> None:
        self._s = streamer
        self.window = window
        self.stream_key = stream_key
        self.shard_id = shard_id
        self.redis_key = redis_key
        self._batches: deque[_Batch] = deque()
        self._open: _Batch | None = None
        self._task: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self._ended = False
        rk = redis_key.encode()
        self._head = b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$3\r\nmsg\r\n" % (len(rk), rk)

    def send(self, payload: bytes) -> Receipt:
        if self._ended:
            raise StreamError(f"producer of {self.redis_key!r} has ended")
        if type(payload) is not bytes:
            if not isinstance(payload, (bytes, bytearray, memoryview)):
                raise EncodeError(f"payload must be bytes, not {type(payload).__name__}")
            payload = bytes(payload)
        self.window.take(len(payload))
        batch = self._open
        if batch is None or len(batch.payloads) >= self._s.options.produce_batch:
            loop = asyncio.get_running_loop()
            batch = self._open = _Batch(self, loop.create_future())
            self._batches.append(batch)
            if self._task is None:
                self._task = loop.create_task(self._drain())
        batch.payloads.append(payload)
        batch.nbytes += len(payload)
        return RedisReceipt(batch, len(batch.payloads) - 1)

    async def _drain(self) -> None:
        try:
            while self._batches:
                batch = self._batches.popleft()
                if batch is self._open:
                    self._open = None
                await self._write(batch)
        finally:
            self._task = None

    async def _write(self, batch: _Batch) -> None:
        """One batch, in order.  A transient failure (lost connection, timeout, failover) is
        retried for ``retry_for`` seconds (:mod:`.retry`), resending only the entries without
        a reply: an entry stored whose reply was lost is then stored twice (at least once)."""
        n = len(batch.payloads)
        replies = batch.replies
        backoff = None
        while True:
            try:
                todo = batch.payloads[len(replies) :]
                head = self._head
                packed = b"".join([b"%s$%d\r\n%s\r\n" % (head, len(p), p) for p in todo])
                if self._s.cluster:
                    await self._node_round_trip(packed, len(todo), replies)
                else:
                    await self._round_trip(packed, len(todo), replies)
                break
            except Exception as exc:
                if self._s.is_transient(exc):
                    if backoff is None:
                        backoff = self._s.backoff()
                    delay = backoff.delay(asyncio.get_running_loop().time())
                    if delay is not None:
                        await self._s.wait(delay)
                        continue
                replies += [exc] * (n - len(replies))
                break
        failed = sum(1 for r in replies if isinstance(r, BaseException))
        if failed and self._failed is None:
            err = next(r for r in replies if isinstance(r, BaseException))
            self._failed = self._s.error(err, f"XADD {self.redis_key}")
        batch.future.set_result(None)
        self.window.give(n, batch.nbytes, failed)

    def _raise_failure(self) -> None:
        if self._failed is not None:
            raise self._failed

    async def _node_round_trip(self, packed: bytes, n: int, replies: list[Any]) -> None:
        """On a Redis Cluster: the packed batch to the master of the key's hash slot (the
        client's slot map), on one of that node's connections, as :meth:`_round_trip`.  A
        topology reply (``MOVED``, ``ASK``, ``TRYAGAIN``, ``CLUSTERDOWN``) keeps the replies
        before it and is raised: the retry re-reads the slot map and resends the rest."""
        client = self._s.client
        node = client.get_node_from_key(self.redis_key)
        got: list[Any] = []
        conn = node.acquire_connection()
        try:
            await self._exchange(conn, packed, n, got)
        finally:
            release = getattr(node, "release", None)  # redis-py < 5.1: put it back by hand
            release(conn) if release is not None else node._free.append(conn)
        moved = self._s.topology_errors()
        for i, reply in enumerate(got):
            if isinstance(reply, moved):
                replies += got[:i]
                raise reply
        replies += got

    async def _round_trip(self, packed: bytes, n: int, replies: list[Any]) -> None:
        pool = self._s.client.connection_pool
        conn = await pool.get_connection()
        try:
            await self._exchange(conn, packed, n, replies)
        finally:
            await pool.release(conn)

    async def _exchange(self, conn: Any, packed: bytes, n: int, out: list[Any]) -> None:
        """Send the packed batch on ``conn`` and read its ``n`` replies into ``out``; on any
        failure the connection is closed (its replies are out of step) before the error is
        raised.  A stalled server (SIGSTOP, a long fork) is waited for on this connection up
        to retry_for: resending on another one would store the batch twice when it resumes."""
        try:
            await conn.send_packed_command(packed, check_health=False)
            options = self._s.options
            await asyncio.wait_for(
                _read_replies(conn, n, out, self._s.redis.exceptions.ResponseError),
                max(options.timeout, options.retry_for) + n / 1000,
            )
        except BaseException:
            await conn.disconnect()
            raise

    def _header(self, reply: Any, payload: bytes) -> Message:
        if isinstance(reply, BaseException):
            raise self._s.error(reply, f"XADD {self.redis_key}")
        try:
            seq, ts = mapping.entry_id_to_header(reply)
        except EncodeError as err:
            raise self._s.error(err, f"XADD {self.redis_key}") from None
        return Message(self.stream_key, self.shard_id, seq, ts, payload)

    async def flush(self) -> None:
        """Wait until every queued message was written; raises the first write error since
        the last flush (the receipts of the failed messages carry it too)."""
        while self._task is not None:
            await asyncio.wait([self._task])
        err, self._failed = self._failed, None
        if err is not None:
            raise err

    async def end(self) -> None:
        """Flush and close this producer (Redis has no end-of-stream mark; see spec)."""
        try:
            await self.flush()
        finally:
            self._ended = True


async def _read_replies(
    conn: Any, n: int, out: list[Any], response_error: type[BaseException]
) -> None:
    """Read ``n`` replies into ``out`` (an error reply is kept as its exception)."""
    for _ in range(n):
        try:
            out.append(await conn.read_response(timeout=math.inf))
        except response_error as err:
            out.append(err)
