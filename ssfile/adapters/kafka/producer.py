"""Kafka producers: one confluent-kafka ``Producer`` per streamer, shared by its producers.

``send`` hands the record to librdkafka's queue (``produce`` is a local call that never
waits) and returns a :class:`Receipt` whose future the delivery report resolves.  Delivery
reports are served on the event loop with ``poll(0)``, which never waits either: every
``POLL_EVERY`` sends, and by a small task that polls every ``POLL_SECONDS`` while records
are in flight.  No thread hand-off: measured, a poll thread and a closure per record cost
half the throughput (bench/RESULTS.md).

Reports are matched to receipts per (topic, partition), in order (librdkafka reports a
partition's records in the order they were produced; the producer is idempotent by
default).  A producer without a fixed partition (``shard_id=None``) gives each record its
own callback.  When librdkafka's queue is full (``BufferError``), records wait in a local
backlog, in order, that the polling task produces as the queue drains: ``send`` never blocks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ...errors import StreamError
from ...streamer.api import Producer, Receipt
from ...streamer.flow import Window
from ...types import Message
from .mapping import backend_error

POLL_EVERY = 256
POLL_SECONDS = 0.002


class ProducerClient:
    """The shared librdkafka producer, its receipts in flight and its polling task."""

    def __init__(self, producer: Any, where: str) -> None:
        self.producer = producer
        self.where = where
        self.inflight = 0
        self._waiting: dict[tuple[str, int], deque[tuple[Any, ...]]] = {}
        self._backlog: deque[tuple[Any, ...]] = deque()
        self._sends = 0
        self._task: asyncio.Task[None] | None = None

    def produce(
        self, producer: KafkaProducer, payload: bytes, timestamp: int
    ) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        entry = (producer, future, payload, timestamp)
        producer.window.take(len(payload))
        self.inflight += 1
        producer.inflight += 1
        producer.idle.clear()
        if self._backlog:
            self._backlog.append(entry)
        else:
            try:
                self._produce(entry)
            except BufferError:
                self._backlog.append(entry)
            except BaseException:
                self.inflight -= 1
                producer.inflight -= 1
                producer.window.give(1, len(payload))
                if producer.inflight == 0:
                    producer.idle.set()
                raise
        self._sends += 1
        if self._sends % POLL_EVERY == 0:
            self.producer.poll(0)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll_while_inflight())
        return future

    def _produce(self, entry: tuple[Any, ...]) -> None:
        """Hand one record to librdkafka; refused at once (unknown partition, too large): an error."""
        producer, future, payload, timestamp = entry
        topic, partition = producer.topic, producer.shard_id
        try:
            if partition is None:
                self.producer.produce(
                    topic,
                    payload,
                    timestamp=timestamp,
                    on_delivery=lambda err, msg: self._report(err, msg, entry),
                )
            else:
                self.producer.produce(
                    topic,
                    payload,
                    partition=partition,
                    timestamp=timestamp,
                    on_delivery=self._on_delivery,
                )
                q = self._waiting.get((topic, partition))
                if q is None:
                    q = self._waiting[(topic, partition)] = deque()
                q.append(entry)
        except BufferError:
            raise
        except Exception as err:
            raise backend_error(self.where, err, f"produce to topic {topic!r}") from err

    def _on_delivery(self, err: Any, msg: Any) -> None:
        self._report(err, msg, self._waiting[(msg.topic(), msg.partition())].popleft())

    def _report(self, err: Any, msg: Any, entry: tuple[Any, ...]) -> None:
        producer, future, payload, _ = entry
        self.inflight -= 1
        producer.inflight -= 1
        producer.window.give(1, len(payload), 0 if err is None else 1)
        if not future.done():
            if err is None:
                kind, ts = msg.timestamp()
                future.set_result(
                    Message(
                        producer.stream_key,
                        msg.partition(),
                        msg.offset(),
                        ts if kind else 0,
                        payload,
                    )
                )
            else:
                error = backend_error(
                    self.where, err, f"delivery to topic {producer.topic!r} failed"
                )
                future.set_exception(error)
                future.exception()  # reported by flush(): no "never retrieved" warning
                if producer.error is None:
                    producer.error = error
        if producer.inflight == 0:
            producer.idle.set()

    def _drain_backlog(self) -> None:
        backlog = self._backlog
        while backlog:
            entry = backlog[0]
            try:
                self._produce(entry)
            except BufferError:
                return
            except Exception as err:  # refused: its receipt fails
                backlog.popleft()
                self._report(err, None, entry)
                continue
            backlog.popleft()

    async def _poll_while_inflight(self) -> None:
        while self.inflight:
            if self._backlog:
                self._drain_backlog()
            self.producer.poll(0)
            if self.inflight:
                await asyncio.sleep(POLL_SECONDS)

    def close(self, timeout: float) -> int:
        """Deliver what is queued (up to ``timeout`` seconds; blocking: run it in a thread)
        and return the number of records still undelivered."""
        return int(self.producer.flush(timeout)) + len(self._backlog)


class KafkaProducer(Producer):
    """Sends to one topic: to partition ``shard_id``, or (``shard_id=None``) wherever
    librdkafka's partitioner puts records without key (upstream's behaviour)."""

    keeps = frozenset({"timestamp"})

    def __init__(
        self,
        client: ProducerClient,
        stream_key: str,
        topic: str,
        shard_id: int | None,
        window: Window,
    ) -> None:
        self._client = client
        self.window = window
        self.stream_key = stream_key
        self.topic = topic
        self.shard_id = shard_id  # type: ignore[assignment]
        self.inflight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.error: BaseException | None = None
        self.ended = False

    def send(
        self, payload: bytes, *, timestamp: int | None = None, sequence: int | None = None
    ) -> Receipt:
        """Queue one record; ``timestamp`` (ms) sets the record's timestamp (default: now).
        ``sequence`` cannot be chosen in Kafka (the broker assigns offsets): it is ignored."""
        if self.ended:
            raise StreamError(f"kafka producer of topic {self.topic!r} has ended")
        if type(payload) is not bytes:
            payload = bytes(payload)
        return Receipt(future=self._client.produce(self, payload, timestamp or 0))

    async def flush(self) -> None:
        """Wait for every delivery report; raises the first delivery error since the last
        flush (the failed receipts carry it too)."""
        while self.inflight:
            await self.idle.wait()
        error, self.error = self.error, None
        if error is not None:
            raise error

    def _raise_failure(self) -> None:
        if self.error is not None:
            raise self.error

    async def end(self) -> None:
        """Flush and close this producer.  Kafka has no end-of-stream mark: nothing is written."""
        try:
            await self.flush()
        finally:
            self.ended = True
