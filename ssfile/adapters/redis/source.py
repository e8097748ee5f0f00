"""Reading Redis Streams with redis-py (imported lazily): connections, shards, pages.

A :class:`RedisSource` hides the difference between one server and a Redis Cluster (found
with ``INFO cluster``).  Pages are read with raw ``XRANGE`` replies (no dict conversion, so
an entry's repeated fields survive).  Transient failures (connection lost, failover in
progress, ``MOVED``, ``CLUSTERDOWN``, ``LOADING``) are retried for ``retry_for`` seconds;
reading by entry id makes every retry exact: nothing is read twice or skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ...errors import BackendError
from ...streamer.settings import resolve
from ...streamer.uri import StreamUrl
from .._optional import require
from . import mapping
from .client import RedisOptions, backend_error, client_kwargs, node_address, transient_errors
from .retry import Backoff

SCAN_COUNT = 1000
MAX_REDIS_SEQ = (1 << 64) - 1
#: ``ssfile dump`` waits longer for a page of XRANGE than the streamer for one command
DEFAULTS = {"timeout": 10.0, "retry_for": 15.0}


@dataclass
class Shard:
    """One Redis stream that holds one shard of a stream key."""

    stream_key: str
    shard_id: int
    redis_key: str
    info: dict[str, Any] = field(default_factory=dict)


class RedisSource:
    """Read access to one server or cluster.  Use :func:`open_source`."""

    def __init__(self, url: StreamUrl, options: RedisOptions, client: Any, cluster: Any) -> None:
        self.url = url
        self.options = options
        self.where = ",".join(url.nodes)
        self._client = client  # redis.Redis (single server) or None
        self._cluster = cluster  # redis.cluster.RedisCluster or None
        self.retry_for = options.retry_for
        self._redis = require("redis", "redis")

    @property
    def is_cluster(self) -> bool:
        return self._cluster is not None

    def close(self) -> None:
        for c in (self._client, self._cluster):
            if c is not None:
                c.close()

    # ---- discovery -----------------------------------------------------------------------------

    def shards(self, key: str) -> list[Shard]:
        """The streams of ``key``: every ``key:N`` stream (by N), else the plain key as shard 0."""
        found = {}
        pattern = f"{_glob_escape(key)}:*"
        for name in self._retrying(lambda: list(self._scan(pattern)), f"SCAN {pattern}"):
            number = mapping.shard_of(name, key)
            if number is not None:
                found[number] = name.decode() if isinstance(name, bytes) else name
        if not found:
            kind = self._type(key)
            if kind == "none":
                raise BackendError(
                    f"redis://{self.where}: no stream {key!r} "
                    f"(neither the key {key!r} nor any {key + ':N'!r} exists)"
                )
            found[0] = key
        result = [Shard(key, n, found[n]) for n in sorted(found)]
        for shard in result:
            kind = self._type(shard.redis_key)
            if kind != "stream":
                raise BackendError(
                    f"redis://{self.where}: key {shard.redis_key!r} "
                    f"is not a stream (it is a {kind})"
                )
        return result

    def _scan(self, pattern: str) -> Any:
        target = self._cluster if self._cluster is not None else self._client
        return target.scan_iter(match=pattern, count=SCAN_COUNT)

    def _type(self, redis_key: str) -> str:
        kind = self._retrying(
            lambda: self._node(redis_key).execute_command("TYPE", redis_key), f"TYPE {redis_key}"
        )
        return kind.decode() if isinstance(kind, bytes) else str(kind)

    # ---- reading -------------------------------------------------------------------------------

    def last_id(self, redis_key: str) -> tuple[int, int] | None:
        """The id of the last entry now in the stream, or None if it is empty."""
        reply = self._retrying(
            lambda: self._node(redis_key).execute_command(
                "XREVRANGE", redis_key, "+", "-", "COUNT", 1
            ),
            f"XREVRANGE {redis_key}",
        )
        return _id_tuple(reply[0][0]) if reply else None

    def length(self, redis_key: str) -> int:
        """``XLEN``: entries now in the stream."""
        return int(
            self._retrying(
                lambda: self._node(redis_key).execute_command("XLEN", redis_key),
                f"XLEN {redis_key}",
            )
        )

    def page(self, redis_key: str, start: str, end: str, count: int) -> list[Any]:
        """Raw ``XRANGE key start end COUNT count``: ``[[id, [field, value, ...]], ...]``."""
        return self._retrying(  # type: ignore[no-any-return]
            lambda: self._node(redis_key).execute_command(
                "XRANGE", redis_key, start, end, "COUNT", count
            ),
            f"XRANGE {redis_key}",
        )

    def _node(self, redis_key: str) -> Any:
        """A redis.Redis that serves ``redis_key``, with raw XRANGE/XREVRANGE replies."""
        if self._cluster is None:
            client = self._client
        else:
            node = self._cluster.get_node_from_key(redis_key)
            client = self._cluster.get_redis_connection(node)
        for name in ("XRANGE", "XREVRANGE", "TYPE"):
            client.response_callbacks.pop(name, None)
        return client

    def _retrying(self, call: Any, what: str) -> Any:
        """Run ``call``; retry transient failures (:mod:`.retry`) for ``retry_for`` seconds,
        then fail clearly (any other error, e.g. a permission refused, at once)."""
        exc = self._redis.exceptions
        transient = transient_errors(exc)
        backoff: Backoff | None = None
        while True:
            try:
                return call()
            except transient as err:
                if backoff is None:
                    backoff = Backoff(self.retry_for, time.monotonic())
                delay = backoff.delay(time.monotonic())
                if delay is None:
                    raise self._error(err, what) from err
                time.sleep(delay)
                self._refresh()
            except exc.RedisError as err:
                raise self._error(err, what) from err

    def _error(self, err: BaseException, what: str) -> BackendError:
        return backend_error(self.where, err, what, self.options.username)

    def _refresh(self) -> None:
        if self._cluster is None:
            return
        try:
            self._cluster.nodes_manager.initialize()
        except self._redis.exceptions.RedisError:
            pass  # the topology is still moving: the next attempt retries


def open_source(url: StreamUrl | str, **kwargs: Any) -> RedisSource:
    """Connect to ``url`` (a single server or a cluster, auto-detected) or raise a one-line
    BackendError.  ``kwargs``: :class:`RedisOptions` fields and ``settings=``, taken as by
    ``ssfile.connect`` (URL, environment, settings; see ssfile/streamer/settings.py)."""
    redis = require("redis", "redis")
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url, options = resolve(url, RedisOptions, kwargs, defaults=DEFAULTS)
    where = ",".join(url.nodes)
    nodes = [node_address(url, n) for n in url.nodes]
    host, port = nodes[0]
    common: dict[str, Any] = dict(
        socket_timeout=options.timeout,
        socket_connect_timeout=options.timeout,
    )
    client = redis.Redis(
        host=host,
        port=port,
        db=options.db,
        retry=Retry(NoBackoff(), 0),
        **common,
        **client_kwargs(url, options, redis.Redis),
    )
    try:
        clustered = int(client.info("cluster").get("cluster_enabled", 0)) == 1
    except redis.exceptions.RedisError as err:
        client.close()
        raise backend_error(where, err, "cannot connect", options.username) from err
    if not clustered:
        return RedisSource(url, options, client, None)
    client.close()
    from redis.cluster import ClusterNode, RedisCluster

    try:
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in nodes],  # type: ignore[no-untyped-call]
            **common,
            **client_kwargs(url, options, redis.Redis),
        )
    except redis.exceptions.RedisError as err:
        raise backend_error(where, err, "cluster", options.username) from err
    return RedisSource(url, options, None, cluster)


def _id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq)


def _glob_escape(key: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in key)
