"""The connection of a ``redis://`` streamer (redis-py's asyncio client, imported lazily):
one server or a Redis Cluster, and what producers and consumers share -- commands with
retries, per-slot multi-stream reads, shard discovery, one-line errors.

Connecting asks the URI's first node ``INFO cluster``: a Redis Cluster node switches to
redis-py's asyncio ``RedisCluster`` (every node of the URI is a startup node).  There,
multi-stream reads are split per hash slot (:meth:`RedisConnection.read_streams`), and
topology errors (failover, ``MOVED``, ``CLUSTERDOWN``) are transient: retried for
``retry_for`` seconds.  The streamer API on top is :mod:`.streamer`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from ...errors import BackendError, UsageError
from ...streamer.api import Consumer
from ...streamer.options import ConsumerMode, ConsumerOptions
from ...streamer.settings import resolve
from ...streamer.uri import StreamUrl
from .._optional import require
from . import mapping
from .client import (
    RedisOptions,
    backend_error,
    client_kwargs,
    node_address,
    transient_errors,
)
from .retry import Backoff
from .source import SCAN_COUNT, _glob_escape

RAW_REPLIES = ("XREAD", "XREADGROUP", "XRANGE", "XREVRANGE", "XAUTOCLAIM", "XCLAIM", "TYPE")


@dataclass
class StreamRef:
    """One Redis stream: one shard of one stream key."""

    stream_key: str
    shard_id: int
    redis_key: str


class RedisConnection:
    """A connected server or cluster; :class:`~.streamer.RedisStreamer` adds the streamer API."""

    def __init__(self, client: Any, where: str, options: RedisOptions) -> None:
        self.client = client
        self.where = where
        self.options = options
        self.redis = require("redis", "redis")
        self._producers: list[Any] = []
        self._consumers: list[Consumer] = []
        self._groups: dict[tuple[str, tuple[str, ...], ConsumerMode], Any] = {}
        self.cluster = False  # True: ``client`` is a redis.asyncio.cluster.RedisCluster
        self.url: StreamUrl | None = None  # set for a cluster (to connect again)
        self._healed = 0.0

    @classmethod
    async def connect(cls, url: StreamUrl | str, **kwargs: Any) -> Self:
        url, options = resolve(url, RedisOptions, kwargs)
        if options.field_rule not in mapping.FIELD_RULES:
            raise UsageError(
                f"field_rule must be one of {mapping.FIELD_RULES}, not {options.field_rule!r}"
            )
        aioredis = require("redis.asyncio", "redis")
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        host, port = node_address(url, url.nodes[0])
        where = f"{host}:{port}"
        client = aioredis.Redis(
            host=host,
            port=port,
            db=options.db,
            socket_connect_timeout=options.timeout,
            socket_timeout=options.timeout + options.block_ms / 1000,
            retry=Retry(NoBackoff(), 0),
            protocol=2,  # RESP2: stream replies are plain lists
            **client_kwargs(url, options, aioredis.Redis),
        )
        for name in RAW_REPLIES:
            client.response_callbacks.pop(name, None)
        streamer = cls(client, where, options)
        try:
            info = await client.info("cluster")
        except Exception as err:
            await client.aclose()
            raise streamer.error(err, "cannot connect") from err
        if int(info.get("cluster_enabled", 0)) == 1:
            await client.aclose()
            seeds = [node_address(url, node) for node in url.nodes]
            streamer.url = url
            streamer.client = await _connect_cluster(streamer, seeds)
            streamer.cluster = True
        return streamer

    # ---- helpers shared with the consumers ------------------------------------------------------

    def error(self, err: BaseException, what: str = "") -> BackendError:
        """A one-line BackendError naming the server (and ``what`` was being done)."""
        return backend_error(self.where, err, what, self.options.username)

    def is_transient(self, err: BaseException) -> bool:
        return isinstance(err, transient_errors(self.redis.exceptions))

    def topology_errors(self) -> tuple[type[BaseException], ...]:
        """Error replies that say the cluster's slot map moved (retried, never a result)."""
        exc = self.redis.exceptions
        return (exc.AskError, exc.TryAgainError, exc.ClusterDownError)

    async def read_streams(
        self,
        run: Any,
        head: Sequence[Any],
        keys: Sequence[str],
        ids: Sequence[str],
        block_ms: int | None,
    ) -> list[Any]:
        """``XREAD``/``XREADGROUP`` (``head`` = the words before ``STREAMS``) over ``keys`` at
        ``ids``, sent with ``run`` (``call`` or the raw client).  On a cluster a command may
        not cross hash slots: one command per slot, all at once, first without ``BLOCK``;
        only if every one came back empty are they sent again with ``BLOCK``."""
        block = [] if block_ms is None else ["BLOCK", block_ms]
        if not self.cluster:
            return await run(*head, *block, "STREAMS", *keys, *ids) or []
        by_slot: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            by_slot.setdefault(self.client.keyslot(key), []).append(i)

        async def each(extra: list[Any]) -> list[Any]:
            replies = await asyncio.gather(
                *(
                    run(*head, *extra, "STREAMS", *(keys[i] for i in idx), *(ids[i] for i in idx))
                    for idx in by_slot.values()
                )
            )
            return [item for reply in replies for item in reply or ()]

        got = await each([])
        if block and not any(entries for _, entries in got):
            got = await each(block)
        return got

    async def ping(self, redis_keys: Sequence[str]) -> None:
        """Check the server(s) answer: PING, or on a cluster a command to each key's master."""
        if not self.cluster:
            await self.client.execute_command("PING")
            return
        for key in redis_keys:
            await self.client.execute_command("EXISTS", key)

    async def call(self, *args: Any, retry: bool = True) -> Any:
        """One command; transient failures are retried (:mod:`.retry`) for ``retry_for``
        seconds (``retry=False``: not at all)."""
        backoff: Backoff | None = None
        while True:
            try:
                return await self.client.execute_command(*args)
            except Exception as err:
                if not isinstance(err, self.redis.exceptions.RedisError) and not self.is_transient(
                    err
                ):
                    raise
                if backoff is None:
                    backoff = self.backoff(retry)
                delay = backoff.delay(asyncio.get_running_loop().time())
                if not self.is_transient(err) or delay is None:
                    raise self.error(err, command_text(args)) from err
                await self.wait(delay)

    def backoff(self, retry: bool = True) -> Backoff:
        """The retries of an operation that has just failed (:mod:`.retry`)."""
        now = asyncio.get_running_loop().time()
        return Backoff(self.options.retry_for if retry else 0.0, now)

    async def wait(self, delay: float) -> None:
        """Between two attempts: sleep, then re-seed the cluster client (at most once a
        second)."""
        await asyncio.sleep(delay)
        await self.heal()

    async def heal(self) -> None:
        """Cluster, after a transient error: at most once a second, replace the client by a
        fresh one seeded with every node known so far, so the slot map is read again from a
        live node whatever state the old client's connections and caches are in (redis-py
        refreshes its map itself too; this is a safety net)."""
        loop = asyncio.get_running_loop()
        if not self.cluster or loop.time() - self._healed < 1.0:
            return
        self._healed = loop.time()
        old = self.client
        seeds = [(n.host, n.port) for n in old.nodes_manager.startup_nodes.values()]
        seeds += [(n.host, n.port) for n in old.nodes_manager.nodes_cache.values()]
        try:
            self.client = await _connect_cluster(self, list(dict.fromkeys(seeds)))
        except BackendError:
            return  # no node answers yet: keep trying with the old client
        await old.aclose()

    def redis_key(self, stream_key: str, shard: int | None = None) -> str:
        base = self.options.key_prefix + stream_key
        return base if shard is None else f"{base}:{shard}"

    async def discover(self, stream_key: str) -> list[StreamRef]:
        """The streams of ``stream_key``: every ``K:N`` (by N), else ``K`` as shard 0.  A key
        that exists but is not a stream is an error; a missing ``K`` is fine (it may come)."""
        base = self.redis_key(stream_key)
        found: dict[int, str] = {}
        try:
            async for name in self.client.scan_iter(
                match=f"{_glob_escape(base)}:*", count=SCAN_COUNT
            ):
                shard = mapping.shard_of(name, base)
                if shard is not None:
                    found[shard] = name.decode() if isinstance(name, bytes) else name
        except self.redis.exceptions.RedisError as err:
            raise self.error(err, "SCAN") from err
        if not found:
            found[0] = base
        refs = [StreamRef(stream_key, n, found[n]) for n in sorted(found)]
        for ref in refs:
            await self.check_type(ref.redis_key)
        return refs

    async def check_type(self, redis_key: str) -> None:
        kind = await self.call("TYPE", redis_key)
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind not in ("stream", "none"):
            raise BackendError(
                f"redis://{self.where}: key {redis_key!r} is not a stream (it is a {kind})"
            )

    def member_name(self, options: ConsumerOptions) -> str:
        """The Redis consumer name of this process's members of a group: ``consumer_id`` if
        given; else Resumable: the group name (stable, so a restart finds its pending
        entries); LoadBalanced: unique per streamer."""
        if self.options.consumer_id:
            return self.options.consumer_id
        if options.mode is ConsumerMode.RESUMABLE:
            return str(options.group)
        return f"{options.group}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def command_text(args: Sequence[Any]) -> str:
    """A command for an error message: its name and the keys it names (a permission error
    then says which key was refused)."""
    words = [w.decode() if isinstance(w, bytes) else str(w) for w in args]
    name = words[0].upper() if words else ""
    if name in ("XREAD", "XREADGROUP") and "STREAMS" in words:
        after = words[words.index("STREAMS") + 1 :]
        return f"{name} {','.join(after[: len(after) // 2])}"
    if name in ("XGROUP", "XINFO") and len(words) > 2:
        return " ".join(words[:3])
    return " ".join(words[:2])


async def _connect_cluster(s: RedisConnection, seeds: list[tuple[str, int]]) -> Any:
    """A redis.asyncio RedisCluster from ``seeds`` (any node of the cluster will do)."""
    from redis.asyncio.cluster import ClusterNode, RedisCluster
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    o = s.options
    assert s.url is not None
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(h, p) for h, p in seeds],
        socket_connect_timeout=o.timeout,
        socket_timeout=o.timeout + o.block_ms / 1000,
        retry=Retry(NoBackoff(), 0),
        protocol=2,
        **client_kwargs(s.url, o, RedisCluster),
    )
    for name in RAW_REPLIES:
        cluster.response_callbacks.pop(name, None)
    try:
        await cluster.initialize()
    except Exception as err:
        await cluster.aclose()
        raise s.error(err, "cluster") from err
    return cluster
