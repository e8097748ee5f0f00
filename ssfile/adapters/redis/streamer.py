"""The ``redis://`` streamer backend on redis-py's asyncio client (imported lazily).

Rules (spec/streamer.md, "Redis"); the mapping is :mod:`.mapping` (upstream's, notes §9):
* Stream key ``K``, shard 0 is the Redis stream ``K``; shard N is ``K:N``.  A consumer reads
  every ``K:N`` stream if any exists, else ``K`` (as upstream).  So that a producer never
  writes where consumers do not look, a shard-0 producer writes ``K:0`` when ``K:N`` streams
  exist, and a producer of shard N > 0 is refused while the plain stream ``K`` exists.
* Producers: ``send`` queues; a background task writes the queue with pipelined
  ``XADD K * msg PAYLOAD`` (up to ``produce_batch`` per round trip) and resolves each receipt
  to the header parsed from the returned id.  ``flush`` awaits the queue; ``end`` flushes and
  closes the producer.  Redis has no end-of-stream mark (upstream writes none either).
* Consumers (:mod:`.consumer`): RealTime with paged ``XREAD``, groups with
  ``XREADGROUP`` + batched ``XACK`` + ``XAUTOCLAIM`` failover.  ``follow=False`` consumers
  end where the streams ended when they started (RealTime) or when the group has nothing
  left to read (groups): that is how a Redis stream "ends".
* Connecting asks the URI's first node ``INFO cluster``: a Redis Cluster node switches to
  redis-py's asyncio ``RedisCluster`` (every node of the URI is a startup node).  There,
  multi-stream reads are split per hash slot (:meth:`~.connection.RedisConnection.read_streams`), producers
  send each batch to the master of its key's slot, and topology errors (failover, ``MOVED``, ``CLUSTERDOWN``) are
  transient: retried for ``retry_for`` seconds.
* Credentials, database, TLS and client settings: in the URL
  (``rediss://user:password@host/DB/keys?ssl_ca_certs=...``), the environment, ``settings=``
  or connect options (ssfile/streamer/settings.py, .client); upstream's URI carries none.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import EncodeError, StreamError
from ...format.records import check_producer_key
from ...streamer.api import Consumer, Producer, Streamer
from ...streamer.flow import Window
from ...streamer.options import ConsumerMode, ConsumerOptions, ProducerOptions, consumer_request
from . import mapping
from .client import RedisOptions
from .connection import RedisConnection, StreamRef
from .consumer import RealTimeConsumer
from .group import GroupMember, GroupReader
from .producer import RedisProducer

__all__ = ["RedisOptions", "RedisStreamer", "StreamRef"]


class RedisStreamer(RedisConnection, Streamer):
    """The ``redis://`` backend: producers and consumers over one :class:`RedisConnection`."""

    async def create_producer(
        self, stream_key: str, *, shard_id: int = 0, options: ProducerOptions | None = None
    ) -> Producer:
        check_producer_key(stream_key)
        window = Window(options, f"redis://{self.where} producer of {stream_key!r}")
        if (
            isinstance(shard_id, bool)
            or not isinstance(shard_id, int)
            or not 0 <= shard_id <= mapping.MAX_U64
        ):
            raise EncodeError(f"shard id must be an integer 0..2^64-1, not {shard_id!r}")
        refs = await self.discover(stream_key)
        sharded = refs[0].redis_key != self.redis_key(stream_key)
        if shard_id == 0:
            redis_key = self.redis_key(stream_key, 0 if sharded else None)
        else:
            if not sharded and await self.call("EXISTS", refs[0].redis_key):
                raise StreamError(
                    f"redis://{self.where}: stream {refs[0].redis_key!r} is unsharded "
                    f"(it exists as a plain stream); writing shard {shard_id} to "
                    f"'{refs[0].redis_key}:{shard_id}' would hide it from consumers"
                )
            redis_key = self.redis_key(stream_key, shard_id)
        await self.check_type(redis_key)
        p = RedisProducer(self, stream_key, shard_id, redis_key, window)
        self._producers.append(p)
        return p

    async def create_consumer(
        self, stream_keys: Sequence[str], options: ConsumerOptions | None = None
    ) -> Consumer:
        keys, options = consumer_request(stream_keys, options)
        consumer = await self._consumer(keys, options)
        self._consumers.append(consumer)
        return consumer

    async def _consumer(self, keys: tuple[str, ...], options: ConsumerOptions) -> Consumer:
        refs = [
            ref
            for key in keys
            for ref in await self.discover(key)
            if options.shards is None or ref.shard_id in options.shards
        ]
        if options.mode is ConsumerMode.REAL_TIME:
            start = "0-0" if options.auto_stream_reset == "earliest" else None
            c = RealTimeConsumer(self, keys, options, refs)
            await c.start(start)
            return c
        assert options.group is not None
        slot = (options.group, keys, options.mode)
        reader = self._groups.get(slot)
        if reader is None or reader.closed:
            reader = self._groups[slot] = GroupReader(self, options, refs)
            await reader.create_groups("0" if options.auto_stream_reset == "earliest" else "$")
        member = GroupMember(reader, keys, options)
        reader.members.append(member)
        return member

    async def disconnect(self) -> None:
        try:
            for p in list(self._producers):
                await p.flush()
        finally:
            for c in list(self._consumers):
                await c.close()
            self._producers.clear()
            self._consumers.clear()
            await self.client.aclose()
