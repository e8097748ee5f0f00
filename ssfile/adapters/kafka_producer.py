"""Kafka producers: one confluent-kafka ``Producer`` per streamer, shared by its producers.

``send`` hands the record to librdkafka's queue (``produce`` is a local, non-blocking call)
and returns a :class:`Receipt` whose future the delivery report resolves.  Delivery
reports are served by a dedicated thread that loops on ``poll``; it resolves the futures
on the event loop in batches (one ``call_soon_threadsafe`` per poll).  When librdkafka's
queue is full (``BufferError``) records wait in a local backlog, in order, which the same
thread produces as the queue drains: ``send`` never blocks.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

from ..errors import StreamError
from ..streamer.api import Producer, Receipt
from ..types import Message
from .kafka_map import backend_error, key_of

POLL_SECONDS = 0.05


class ProducerClient:
    """The shared librdkafka producer and its delivery-report thread."""

    def __init__(self, producer: Any, loop: asyncio.AbstractEventLoop, where: str, prefix: str) -> None:
        self.producer = producer
        self.loop = loop
        self.where = where
        self.prefix = prefix
        self._lock = threading.Lock()
        self._backlog: deque[tuple[Any, ...]] = deque()
        self._reports: list[tuple[Any, ...]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ssfile-kafka-producer", daemon=True)
        self._thread.start()

    def produce(self, record: tuple[Any, ...]) -> None:
        """Queue one ``(topic, value, partition, timestamp, callback)`` record, in order.
        A record librdkafka refuses at once (unknown partition, too large) is an error here."""
        with self._lock:
            if self._backlog:
                self._backlog.append(record)
                return
            try:
                self._produce(record)
            except BufferError:
                self._backlog.append(record)
            except Exception as err:
                raise backend_error(self.where, err, f"produce to topic {record[0]!r}") from err

    def _produce(self, record: tuple[Any, ...]) -> None:
        topic, value, partition, timestamp, callback = record
        if partition is None:
            self.producer.produce(topic, value, timestamp=timestamp, on_delivery=callback)
        else:
            self.producer.produce(topic, value, partition=partition, timestamp=timestamp, on_delivery=callback)

    def _drain_backlog(self) -> None:
        with self._lock:
            while self._backlog:
                record = self._backlog[0]
                try:
                    self._produce(record)
                except BufferError:
                    return
                except Exception as err:  # refused: its receipt fails
                    record[4](err.args[0] if err.args else err, None)
                self._backlog.popleft()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if self._backlog:
                self._drain_backlog()
            self.producer.poll(POLL_SECONDS)
            if self._reports:
                reports, self._reports = self._reports, []
                try:
                    self.loop.call_soon_threadsafe(_resolve, reports)
                except RuntimeError:
                    return  # the event loop is closed

    def report(self, producer: "KafkaProducer", future: asyncio.Future[Message], payload: bytes):  # type: ignore[no-untyped-def]
        """The delivery callback of one record (runs in the poll thread)."""
        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                self._reports.append((producer, future, err, None))
            else:
                kind, ts = msg.timestamp()
                header = Message(key_of(self.prefix, msg.topic()), msg.partition(), msg.offset(),
                                 ts if kind else 0, payload)
                self._reports.append((producer, future, None, header))
        return on_delivery

    def close(self, timeout: float) -> int:
        """Deliver what is queued (up to ``timeout`` seconds) and stop; returns the number
        of records still undelivered."""
        self._stop.set()
        self._thread.join()
        self._drain_backlog()
        left = self.producer.flush(timeout) + len(self._backlog)
        if self._reports:
            reports, self._reports = self._reports, []
            _resolve(reports)
        return left


def _resolve(reports: list[tuple[Any, ...]]) -> None:
    for producer, future, err, header in reports:
        if not future.done():
            if err is None:
                future.set_result(header)
            else:
                error = backend_error(producer.where, err, f"delivery to topic {producer.topic!r} failed")
                future.set_exception(error)
                future.exception()  # reported by flush(): no "never retrieved" warning
                if producer.error is None:
                    producer.error = error
        producer.inflight -= 1
    for producer in {r[0] for r in reports}:
        if producer.inflight == 0:
            producer.idle.set()


class KafkaProducer(Producer):
    """Sends to one topic: to partition ``shard_id``, or (``shard_id=None``) wherever
    librdkafka's partitioner puts records without key (upstream's behaviour)."""

    keeps = frozenset({"timestamp"})

    def __init__(self, client: ProducerClient, stream_key: str, topic: str, shard_id: int | None) -> None:
        self._client = client
        self.stream_key = stream_key
        self.topic = topic
        self.shard_id = shard_id  # type: ignore[assignment]
        self.where = client.where
        self.inflight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.error: BaseException | None = None
        self.ended = False

    def send(self, payload: bytes, *, timestamp: int | None = None, sequence: int | None = None) -> Receipt:
        """Queue one record; ``timestamp`` (ms) sets the record's timestamp (default: now).
        ``sequence`` cannot be chosen in Kafka (the broker assigns offsets): it is ignored."""
        if self.ended:
            raise StreamError(f"kafka producer of topic {self.topic!r} has ended")
        if not isinstance(payload, bytes):
            payload = bytes(payload)
        client = self._client
        future: asyncio.Future[Message] = client.loop.create_future()
        client.produce((self.topic, payload, self.shard_id, timestamp or 0,
                        client.report(self, future, payload)))
        self.inflight += 1
        self.idle.clear()
        return Receipt(future=future)

    async def flush(self) -> None:
        """Wait for every delivery report; raises the first delivery error since the last
        flush (the failed receipts carry it too)."""
        while self.inflight:
            await self.idle.wait()
        error, self.error = self.error, None
        if error is not None:
            raise error

    async def end(self) -> None:
        """Flush and close this producer.  Kafka has no end-of-stream mark: nothing is written."""
        try:
            await self.flush()
        finally:
            self.ended = True
