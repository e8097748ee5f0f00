"""One confluent-kafka ``Consumer`` driven from asyncio: every call on it runs in its own
single thread (a one-worker executor), so no blocking call ever runs on the event loop and
calls on the client never overlap.

A fetch that the caller stops waiting for (a cancelled ``next()``) is kept and handed to
the next ``fetch``: messages already taken from librdkafka are never dropped.

With ``inline=True`` records librdkafka already holds are taken without the thread:
``fetch`` first calls ``consume`` with no wait on the caller's own thread (when the
client's thread is idle), and hands the blocking wait to the thread only when that finds
nothing.  Handing every batch across threads cost more than converting it (bench/kafka.py).
Only for clients whose ``consume`` runs no blocking callback: a group member's rebalance
callbacks (group.py) commit and ask for watermarks inside ``consume``, so groups fetch in
the thread.

A fetch that brings nothing while librdkafka reports problems asks the client's
:class:`~.stall.StallWatch` whether to warn or raise (per fetch, never per record).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ...codec import decoder  # noqa: F401  (it configures the Message layout built in C)
from ...codec.accel import speedups
from ...types import Message
from .mapping import backend_error, key_of
from .stall import StallWatch
from .thread import ClientThread

log = logging.getLogger("ssfile.kafka")

#: records -> messages in C (ssfile/_speedups.c), or None: the pure ``_take`` below
_KAFKA_MESSAGES = getattr(speedups, "kafka_messages", None)


class Fetched:
    """What one ``consume`` call gave: messages; per partition one past the last offset
    among them (``tops``) and the end-of-partition offsets seen (``eofs``), both keyed
    ``(stream key, partition)``."""

    __slots__ = ("messages", "tops", "eofs")

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.tops: dict[tuple[str, int], int] = {}
        self.eofs: dict[tuple[str, int], int] = {}


def _take(
    records: list[Any],
    start: int,
    keys: dict[str, str],
    out: list[Message],
    tops: dict[tuple[str, int], int],
) -> int:
    """The records from ``start`` on while they have no error and a topic in ``keys``, as
    messages appended to ``out`` (``tops`` updated), each record taken replaced by None in
    ``records``; returns the index of the first record not taken.  The pure twin of
    ``_speedups.kafka_messages`` (mapping.to_message, inlined: this loop is the consumer's
    hot path)."""
    append = out.append
    for i in range(start, len(records)):
        r = records[i]
        if r.error() is not None:
            return i
        key = keys.get(r.topic())
        if key is None:
            return i
        kind, ts = r.timestamp()
        value = r.value()
        p, o = r.partition(), r.offset()
        append(Message(key, p, o, ts if kind else 0, value if value is not None else b""))
        records[i] = None
        tops[(key, p)] = o + 1
    return len(records)


class Fetcher:
    def __init__(
        self, client: Any, kafka: Any, where: str, prefix: str, watch: StallWatch | None = None
    ) -> None:
        self.client = client
        self.kafka = kafka  # the confluent_kafka module
        self.where = where
        self.prefix = prefix
        #: hears the client's errors and log lines (stall.py); None: nothing watched
        self.watch = watch
        self._pool = ClientThread("ssfile-kafka-consumer")
        self._pending: Future[Fetched] | None = None
        self._keys: dict[str, str] = {}  # topic -> stream key, learnt as records come
        self.closed = False

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in this client's thread."""
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    async def fetch(self, max_messages: int, timeout: float, *, inline: bool = False) -> Fetched:
        if inline and self._pending is None and self._pool.idle():
            ready = self._consume(max_messages, 0, False)
            if ready.messages or ready.eofs:
                return ready
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

    def _consume(self, max_messages: int, timeout: float, check: bool = True) -> Fetched:
        """One ``consume``; ``check``: a stall may be checked (blocking: not on the loop)."""
        out = Fetched()
        try:
            records = self.client.consume(max_messages, timeout)
        except self.kafka.KafkaException as exc:
            raise backend_error(self.where, exc, "consume") from exc
        if type(records) is not list:
            records = list(records)
        take = _KAFKA_MESSAGES if _KAFKA_MESSAGES is not None else _take
        keys, messages, tops = self._keys, out.messages, out.tops
        i, n = 0, len(records)
        while i < n:
            # the records without error of known topics, in one call (C when built)
            i = take(records, i, keys, messages, tops)
            if i >= n:
                break
            r = records[i]
            i += 1
            err = r.error()
            if err is None:  # a topic not seen yet: learn its key, then take it
                keys[r.topic()] = key_of(self.prefix, r.topic())
                i -= 1
            elif err.code() == self.kafka.KafkaError._PARTITION_EOF:
                out.eofs[(key_of(self.prefix, r.topic()), r.partition())] = r.offset()
            elif err.fatal() or err.code() in (
                self.kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
                self.kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED,
            ):
                raise backend_error(
                    self.where, err, f"topic {r.topic()!r}" if r.topic() else "consume"
                )
            else:
                log.info("kafka://%s: %s (retrying)", self.where, err.str())
                if self.watch is not None:
                    self.watch.problem(err.str())
        watch = self.watch  # per fetch, not per record: only while librdkafka has problems
        if watch is not None and watch.since is not None:
            if out.messages or out.eofs:
                watch.since = None
            elif check:
                watch.nothing_fetched()  # raises after stall_timeout; nothing taken is lost
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
