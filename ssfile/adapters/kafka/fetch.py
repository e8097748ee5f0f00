"""One confluent-kafka ``Consumer`` driven from asyncio: every call on it runs in its own
single thread (a one-worker executor), so no blocking call ever runs on the event loop and
calls on the client never overlap.

A fetch that the caller stops waiting for (a cancelled ``next()``) is kept and handed to
the next ``fetch``: messages already taken from librdkafka are never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ...types import Message
from .mapping import backend_error, key_of
from .thread import ClientThread

log = logging.getLogger("ssfile.kafka")


class Fetched:
    """What one ``consume`` call gave: messages, and per partition the end-of-partition
    offsets seen (``(stream key, partition) -> offset``)."""

    __slots__ = ("messages", "eofs")

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.eofs: dict[tuple[str, int], int] = {}


class Fetcher:
    def __init__(self, client: Any, kafka: Any, where: str, prefix: str) -> None:
        self.client = client
        self.kafka = kafka  # the confluent_kafka module
        self.where = where
        self.prefix = prefix
        self._pool = ClientThread("ssfile-kafka-consumer")
        self._pending: Future[Fetched] | None = None
        self.closed = False

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in this client's thread."""
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    async def fetch(self, max_messages: int, timeout: float) -> Fetched:
        if self._pending is None:
            self._pending = self._pool.submit(self._consume, max_messages, timeout)
        fetched = await asyncio.shield(asyncio.wrap_future(self._pending))
        self._pending = None
        return fetched

    async def drop_pending(self) -> None:
        """Wait for a fetch in flight and forget it (after a seek: what it brings is from the
        old position)."""
        if self._pending is not None:
            try:
                await asyncio.wrap_future(self._pending)
            except Exception:
                pass
            self._pending = None

    def _consume(self, max_messages: int, timeout: float) -> Fetched:
        out = Fetched()
        try:
            records = self.client.consume(max_messages, timeout)
        except self.kafka.KafkaException as exc:
            raise backend_error(self.where, exc, "consume") from exc
        prefix = self.prefix
        append = out.messages.append
        keys: dict[str, str] = {}
        for r in records:
            err = r.error()
            if err is None:  # mapping.to_message, inlined: this loop is the consumer's hot path
                topic = r.topic()
                key = keys.get(topic)
                if key is None:
                    key = keys[topic] = key_of(prefix, topic)
                kind, ts = r.timestamp()
                value = r.value()
                append(
                    Message(
                        key,
                        r.partition(),
                        r.offset(),
                        ts if kind else 0,
                        value if value is not None else b"",
                    )
                )
            elif err.code() == self.kafka.KafkaError._PARTITION_EOF:
                out.eofs[(key_of(prefix, r.topic()), r.partition())] = r.offset()
            elif err.fatal() or err.code() in (
                self.kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
                self.kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED,
            ):
                raise backend_error(
                    self.where, err, f"topic {r.topic()!r}" if r.topic() else "consume"
                )
            else:
                log.info("kafka://%s: %s (retrying)", self.where, err.str())
        return out

    async def close(self, final: Callable[[], Any] | None = None, timeout: float = 10.0) -> None:
        """Run ``final`` (e.g. a last commit), close the client and stop the thread.  A close
        that takes longer than ``timeout`` (a broker stuck in a group rebalance) is left
        behind in its daemon thread, with a warning."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._pending is not None:
                await asyncio.wrap_future(self._pending)
        except Exception:
            pass
        self._pending = None

        def close() -> None:
            try:
                if final is not None:
                    final()
            finally:
                self.client.close()

        try:
            await asyncio.wait_for(self.call(close), timeout)
        except TimeoutError:
            log.warning(
                "kafka://%s: the consumer did not close within %gs (left behind)",
                self.where,
                timeout,
            )
        except Exception as err:  # closing: report, do not raise
            log.info("kafka://%s: close: %s", self.where, err)
        finally:
            self._pool.stop()
