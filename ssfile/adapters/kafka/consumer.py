"""RealTime Kafka consumers: every partition of the stream keys' topics (or the ``shards``
chosen) assigned by hand (``assign``), no consumer group, no commits.

Where it starts: ``"earliest"`` at each partition's low watermark, ``"latest"`` at its high
watermark, both read when the consumer is created (so nothing produced after
``create_consumer`` returns is missed).  How it ends: with ``follow=False``, at the high
watermarks read when it was created (or when it last sought); a partition is done once a
message at or past its mark - 1 was fetched or librdkafka reported the end of the
partition there.  With ``follow=True`` (default) it never ends, and (reading every partition:
no ``shards`` chosen) it looks for partitions added to its topics every
``topic.metadata.refresh.interval.ms`` and reads each new one from its beginning (every
message in it was produced after the consumer started).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from ...errors import StreamError
from ...streamer.api import Consumer, StreamEnded
from ...streamer.options import ConsumerOptions
from ...types import Message
from .fetch import Fetched, Fetcher

Part = tuple[str, int]  # (stream key, partition)

log = logging.getLogger("ssfile.kafka")


class Positions:
    """Next offset and end mark of each partition of a consumer."""

    def __init__(self) -> None:
        self.next: dict[Part, int] = {}
        self.end: dict[Part, int] = {}

    def update(self, fetched: Fetched) -> None:
        nxt = self.next
        nxt.update(fetched.tops)
        for part, offset in fetched.eofs.items():
            if offset > nxt.get(part, -1):
                nxt[part] = offset

    def clip(self, messages: list[Message], tops: dict[Part, int] | None = None) -> list[Message]:
        """Without the messages at or past their partition's end mark (follow=False).  With
        ``tops`` (one past the last offset of each partition among them): a look per
        partition when none is."""
        end = self.end
        if not end or (
            tops is not None and all(top <= end.get(part, top) for part, top in tops.items())
        ):
            return messages
        return [
            m for m in messages if m.sequence < end.get((m.stream_key, m.shard_id), m.sequence + 1)
        ]

    def at_end(self) -> bool:
        nxt = self.next
        return all(nxt.get(p, -1) >= end for p, end in self.end.items())


def watermarks(
    client: Any, kafka: Any, parts: list[tuple[str, int]], timeout: float, where: str
) -> list[tuple[int, int]]:
    """(low, high) of each ``(topic, partition)``; runs in the consumer's thread."""
    from .mapping import backend_error

    out = []
    for topic, p in parts:
        try:
            marks = client.get_watermark_offsets(
                kafka.TopicPartition(topic, p), timeout=timeout, cached=False
            )
        except kafka.KafkaException as err:
            raise backend_error(where, err, f"watermarks of {topic!r} partition {p}") from err
        if marks is None:
            raise backend_error(
                where, f"no answer within {timeout:g}s", f"watermarks of {topic!r} partition {p}"
            )
        out.append((int(marks[0]), int(marks[1])))
    return out


def behind(
    client: Any, streamer: Any, parts: list[tuple[str, str, int]], nxt: dict[Part, int]
) -> bool:
    """Whether the broker holds messages past the positions ``nxt`` in ``parts`` ((stream
    key, topic, partition); one with no position yet: if it holds any).  Asks for the high
    watermarks, in the consumer's thread (a stalled fetch: stall.py); BackendError if the
    broker does not answer."""
    s = streamer
    marks = watermarks(client, s.kafka, [(t, p) for _, t, p in parts], s.options.timeout, s.where)
    return any(hi > nxt.get((key, p), lo) for (key, _, p), (lo, hi) in zip(parts, marks))


class KafkaConsumer(Consumer):
    def __init__(
        self,
        streamer: Any,
        fetcher: Fetcher,
        keys: tuple[str, ...],
        options: ConsumerOptions,
        parts: list[tuple[str, str, int]],
    ) -> None:
        self._streamer = streamer
        self._fetcher = fetcher
        self.stream_keys = keys
        self.options = options
        self._parts = parts  # (stream key, topic, partition)
        self._pos = Positions()
        self.queue: deque[Message] = deque()
        #: seconds between looks for new partitions (None: never)
        self._refresh = (
            streamer.partition_refresh() if options.follow and not options.shards else None
        )
        self._next_look = 0.0
        if fetcher.watch is not None:
            fetcher.watch.behind = self._behind

    def _behind(self) -> bool:
        """The broker holds messages past this consumer's positions (in the consumer's thread,
        for a stalled fetch: stall.py); BackendError if it does not answer."""
        return behind(self._fetcher.client, self._streamer, self._parts, self._pos.next)

    async def start(self, where: str) -> None:
        """Assign every partition at ``where``: ``"earliest"`` / ``"latest"``."""
        marks = await self._marks()
        await self._assign([lo if where == "earliest" else hi for lo, hi in marks], marks)
        if self._refresh is not None:
            self._next_look = asyncio.get_running_loop().time() + self._refresh

    async def _add_new_partitions(self) -> None:
        """Assign, from their beginning, the partitions added to the topics since the last
        look.  A failed look (broker restarting) is logged and tried again later."""
        assert self._refresh is not None
        self._next_look = asyncio.get_running_loop().time() + self._refresh
        s = self._streamer
        topics = {topic: key for key, topic, _ in self._parts}
        try:
            counts = await self._fetcher.call(
                partition_counts, self._fetcher.client, list(topics), s.options.timeout
            )
        except Exception as err:
            log.info("kafka://%s: looking for new partitions: %s", s.where, err)
            return
        known = {(t, p) for _, t, p in self._parts}
        new = [
            (key, topic, p)
            for topic, key in topics.items()
            for p in range(counts.get(topic, 0))
            if (topic, p) not in known
        ]
        if not new:
            return
        kafka = s.kafka
        tps = [kafka.TopicPartition(t, p, kafka.OFFSET_BEGINNING) for _, t, p in new]
        await self._fetcher.call(self._fetcher.client.incremental_assign, tps)
        self._parts.extend(new)
        for key, _, p in new:
            self._pos.next[(key, p)] = 0
        log.info("kafka://%s: reading new partitions %s", s.where, [(t, p) for _, t, p in new])

    async def _marks(self) -> list[tuple[int, int]]:
        s = self._streamer
        return await self._fetcher.call(  # type: ignore[no-any-return]
            watermarks,
            self._fetcher.client,
            s.kafka,
            [(t, p) for _, t, p in self._parts],
            s.options.timeout,
            s.where,
        )

    async def _assign(self, offsets: list[int], marks: list[tuple[int, int]]) -> None:
        kafka = self._streamer.kafka
        await self._fetcher.drop_pending()
        self.queue.clear()
        pos = self._pos
        pos.next.clear()
        pos.end.clear()
        tps = []
        for (key, topic, p), offset, (_, high) in zip(self._parts, offsets, marks):
            pos.next[(key, p)] = offset
            if not self.options.follow:
                pos.end[(key, p)] = high
            tps.append(kafka.TopicPartition(topic, p, offset))
        await self._fetcher.call(self._fetcher.client.assign, tps)

    async def next_batch(self, max_messages: int = 1000) -> list[Message]:
        q = self.queue
        while not q:
            if self._fetcher.closed:
                raise StreamEnded("this consumer is closed")
            if not self.options.follow and self._pos.at_end():
                raise StreamEnded("the consumer reached the end of its partitions (follow=False)")
            if self._refresh is not None and (asyncio.get_running_loop().time() >= self._next_look):
                await self._add_new_partitions()
            opts = self._streamer.options
            fetched = await self._fetcher.fetch(opts.read_batch, opts.poll_timeout, inline=True)
            self._pos.update(fetched)
            q.extend(self._pos.clip(fetched.messages, fetched.tops))
        n = min(max_messages, len(q))
        if n == len(q):
            out = list(q)
            q.clear()
            return out
        return [q.popleft() for _ in range(n)]

    async def next(self) -> Message:
        return (await self.next_batch(1))[0]

    async def seek(self, timestamp: Any) -> None:
        """Continue at the first message with timestamp >= ``timestamp`` in every partition
        (``offsets_for_times``); a partition with none continues at its end."""
        from ...timefmt import to_ms

        ms = to_ms(timestamp)
        s = self._streamer
        marks = await self._marks()
        found = await self._fetcher.call(
            offsets_for_times,
            self._fetcher.client,
            s.kafka,
            [(t, p) for _, t, p in self._parts],
            ms,
            s.options.timeout,
            s.where,
        )
        offsets = [hi if off < 0 else off for off, (_, hi) in zip(found, marks)]
        await self._assign(offsets, marks)

    async def rewind(self, position: Any) -> None:
        """``"beginning"``, ``"end"``, or offset N in every partition (clamped to what it holds)."""
        marks = await self._marks()
        if position == "beginning":
            offsets = [lo for lo, _ in marks]
        elif position == "end":
            offsets = [hi for _, hi in marks]
        elif isinstance(position, int) and not isinstance(position, bool):
            offsets = [min(max(position, lo), hi) for lo, hi in marks]
        else:
            raise StreamError(
                f"rewind to 'beginning', 'end' or a sequence number, not {position!r}"
            )
        await self._assign(offsets, marks)

    async def close(self) -> None:
        await self._fetcher.close(timeout=self._streamer.options.timeout)


def offsets_for_times(
    client: Any, kafka: Any, parts: list[tuple[str, int]], ms: int, timeout: float, where: str
) -> list[int]:
    """The first offset with timestamp >= ``ms`` of each ``(topic, partition)`` (-1: none);
    runs in the consumer's thread.  The partitions must be distinct (noida-db answers a
    request naming one partition twice wrongly)."""
    from .mapping import backend_error

    try:
        found = client.offsets_for_times(
            [kafka.TopicPartition(t, p, ms) for t, p in parts], timeout=timeout
        )
    except kafka.KafkaException as err:
        raise backend_error(where, err, "offsets_for_times") from err
    by_part = {}
    for tp in found:
        if tp.error is not None:
            raise backend_error(
                where, tp.error, f"offsets_for_times on {tp.topic!r} partition {tp.partition}"
            )
        by_part[(tp.topic, tp.partition)] = int(tp.offset)
    return [by_part.get(part, -1) for part in parts]


def partition_counts(client: Any, topics: list[str], timeout: float) -> dict[str, int]:
    """How many partitions each of ``topics`` has now (a topic the broker does not answer
    for is left out); runs in the consumer's thread."""
    out = {}
    for topic in topics:
        t = client.list_topics(topic, timeout=timeout).topics.get(topic)
        if t is not None and t.error is None:
            out[topic] = len(t.partitions)
    return out
