"""Kafka consumer groups (LoadBalanced, Resumable).

The members of one group (same group and stream keys) in one streamer share one reader: one
librdkafka group member (``subscribe``), which Kafka assigns partitions to (across
processes Kafka balances the partitions between readers).  The reader deals the fetched
messages to its local members in turn (a dispatch counter, as the Redis backend: offsets of
several partitions do not form one contiguous sequence); a member that leaves hands its
undelivered messages to the others.

Commits: an offset is *delivered* (processed) when the member that returned it asks for its
next batch or calls ``commit()``; a batch the application still holds is not, so a killed
consumer gets it again (at least once), and a member that leaves hands it back.  The
reader stores, per partition, the offset after the longest delivered prefix (never past a
message still waiting in some member's queue), and Kafka commits the stored offsets:
``auto_commit=True`` (default) in the background (librdkafka's auto commit) and at close,
Resumable consumers also after every delivered batch; ``commit()`` commits synchronously.
A restarted group continues after the last commit (at least once).

Ending (``follow=False``): once the group assignment arrived, when every assigned partition
reached the high watermark it had when it was assigned.

New partitions: librdkafka refreshes the subscribed topics' metadata every
``topic.metadata.refresh.interval.ms`` and the group rebalances onto partitions added since.
A partition added after the reader joined, with no commit yet, is read from its beginning
(every message in it came after the reader joined), not from ``auto_stream_reset``:
"latest" would skip what was produced into it before the rebalance.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from ...errors import StreamError
from ...streamer.api import Consumer, StreamEnded
from ...streamer.options import ConsumerMode, ConsumerOptions
from ...types import Message
from .consumer import Part, Positions, behind, offsets_for_times, watermarks
from .fetch import Fetcher
from .mapping import key_of

log = logging.getLogger("ssfile.kafka")


class _Delivered:
    """Per partition: offsets dealt out, in order, and which of them were delivered."""

    def __init__(self) -> None:
        self.dealt: dict[Part, deque[int]] = {}
        self.done: dict[Part, set[int]] = {}
        self.commit_at: dict[Part, int] = {}

    def dealt_out(self, m: Message) -> None:
        part = (m.stream_key, m.shard_id)
        q = self.dealt.get(part)
        if q is None:
            q = self.dealt[part] = deque()
            self.done[part] = set()
        q.append(m.sequence)

    def delivered(self, batch: list[Message]) -> list[Part]:
        """Mark ``batch`` delivered; returns the partitions whose commit position moved."""
        touched = set()
        for m in batch:
            part = (m.stream_key, m.shard_id)
            done = self.done.get(part)
            if done is not None:  # else dealt before tracking began (one member): older
                done.add(m.sequence)
                touched.add(part)
        moved = []
        for part in touched:
            q, done = self.dealt[part], self.done[part]
            last = None
            while q and q[0] in done:
                last = q.popleft()
                done.discard(last)
            if last is not None:
                self.commit_at[part] = last + 1
                moved.append(part)
        return moved

    def forget(self) -> None:
        self.dealt.clear()
        self.done.clear()


class GroupReader:
    def __init__(
        self, streamer: Any, fetcher: Fetcher, keys: tuple[str, ...], options: ConsumerOptions
    ) -> None:
        self.streamer = streamer
        self.fetcher = fetcher
        self.keys = keys
        self.options = options
        self.members: list[GroupMember] = []
        self.pos = Positions()
        self.assigned: set[Part] = set()
        self.known: set[tuple[str, int]] = set()  # (topic, partition) that existed at the join
        self.assignment_seen = False
        self.revoked: set[Part] = set()
        self.delivered = _Delivered()
        self._turn = 0
        self._lock = asyncio.Lock()
        if fetcher.watch is not None:
            fetcher.watch.behind = self.behind

    def behind(self) -> bool:
        """The broker holds messages past the reader's positions in its assigned partitions
        (a partition with no position yet: if it holds any) - in the consumer's thread, for a
        stalled fetch (stall.py); BackendError if the broker does not answer.  No assignment:
        False (a member with no partition waits)."""
        prefix = self.streamer.options.topic_prefix
        parts = [(k, prefix + k, p) for k, p in sorted(self.assigned)]
        return bool(parts) and behind(self.fetcher.client, self.streamer, parts, self.pos.next)

    # ---- rebalance callbacks (they run in the consumer's thread, inside consume) ------------

    def on_assign(self, client: Any, partitions: list[Any]) -> None:
        s = self.streamer
        prefix = s.options.topic_prefix
        parts = [(tp.topic, tp.partition) for tp in partitions]
        marks = (
            watermarks(client, s.kafka, parts, s.options.timeout, s.where)
            if not self.options.follow
            else []
        )
        for i, (topic, p) in enumerate(parts):
            part = (key_of(prefix, topic), p)
            self.assigned.add(part)
            if marks:
                self.pos.end[part] = marks[i][1]
        self._from_the_beginning(client, partitions)
        self.assignment_seen = True

    def _from_the_beginning(self, client: Any, partitions: list[Any]) -> None:
        """Assign the partitions added since the join that have no commit at their
        beginning (the others as librdkafka would: from the commit, else the reset)."""
        new = [tp for tp in partitions if (tp.topic, tp.partition) not in self.known]
        if not new:
            return
        s = self.streamer
        try:
            committed = client.committed(new, timeout=s.options.timeout)
        except s.kafka.KafkaException as err:  # no answer: librdkafka's own positions
            log.info("kafka://%s: commits of new partitions: %s", s.where, err)
            return
        fresh = {(tp.topic, tp.partition) for tp in committed if tp.offset < 0}
        self.known.update((tp.topic, tp.partition) for tp in new)
        if fresh:
            for tp in partitions:
                if (tp.topic, tp.partition) in fresh:
                    tp.offset = s.kafka.OFFSET_BEGINNING
            client.assign(partitions)

    def on_revoke(self, client: Any, partitions: list[Any]) -> None:
        """Commit what was delivered (the new owner continues there); the messages of these
        partitions still queued here are dropped after this fetch (see :meth:`pump`)."""
        kafka = self.streamer.kafka
        if self.options.auto_commit:
            try:
                client.commit(asynchronous=False)
            except kafka.KafkaException:
                pass  # nothing stored, or the group is already gone: the new owner re-reads
        prefix = self.streamer.options.topic_prefix
        for tp in partitions:
            part = (key_of(prefix, tp.topic), tp.partition)
            self.assigned.discard(part)
            self.revoked.add(part)
            self.pos.end.pop(part, None)
            self.pos.next.pop(part, None)

    def _drop_revoked(self) -> None:
        revoked, self.revoked = self.revoked, set()
        revoked -= self.assigned
        if revoked:
            for member in self.members:
                kept = [m for m in member.queue if (m.stream_key, m.shard_id) not in revoked]
                member.queue.clear()
                member.queue.extend(kept)
            self.delivered.forget()

    # ---- reading and dealing ------------------------------------------------------------------

    def at_end(self) -> bool:
        return not self.options.follow and self.assignment_seen and self.pos.at_end()

    async def pump(self, member: GroupMember) -> None:
        async with self._lock:
            if member.queue:
                return  # another member's fetch already brought something
            opts = self.streamer.options
            fetched = await self.fetcher.fetch(opts.read_batch, opts.poll_timeout)
            self.pos.update(fetched)
            if self.revoked:
                self._drop_revoked()
            self.deal(self.pos.clip(fetched.messages))

    def deal(self, messages: list[Message]) -> None:
        members = self.members
        track = len(members) > 1 or self.delivered.dealt
        if len(members) == 1 and not track:
            members[0].queue.extend(messages)
            return
        n = len(members)
        for m in messages:
            self.delivered.dealt_out(m)
            members[self._turn % n].queue.append(m)
            self._turn += 1

    def store(self, batch: list[Message]) -> None:
        """``batch`` was delivered: store the offsets librdkafka will commit."""
        if self.delivered.dealt:
            moved = self.delivered.delivered(batch)
            at = self.delivered.commit_at
            offsets = {part: at[part] for part in moved}
        else:
            offsets = {(m.stream_key, m.shard_id): m.sequence + 1 for m in batch}
        prefix = self.streamer.options.topic_prefix
        tp = self.streamer.kafka.TopicPartition
        stored = [tp(prefix + k, p, o) for (k, p), o in offsets.items() if (k, p) in self.assigned]
        if stored:
            self.fetcher.client.store_offsets(offsets=stored)

    def leave(self, member: GroupMember) -> None:
        self.members.remove(member)
        left = [*member.unacked, *member.queue]  # not acknowledged: another member gets it
        member.unacked = []
        member.queue.clear()
        if self.members:
            self.deal_again(left)

    def deal_again(self, messages: list[Message]) -> None:
        n = len(self.members)
        for m in messages:
            self.members[self._turn % n].queue.append(m)
            self._turn += 1

    async def wait_for_assignment(self) -> None:
        while not self.assignment_seen:
            await self.pump(self.members[0])


class GroupMember(Consumer):
    def __init__(
        self, reader: GroupReader, keys: tuple[str, ...], options: ConsumerOptions
    ) -> None:
        self._reader = reader
        self.stream_keys = keys
        self.options = options
        self.queue: deque[Message] = deque()
        self.unacked: list[Message] = []  # the batch the application holds

    def _acknowledge(self) -> bool:
        """The application is done with its batch: store its offsets.  True if any."""
        if not self.unacked:
            return False
        batch, self.unacked = self.unacked, []
        self._reader.store(batch)
        return True

    async def next_batch(self, max_messages: int = 1000) -> list[Message]:
        r = self._reader
        if self._acknowledge():  # asking for more acknowledges the previous batch
            if self.options.mode is ConsumerMode.RESUMABLE and self.options.auto_commit:
                self._commit_async()
        q = self.queue
        while not q:
            if self not in r.members:
                raise StreamEnded("this consumer has left its group")
            if r.at_end():
                raise StreamEnded("the group reached the end of its partitions (follow=False)")
            await r.pump(self)
        n = min(max_messages, len(q))
        out = [q.popleft() for _ in range(n)]
        self.unacked = out  # stored (and committed) once the application asks for more
        return out

    def _commit_async(self) -> None:
        try:
            self._reader.fetcher.client.commit(asynchronous=True)
        except self._reader.streamer.kafka.KafkaException:
            pass  # nothing stored yet; the next commit carries it

    async def next(self) -> Message:
        return (await self.next_batch(1))[0]

    async def commit(self) -> None:
        """Acknowledge the batch held, then commit the stored offsets of the group's
        delivered messages (synchronously)."""
        kafka = self._reader.streamer.kafka
        self._acknowledge()

        def commit() -> None:
            try:
                self._reader.fetcher.client.commit(asynchronous=False)
            except kafka.KafkaException as err:
                if err.args[0].code() != kafka.KafkaError._NO_OFFSET:
                    raise

        await self._reader.fetcher.call(commit)

    async def seek(self, timestamp: Any) -> None:
        """Move the group's partitions to the first offset with timestamp >= ``timestamp``."""
        from ...timefmt import to_ms

        ms = to_ms(timestamp)
        await self._move(lambda parts: self._times(parts, ms))

    async def rewind(self, position: Any) -> None:
        if position not in ("beginning", "end") and (
            not isinstance(position, int) or isinstance(position, bool)
        ):
            raise StreamError(
                f"rewind to 'beginning', 'end' or a sequence number, not {position!r}"
            )

        async def offsets(parts: list[tuple[str, int]]) -> list[int]:
            marks = await self._marks(parts)
            if position == "beginning":
                return [lo for lo, _ in marks]
            if position == "end":
                return [hi for _, hi in marks]
            return [min(max(position, lo), hi) for lo, hi in marks]

        await self._move(offsets)

    async def _marks(self, parts: list[tuple[str, int]]) -> list[tuple[int, int]]:
        r = self._reader
        s = r.streamer
        return await r.fetcher.call(  # type: ignore[no-any-return]
            watermarks, r.fetcher.client, s.kafka, parts, s.options.timeout, s.where
        )

    async def _times(self, parts: list[tuple[str, int]], ms: int) -> list[int]:
        r = self._reader
        s = r.streamer
        marks = await self._marks(parts)
        found = await r.fetcher.call(
            offsets_for_times, r.fetcher.client, s.kafka, parts, ms, s.options.timeout, s.where
        )
        return [hi if off < 0 else off for off, (_, hi) in zip(found, marks)]

    async def _move(self, offsets_of) -> None:  # type: ignore[no-untyped-def]
        r = self._reader
        if len(r.members) > 1:
            raise StreamError(
                "seek and rewind move a whole consumer group's reader; "
                "only a consumer alone on its reader can seek"
            )
        await r.wait_for_assignment()
        prefix = r.streamer.options.topic_prefix
        parts = sorted(r.assigned)
        topics = [(prefix + k, p) for k, p in parts]
        offsets = await offsets_of(topics)
        await r.fetcher.drop_pending()
        self.queue.clear()
        r.delivered.forget()
        kafka = r.streamer.kafka
        for (k, p), (topic, _), off in zip(parts, topics, offsets):
            r.pos.next[(k, p)] = off
            await r.fetcher.call(r.fetcher.client.seek, kafka.TopicPartition(topic, p, off))

    async def close(self) -> None:
        r = self._reader
        if self in r.members:
            r.leave(self)
            if not r.members:
                r.streamer._groups.pop((r.options.group, r.keys), None)
                await r.fetcher.close(timeout=r.streamer.options.timeout)
