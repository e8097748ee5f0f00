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

A broker that restarts without its idempotence state (noida-db) makes librdkafka's idempotent
producer fail for good (a fatal error: sequence desynchronization).  The client then replaces
it with a new librdkafka producer and sends again, in order, every record not yet reported
delivered: at least once (a record the broker stored but did not acknowledge before the
restart is stored twice).  After ``MAX_RECOVERIES`` such replacements with no record delivered
between them, the records in flight fail with the fatal error instead.  Nothing can stop the
polling task: an error raised inside it fails the records in flight (a receipt never waits
forever).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from ...errors import StreamError
from ...streamer.api import Producer, Receipt
from ...streamer.flow import Window, at_exit, loop_running
from ...types import Message
from .mapping import backend_error

POLL_EVERY = 256
POLL_SECONDS = 0.002
MAX_RECOVERIES = 3  # fatal errors in a row (no record delivered between them) that are retried
#: seconds the exit hook lets librdkafka deliver what a program left in flight (_deliver_at_exit)
EXIT_DELIVERY_S = 10.0

log = logging.getLogger("ssfile.kafka")

#: makes a librdkafka producer given its ``error_cb`` and whether it replaces a failed one
Factory = Callable[[Callable[[Any], None], bool], Any]


class ProducerClient:
    """The shared librdkafka producer, its receipts in flight and its polling task."""

    def __init__(self, factory: Factory, where: str, errors: Any) -> None:
        self._factory = factory
        self.where = where
        self._fatal_code = errors._FATAL  # what produce() gives after a fatal error
        #: delivery errors of records the broker did not store because it lost the
        #: idempotence state: sent again
        self._resend_codes = {
            errors._FATAL,
            errors.OUT_OF_ORDER_SEQUENCE_NUMBER,
            errors.UNKNOWN_PRODUCER_ID,
        }
        self._retry: list[tuple[Any, ...]] = []
        self.inflight = 0
        self._waiting: dict[tuple[str, int], deque[tuple[Any, ...]]] = {}
        self._loose: dict[int, tuple[Any, ...]] = {}  # shard None: records in flight, in order
        self._loose_n = 0
        self._backlog: deque[tuple[Any, ...]] = deque()
        self._sends = 0
        self._task: asyncio.Task[None] | None = None
        self._gen = 0  # which librdkafka producer: reports of a replaced one are ignored
        self._fatal: Any = None  # the fatal error the current producer reported
        self._fatal_streak = 0
        self.recoveries = 0
        self.producer = self._new_producer()
        _clients.add(self)

    def _new_producer(self) -> Any:
        self._gen += 1
        self._delivered = partial(self._on_delivery, self._gen)
        return self._factory(partial(self._on_error, self._gen), self._gen > 1)

    def _on_error(self, gen: int, err: Any) -> None:
        """librdkafka's error callback (served by ``poll``): a fatal error is handled by the
        polling task; the others are transient (librdkafka retries) and only logged."""
        if gen != self._gen:
            return
        if err.fatal():
            if self._fatal is None:
                self._fatal = err
        else:
            log.info("kafka://%s: %s (retrying)", self.where, err.str())

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
            self._poll()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll_while_inflight())
        return future

    def _produce(self, entry: tuple[Any, ...]) -> None:
        """Hand one record to librdkafka; refused at once (unknown partition, too large): an error."""
        producer, future, payload, timestamp = entry
        topic, partition = producer.topic, producer.shard_id
        if self._fatal is not None:
            raise BufferError  # the producer is being replaced: wait in the backlog
        try:
            if partition is None:
                self._loose_n += 1
                n, gen = self._loose_n, self._gen
                self.producer.produce(
                    topic,
                    payload,
                    timestamp=timestamp,
                    on_delivery=lambda err, msg: self._report_loose(gen, n, err, msg),
                )
                self._loose[n] = entry
            else:
                self.producer.produce(
                    topic,
                    payload,
                    partition=partition,
                    timestamp=timestamp,
                    on_delivery=self._delivered,
                )
                q = self._waiting.get((topic, partition))
                if q is None:
                    q = self._waiting[(topic, partition)] = deque()
                q.append(entry)
        except BufferError:
            raise
        except Exception as err:
            if self._took_fatal(err):
                raise BufferError from None
            raise backend_error(self.where, err, f"produce to topic {topic!r}") from err

    def _took_fatal(self, exc: BaseException) -> bool:
        """Whether ``exc`` (raised by a librdkafka call) is the producer's fatal error; if so
        it is noted for the polling task."""
        inner: Any = exc.args[0] if exc.args else None
        if inner is None or not callable(getattr(inner, "code", None)):
            return False
        if not (inner.fatal() or inner.code() == self._fatal_code):
            return False
        if self._fatal is None:
            self._fatal = inner
        return True

    def _poll(self) -> None:
        """Serve the delivery reports (``poll(0)``, never waits).  confluent-kafka raises a
        fatal error from ``poll`` (also with an error callback): noted, not raised."""
        try:
            self.producer.poll(0)
        except Exception as err:
            if not self._took_fatal(err):
                raise

    def _on_delivery(self, gen: int, err: Any, msg: Any) -> None:
        if gen == self._gen:
            entry = self._waiting[(msg.topic(), msg.partition())].popleft()
            if err is None or not self._resend(err, entry):
                self._report(err, msg, entry)

    def _report_loose(self, gen: int, n: int, err: Any, msg: Any) -> None:
        if gen == self._gen:
            entry = self._loose.pop(n)
            if err is None or not self._resend(err, entry):
                self._report(err, msg, entry)

    def _resend(self, err: Any, entry: tuple[Any, ...]) -> bool:
        """A record failed because the broker lost the idempotent producer's state: keep it
        for the replacement producer (the polling task replaces this one)."""
        if err.code() not in self._resend_codes:
            return False
        self._retry.append(entry)
        if self._fatal is None:
            self._fatal = err
        return True

    def _report(self, err: Any, msg: Any, entry: tuple[Any, ...]) -> None:
        producer, future, payload, _ = entry
        self.inflight -= 1
        producer.inflight -= 1
        producer.window.give(1, len(payload), 0 if err is None else 1)
        if not future.done():
            if err is None:
                self._fatal_streak = 0
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
        try:
            while self.inflight:
                if self._fatal is not None:
                    self._recover()
                if self._backlog:
                    self._drain_backlog()
                self._poll()
                if self.inflight:
                    await asyncio.sleep(POLL_SECONDS)
        except Exception as err:  # a bug or a failing callback: fail, never leave a receipt waiting
            self._fail_all(err)

    def _in_flight(self) -> list[tuple[Any, ...]]:
        """Every record handed to the current librdkafka producer and not reported, in order
        per partition, then the backlog; all of them are forgotten here."""
        entries, self._retry = self._retry, []
        entries.extend(e for q in self._waiting.values() for e in q)
        entries.extend(self._loose.values())
        entries.extend(self._backlog)
        self._waiting.clear()
        self._loose.clear()
        self._backlog.clear()
        return entries

    def _recover(self) -> None:
        """The producer failed for good: replace it and send its unreported records again
        (or, after MAX_RECOVERIES in a row, fail them)."""
        err = self._fatal
        self._fatal_streak += 1
        old = self.producer
        entries = self._in_flight()
        if self._fatal_streak > MAX_RECOVERIES:
            self._fail_all(err, entries)
            return
        self.recoveries += 1
        self._fatal = None
        self.producer = self._new_producer()
        self._backlog.extend(entries)
        log.warning(
            "kafka://%s: %s; sending the %d undelivered record(s) again with a new producer "
            "(at least once)",
            self.where,
            err.str() if hasattr(err, "str") else err,
            len(entries),
        )
        threading.Thread(target=_discard, args=(old,), daemon=True).start()

    def _fail_all(self, err: Any, entries: list[tuple[Any, ...]] | None = None) -> None:
        for entry in self._in_flight() if entries is None else entries:
            self._report(err, None, entry)

    def close(self, timeout: float) -> int:
        """Deliver what is queued (up to ``timeout`` seconds; blocking: run it in a thread)
        and return the number of records still undelivered."""
        try:
            left = int(self.producer.flush(timeout))
        except Exception:  # failed for good while closing: its records are not delivered
            left = len(self.producer)
        return left + len(self._backlog)


#: every producer client alive, for the exit hook
_clients: weakref.WeakSet[ProducerClient] = weakref.WeakSet()


def _deliver_at_exit() -> None:
    """A program whose event loop ended without ``flush()``/``disconnect()`` (records still in
    flight): serve librdkafka's delivery reports here, up to ``EXIT_DELIVERY_S``, so that what
    it was given is delivered, as the file backend writes out its buffer at exit.  A client
    whose loop still runs (the sync facade's thread) is left to its owner.  What stays
    undelivered is told by the producers' windows (streamer/flow.py: a RuntimeWarning)."""
    for client in list(_clients):
        if not client.inflight or loop_running(client._task):
            continue
        deadline = time.monotonic() + EXIT_DELIVERY_S
        try:
            while client.inflight and time.monotonic() < deadline:
                if client._fatal is not None:
                    client._recover()
                if client._backlog:
                    client._drain_backlog()
                client.producer.poll(0.05)
        except Exception as err:  # noqa: BLE001 - told; the windows tell what is left
            log.warning("kafka://%s: at exit, delivering failed: %s", client.where, err)


at_exit(_deliver_at_exit)


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


def _discard(producer: Any) -> None:
    """Drop a librdkafka producer that failed for good (its reports are ignored); runs in a
    daemon thread: destroying it may wait for its broker threads."""
    try:
        producer.purge()
        producer.flush(1)
    except Exception:
        pass
