"""Consumer groups of the ``redis://`` backend (LoadBalanced, Resumable; spec/streamer.md).

One reader per (group, keys, mode) in a streamer, under one Redis consumer name, reads
``XREADGROUP ... >`` and deals the messages to the local members round robin by a dispatch
counter.  A batch handed to the application is acknowledged (a background ``XACK`` batch)
when that member asks for the next batch (``auto_commit``) or at ``commit()``; until then its
entries stay pending, so a killed consumer gets them again (at-least-once).  The reader
first re-reads its own pending entries (``XREADGROUP ... 0``: a Resumable restart gets back
what it had not acknowledged), and does so again after a lost connection.  LoadBalanced readers take over entries pending for
``claim_idle_ms`` at other consumers (``XAUTOCLAIM``): failover from dead members.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ...errors import BackendError, StreamError
from ...streamer.api import Consumer, StreamEnded
from ...streamer.options import ConsumerMode, ConsumerOptions
from ...types import Message
from .connection import RedisConnection, StreamRef
from .consumer import after_sequence, after_time, to_messages


class GroupMember(Consumer):
    def __init__(
        self, reader: GroupReader, keys: tuple[str, ...], options: ConsumerOptions
    ) -> None:
        self._r = reader
        self.stream_keys = keys
        self.options = options
        self.queue: deque[tuple[Message, str, bytes]] = deque()
        self.uncommitted: list[tuple[str, bytes]] = []

    async def next_batch(self, max_messages: int = 1000) -> list[Message]:
        if self.uncommitted and self.options.auto_commit:
            self._r.acknowledge(self)  # asking for more acknowledges the previous batch
        while not self.queue:
            if self not in self._r.members:
                raise StreamEnded("this consumer has left its group")
            if not await self._r.fill(self):
                if not self.queue:
                    raise StreamEnded("the group has read everything (follow=False)")
        q = self.queue
        items = [q.popleft() for _ in range(min(max_messages, len(q)))]
        self._r.delivered(self, [(rkey, eid) for _, rkey, eid in items])
        return [m for m, _, _ in items]

    async def next(self) -> Message:
        return (await self.next_batch(1))[0]

    async def commit(self) -> None:
        """Acknowledge everything delivered to this member (waits for the XACK)."""
        await self._r.commit(self)

    async def seek(self, timestamp: object) -> None:
        await self._r.seek(self, after_time(timestamp))

    async def rewind(self, position: object) -> None:
        await self._r.seek(self, "$" if position == "end" else after_sequence(position))

    async def close(self) -> None:
        await self._r.leave(self)


class GroupReader:
    """This streamer's reader of one consumer group (see the module doc)."""

    def __init__(self, s: RedisConnection, options: ConsumerOptions, refs: list[StreamRef]) -> None:
        self._s = s
        self.group = str(options.group)
        self.options = options
        self.name = s.member_name(options)
        self.refs = {ref.redis_key: ref for ref in refs}
        self.members: list[GroupMember] = []
        self.closed = False
        self._counter = 0
        self._lock = asyncio.Lock()
        self._own_pending: dict[str, str] | None = {k: "0-0" for k in self.refs}  # re-read cursor
        self._held: set[tuple[str, bytes]] = set()  # dispatched, not yet acknowledged
        self._to_ack: dict[str, list[bytes]] = {}
        self._ack_task: asyncio.Task[None] | None = None
        self._last_claim = 0.0

    async def create_groups(self, start: str) -> None:
        for rkey in self.refs:
            try:
                await self._s.client.execute_command(
                    "XGROUP", "CREATE", rkey, self.group, start, "MKSTREAM"
                )
            except self._s.redis.exceptions.ResponseError as err:
                if "BUSYGROUP" not in str(err):
                    raise self._s.error(err, f"XGROUP CREATE {rkey}") from err
            except self._s.redis.exceptions.RedisError as err:
                raise self._s.error(err, "XGROUP CREATE") from err

    # ---- reading ------------------------------------------------------------------------------

    async def fill(self, member: GroupMember) -> bool:
        """Read one page and deal it out; False when there is nothing left (follow=False)."""
        async with self._lock:
            if member.queue:
                return True  # another member's read filled this queue meanwhile
            try:
                return await self._read()
            except BackendError:
                raise
            except Exception as err:
                if not self._s.is_transient(err):
                    raise self._s.error(err, "XREADGROUP") from err
                await self._reconnect(err)
                return True

    async def _read(self) -> bool:
        if self._own_pending is not None:
            if await self._read_own_pending():
                return True
        s = self._s
        reply = await s.read_streams(
            s.client.execute_command,
            ("XREADGROUP", "GROUP", self.group, self.name, "COUNT", s.options.group_batch),
            list(self.refs),
            [">"] * len(self.refs),
            s.options.block_ms if self.options.follow else None,
        )
        got = self._deal(reply or ())
        claimed = await self._maybe_claim(force=not got)
        return got or claimed or self.options.follow

    async def _read_own_pending(self) -> bool:
        cursors = self._own_pending
        assert cursors is not None
        s = self._s
        reply = await s.read_streams(
            s.client.execute_command,
            ("XREADGROUP", "GROUP", self.group, self.name, "COUNT", s.options.group_batch),
            list(cursors),
            list(cursors.values()),
            None,
        )
        got = False
        for rkey_raw, entries in reply or ():
            rkey = rkey_raw.decode()
            if entries:
                cursors[rkey] = entries[-1][0].decode()
                got = self._deal([(rkey_raw, entries)]) or got
            else:
                del cursors[rkey]
        if not reply or not cursors:
            self._own_pending = None
        return got or self._own_pending is not None

    async def _maybe_claim(self, force: bool) -> bool:
        if self.options.mode is not ConsumerMode.LOAD_BALANCED:
            return False
        loop = asyncio.get_running_loop()
        idle = self._s.options.claim_idle_ms
        if not force and loop.time() - self._last_claim < idle / 1000:
            return False
        self._last_claim = loop.time()
        got = False
        for rkey in self.refs:
            cursor = "0-0"
            while True:
                nxt, entries, *_ = await self._s.client.execute_command(
                    "XAUTOCLAIM",
                    rkey,
                    self.group,
                    self.name,
                    idle,
                    cursor,
                    "COUNT",
                    self._s.options.group_batch,
                )
                got = self._deal([(rkey.encode(), entries)]) or got
                cursor = nxt.decode()
                if cursor == "0-0":
                    break
        return got

    def _deal(self, reply: Any) -> bool:
        """Hand the entries of a reply to the members, round robin; True if any message."""
        got = False
        members = self.members
        for rkey_raw, entries in reply:
            rkey = rkey_raw.decode()
            ref = self.refs[rkey]
            for entry_id, fields in entries:
                if (rkey, entry_id) in self._held:
                    continue  # already ours (claimed or re-read again)
                msgs = to_messages(self._s, ref, entry_id, fields)
                if not msgs or not members:
                    self._ack(rkey, entry_id)  # nothing to deliver (deleted, or no msg field)
                    continue
                self._held.add((rkey, entry_id))
                for m in msgs:
                    members[self._counter % len(members)].queue.append((m, rkey, entry_id))
                    self._counter += 1
                got = True
        return got

    async def _reconnect(self, err: BaseException) -> None:
        """Wait for the server (up to ``retry_for``), then re-read our pending entries."""
        backoff = self._s.backoff()
        while True:
            delay = backoff.delay(asyncio.get_running_loop().time())
            if delay is None:
                raise self._s.error(err, "XREADGROUP") from err
            await self._s.wait(delay)
            try:
                await self._s.ping(list(self.refs))
                break
            except Exception as again:
                if not self._s.is_transient(again):
                    raise self._s.error(again, "XREADGROUP") from again
                err = again
        self._own_pending = {k: "0-0" for k in self.refs}

    # ---- acknowledging ------------------------------------------------------------------------

    def delivered(self, member: GroupMember, items: list[tuple[str, bytes]]) -> None:
        """Entries handed to the application: acknowledged only when it asks for the next
        batch (``auto_commit``) or commits; until then they stay pending (at-least-once)."""
        member.uncommitted.extend(items)

    def acknowledge(self, member: GroupMember) -> None:
        """Queue the XACK of everything delivered to ``member`` (sent in the background)."""
        for rkey, eid in member.uncommitted:
            self._ack(rkey, eid)
        member.uncommitted.clear()

    async def commit(self, member: GroupMember) -> None:
        self.acknowledge(member)
        await self.flush_acks()

    def _ack(self, rkey: str, entry_id: bytes) -> None:
        self._to_ack.setdefault(rkey, []).append(entry_id)
        self._schedule_acks(self._s.options.ack_interval)

    def _schedule_acks(self, delay: float) -> None:
        if self._ack_task is None:
            self._ack_task = asyncio.get_running_loop().create_task(self._ack_later(delay))

    async def _ack_later(self, delay: float) -> None:
        ok = True
        try:
            await asyncio.sleep(delay)
            ok = await self._send_acks()
        finally:
            self._ack_task = None
        if self._to_ack and not self.closed:  # more came meanwhile, or the server was away
            self._schedule_acks(self._s.options.ack_interval if ok else 0.5)

    async def _send_acks(self) -> bool:
        """One pipelined XACK per stream; on failure the ids stay queued (False)."""
        batch, self._to_ack = self._to_ack, {}
        if not batch:
            return True
        pipe = self._s.client.pipeline(transaction=False)
        for rkey, ids in batch.items():
            pipe.execute_command("XACK", rkey, self.group, *ids)
        try:
            await pipe.execute()
        except BaseException as err:
            for rkey, ids in batch.items():
                self._to_ack.setdefault(rkey, []).extend(ids)
            if isinstance(err, Exception) and self._s.is_transient(err):
                return False
            raise
        for rkey, ids in batch.items():
            self._held.difference_update((rkey, i) for i in ids)
        return True

    async def flush_acks(self) -> None:
        task = self._ack_task
        if task is not None:  # its batch goes back to the queue if it was sending
            task.cancel()
            await asyncio.wait([task])
        if not await self._send_acks():
            raise BackendError(f"redis://{self._s.where}: XACK failed; the entries stay pending")

    # ---- membership and position --------------------------------------------------------------

    async def leave(self, member: GroupMember) -> None:
        if member not in self.members:
            return
        self.members.remove(member)
        for m, rkey, eid in member.queue:  # hand undelivered messages to the others
            if self.members:
                self.members[self._counter % len(self.members)].queue.append((m, rkey, eid))
                self._counter += 1
        member.queue.clear()
        if not self.members:
            self.closed = True
            try:
                await self.flush_acks()
            except BackendError:
                pass  # unacknowledged entries stay pending: another member claims them

    async def seek(self, member: GroupMember, position: str) -> None:
        """Move the whole group (``XGROUP SETID`` on every stream); only a lone local member."""
        if len(self.members) > 1:
            raise StreamError(
                "seek and rewind move the whole consumer group; "
                "only a consumer alone in its group reader can seek"
            )
        async with self._lock:
            for _, rkey, eid in member.queue:
                self._ack(rkey, eid)  # skipped by the seek
            member.queue.clear()
            for rkey in self.refs:
                await self._s.call("XGROUP", "SETID", rkey, self.group, position)
            self._own_pending = None
            await self.flush_acks()
