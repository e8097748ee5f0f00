"""Reading Redis Streams with redis-py (imported lazily): URIs, connections, shards, pages.

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

from ...errors import BackendError, EncodeError, UsageError
from .._optional import require
from . import mapping

DEFAULT_PORT = 6379
SCAN_COUNT = 1000
MAX_REDIS_SEQ = (1 << 64) - 1


@dataclass
class RedisUri:
    """``redis://[user:password@]host[:port][,host[:port]...]/key[,key...]``."""

    nodes: list[tuple[str, int]]
    keys: list[str]
    tls: bool = False
    username: str | None = None
    password: str | None = None
    text: str = ""

    @property
    def where(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.nodes)


def parse_redis_uri(text: str) -> RedisUri:
    """Parse a dump source URI; any mistake is a one-line :class:`UsageError`."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("redis", "rediss"):
        raise UsageError(f"{text!r} is not a Redis URI: expected redis://HOST:PORT/KEY")
    if "/" not in rest:
        raise UsageError(f"{text!r}: no stream key: expected redis://HOST:PORT/KEY")
    hosts, _, keys_text = rest.rpartition("/")
    keys = [k for k in keys_text.split(",") if k]
    if not keys:
        raise UsageError(f"{text!r}: no stream key after the last '/'")
    for key in keys:
        try:
            mapping.check_stream_key(key)
        except EncodeError as err:
            raise UsageError(f"{text!r}: {err}") from None
    user = password = None
    if "@" in hosts:
        creds, _, hosts = hosts.rpartition("@")
        user, _, password = creds.partition(":") if ":" in creds else ("", "", creds)
    nodes = [_parse_node(text, node) for node in hosts.split(",") if node]
    if not nodes:
        raise UsageError(f"{text!r}: no host")
    return RedisUri(nodes, keys, scheme == "rediss", user or None, password or None, text)


def _parse_node(uri: str, node: str) -> tuple[str, int]:
    if node.startswith("["):  # [ipv6]:port
        host, _, port_text = node[1:].partition("]")
        port_text = port_text[1:] if port_text.startswith(":") else port_text
    else:
        host, _, port_text = node.partition(":")
    if not host:
        raise UsageError(f"{uri!r}: empty host in {node!r}")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"{uri!r}: invalid port {port_text!r} (1..65535)")
    return host, int(port_text)


@dataclass
class Shard:
    """One Redis stream that holds one shard of a stream key."""

    stream_key: str
    shard_id: int
    redis_key: str
    info: dict[str, Any] = field(default_factory=dict)


class RedisSource:
    """Read access to one server or cluster.  Use :func:`open_source`."""

    def __init__(self, uri: RedisUri, client: Any, cluster: Any, retry_for: float) -> None:
        self.uri = uri
        self._client = client  # redis.Redis (single server) or None
        self._cluster = cluster  # redis.cluster.RedisCluster or None
        self.retry_for = retry_for
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
        for name in self._retrying(lambda: list(self._scan(f"{_glob_escape(key)}:*"))):
            number = mapping.shard_of(name, key)
            if number is not None:
                found[number] = name.decode() if isinstance(name, bytes) else name
        if not found:
            kind = self._type(key)
            if kind == "none":
                raise BackendError(
                    f"redis://{self.uri.where}: no stream {key!r} "
                    f"(neither the key {key!r} nor any {key + ':N'!r} exists)"
                )
            found[0] = key
        result = [Shard(key, n, found[n]) for n in sorted(found)]
        for shard in result:
            kind = self._type(shard.redis_key)
            if kind != "stream":
                raise BackendError(
                    f"redis://{self.uri.where}: key {shard.redis_key!r} "
                    f"is not a stream (it is a {kind})"
                )
        return result

    def _scan(self, pattern: str) -> Any:
        target = self._cluster if self._cluster is not None else self._client
        return target.scan_iter(match=pattern, count=SCAN_COUNT)

    def _type(self, redis_key: str) -> str:
        kind = self._retrying(lambda: self._node(redis_key).execute_command("TYPE", redis_key))
        return kind.decode() if isinstance(kind, bytes) else str(kind)

    # ---- reading -------------------------------------------------------------------------------

    def last_id(self, redis_key: str) -> tuple[int, int] | None:
        """The id of the last entry now in the stream, or None if it is empty."""
        reply = self._retrying(
            lambda: self._node(redis_key).execute_command(
                "XREVRANGE", redis_key, "+", "-", "COUNT", 1
            )
        )
        return _id_tuple(reply[0][0]) if reply else None

    def length(self, redis_key: str) -> int:
        """``XLEN``: entries now in the stream."""
        return int(self._retrying(lambda: self._node(redis_key).execute_command("XLEN", redis_key)))

    def page(self, redis_key: str, start: str, end: str, count: int) -> list[Any]:
        """Raw ``XRANGE key start end COUNT count``: ``[[id, [field, value, ...]], ...]``."""
        return self._retrying(  # type: ignore[no-any-return]
            lambda: self._node(redis_key).execute_command(
                "XRANGE", redis_key, start, end, "COUNT", count
            )
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

    def _retrying(self, call: Any) -> Any:
        """Run ``call``; retry transient failures for ``retry_for`` seconds, then fail clearly."""
        exc = self._redis.exceptions
        transient = (
            exc.ConnectionError,
            exc.TimeoutError,
            exc.ClusterError,
            exc.BusyLoadingError,
            exc.MovedError,
            exc.AskError,
            exc.TryAgainError,
            exc.ClusterDownError,
        )
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                return call()
            except transient as err:
                if time.monotonic() >= deadline:
                    raise BackendError(f"redis://{self.uri.where}: {_one_line(err)}") from err
                time.sleep(0.2)
                self._refresh()
            except exc.RedisError as err:
                raise BackendError(f"redis://{self.uri.where}: {_one_line(err)}") from err

    def _refresh(self) -> None:
        if self._cluster is None:
            return
        try:
            self._cluster.nodes_manager.initialize()
        except self._redis.exceptions.RedisError:
            pass  # the topology is still moving: the next attempt retries


def open_source(uri: RedisUri, *, retry_for: float = 15.0, timeout: float = 10.0) -> RedisSource:
    """Connect (single server or cluster, auto-detected) or raise a one-line BackendError."""
    redis = require("redis", "redis")
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    host, port = uri.nodes[0]
    common: dict[str, Any] = dict(
        username=uri.username,
        password=uri.password,
        ssl=uri.tls,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    client = redis.Redis(host=host, port=port, retry=Retry(NoBackoff(), 0), **common)
    try:
        clustered = int(client.info("cluster").get("cluster_enabled", 0)) == 1
    except redis.exceptions.RedisError as err:
        client.close()
        raise BackendError(f"redis://{uri.where}: {_one_line(err)}") from err
    if not clustered:
        return RedisSource(uri, client, None, retry_for)
    client.close()
    from redis.cluster import ClusterNode, RedisCluster

    try:
        cluster = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in uri.nodes], **common)  # type: ignore[no-untyped-call]
    except redis.exceptions.RedisError as err:
        raise BackendError(f"redis://{uri.where}: cluster: {_one_line(err)}") from err
    return RedisSource(uri, None, cluster, retry_for)


def _id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq)


def _glob_escape(key: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in key)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text
