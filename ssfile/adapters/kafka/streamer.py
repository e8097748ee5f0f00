"""The ``kafka://`` streamer backend on confluent-kafka (imported lazily; extra ``kafka``).

Rules (spec/streamer.md, "Kafka"); the mapping is :mod:`.mapping` (upstream's, notes §10):
topic -> stream key, partition -> shard, offset -> sequence, record timestamp -> timestamp.

* ``kafka://[user:password@]h1:p1,h2:p2/topics?name=value`` gives the bootstrap servers,
  ``sasl.username``/``sasl.password`` and librdkafka properties; so do ``SSFILE_KAFKA_*``,
  ``settings=`` and ``config=`` (ssfile/streamer/settings.py).  Connecting checks that a broker
  answers (metadata) within ``timeout`` seconds, else a one-line ``BackendError``.
* Producers (:mod:`.producer`) write to partition ``shard_id`` (``None``: librdkafka's
  partitioner) and create a missing topic (``partitions`` partitions, at least shard + 1);
  a topic with too few partitions for the shard is grown (CreatePartitions).
* RealTime consumers (:mod:`.consumer`) assign every partition by hand; LoadBalanced
  and Resumable (:mod:`.group`) are Kafka consumer groups with commits.
  ``follow=False`` consumers end at the high watermarks they saw when they started.
* Every blocking confluent-kafka call runs in a thread: metadata and admin calls in the
  streamer's thread, each consumer's calls in its own thread, delivery reports in the
  producer's poll thread.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import BackendError, EncodeError, StreamError, UsageError
from ...format.records import check_producer_key
from ...redact import redact, remember
from ...streamer.api import Consumer, Producer, Streamer
from ...streamer.flow import Window
from ...streamer.options import ConsumerMode, ConsumerOptions, ProducerOptions, consumer_request
from ...streamer.settings import resolve
from ...streamer.uri import StreamUrl, is_secret
from .._optional import require
from . import mapping
from .consumer import KafkaConsumer
from .fetch import Fetcher
from .group import GroupMember, GroupReader
from .producer import KafkaProducer, ProducerClient
from .stall import LibrdkafkaLog, StallWatch
from .thread import ClientThread

log = logging.getLogger("ssfile.kafka")
log.addHandler(logging.NullHandler())  # librdkafka's own log lines: only if the app logs


class _Redacting(logging.Filter):
    """librdkafka's log lines with every known secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


log.addFilter(_Redacting())


def _librdkafka_value(value: Any) -> Any:
    """A setting for librdkafka: TOML booleans and numbers as the text it parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value


@dataclass(frozen=True)
class KafkaOptions:
    """Connect options (keyword arguments of ``connect``)."""

    timeout: float = 10.0  # connect, metadata and admin requests, seconds
    topic_prefix: str = ""  # prepended to topics and group ids (namespacing)
    partitions: int = 1  # partitions of a topic a producer creates
    create_topics: bool = True  # producers create a missing topic
    topic_config: Mapping[str, str] = field(default_factory=dict)  # configs of topics created
    delivery_timeout: float = 30.0  # a record not delivered by then fails (message.timeout.ms)
    poll_timeout: float = 0.2  # a consumer waits this long per fetch
    #: messages per fetch: at 300 a batch and its messages stay in the collector's young
    #: generation and the CPU cache; 1000 read 20-30% slower (bench/kafka.py)
    read_batch: int = 300
    #: a consumer that gets no message (nor end of partition) for this long while
    #: librdkafka keeps reporting errors raises BackendError (stall.py); seconds
    stall_timeout: float = 30.0
    config: Mapping[str, Any] = field(default_factory=dict, repr=False)  # every client
    producer_config: Mapping[str, Any] = field(default_factory=dict)  # the producer
    consumer_config: Mapping[str, Any] = field(default_factory=dict)  # every consumer
    #: librdkafka properties from the URL, the environment and ``settings=`` (below ``config``)
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False)


class KafkaStreamer(Streamer):
    def __init__(
        self, kafka: Any, admin_module: Any, url: StreamUrl, options: KafkaOptions
    ) -> None:
        self.kafka = kafka
        self.admin_module = admin_module
        self.where = mapping.bootstrap_servers(url)
        self.options = options
        self._pool = ClientThread("ssfile-kafka-admin")
        self.admin = admin_module.AdminClient(self.config())
        # metadata through a consumer-type client: an admin or producer client's metadata
        # request for an unknown topic may make the broker create it
        self.metadata = kafka.Consumer(
            self.config({"group.id": "ssfile-metadata", "allow.auto.create.topics": False})
        )
        self._producer: ProducerClient | None = None
        self._producers: list[KafkaProducer] = []
        self._consumers: list[Consumer] = []
        self._groups: dict[tuple[str, tuple[str, ...]], GroupReader] = {}

    @classmethod
    async def connect(cls, url: StreamUrl | str, **kwargs: Any) -> KafkaStreamer:
        url, options = resolve(url, KafkaOptions, kwargs)
        for name, value in options.config.items():
            if is_secret(name):
                remember(str(value))
        kafka = require("confluent_kafka", "kafka")
        admin = require("confluent_kafka.admin", "kafka")
        _check_sasl(url, {**options.settings, **options.config})
        try:
            streamer = cls(kafka, admin, url, options)
        except (kafka.KafkaException, ValueError, TypeError) as err:
            # librdkafka refuses a setting (unknown property, invalid value): its own message
            raise UsageError(
                f"kafka://{mapping.bootstrap_servers(url)}: client settings: "
                f"{mapping.one_line(err)}"
            ) from None
        try:
            await streamer.run(_reachable, url.nodes, options.timeout)
            await streamer.run(streamer.admin.list_topics, None, options.timeout)
        except Exception as err:
            await streamer._stop_pool()
            raise mapping.backend_error(streamer.where, err, "cannot connect") from err
        return streamer

    def config(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        conf: dict[str, Any] = {
            **mapping.BASE_CONFIG,
            "bootstrap.servers": self.where,
            "logger": LibrdkafkaLog(),
        }
        conf.update({k: _librdkafka_value(v) for k, v in self.options.settings.items()})
        conf.update(self.options.config)
        conf.update(extra or {})
        return conf

    def partition_refresh(self) -> float | None:
        """Seconds between a following consumer's looks for new partitions: the consumers'
        ``topic.metadata.refresh.interval.ms`` (librdkafka's own refresh, which makes a group
        rebalance onto new partitions); None if it is off (< 0)."""
        conf = self.config({**mapping.CONSUMER_CONFIG, **self.options.consumer_config})
        ms = float(conf.get("topic.metadata.refresh.interval.ms", 300_000))
        return ms / 1000 if ms > 0 else None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking call in the streamer's thread."""
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    # ---- topics -----------------------------------------------------------------------------

    async def partitions(self, topic: str) -> int | None:
        """How many partitions ``topic`` has; None if it does not exist."""
        try:
            md = await self.run(self.metadata.list_topics, topic, self.options.timeout)
        except self.kafka.KafkaException as err:
            raise mapping.backend_error(self.where, err, f"metadata of topic {topic!r}") from err
        t = md.topics.get(topic)
        if t is None or (
            t.error is not None and t.error.code() == self.kafka.KafkaError.UNKNOWN_TOPIC_OR_PART
        ):
            return None
        if t.error is not None:
            raise mapping.backend_error(self.where, t.error, f"topic {topic!r}")
        return len(t.partitions)

    async def ensure_topic(self, topic: str, shard: int | None) -> None:
        """Create ``topic`` if missing, or grow it so that partition ``shard`` exists."""
        need = 0 if shard is None else shard + 1
        have = await self.partitions(topic)
        if have is not None and have >= need:
            return
        if have is None and not self.options.create_topics:
            raise StreamError(
                f"kafka://{self.where}: unknown topic {topic!r} (create_topics=False)"
            )
        admin = self.admin_module
        if have is None:
            count = max(need, self.options.partitions)
            new = admin.NewTopic(topic, count, 1, config=dict(self.options.topic_config))
            futures = self.admin.create_topics([new], operation_timeout=self.options.timeout)
            what = f"create topic {topic!r} ({count} partitions)"
        else:
            futures = self.admin.create_partitions(
                [admin.NewPartitions(topic, need)], operation_timeout=self.options.timeout
            )
            what = f"topic {topic!r} has {have} partitions; adding partitions up to shard {shard}"
        try:
            await self.run(futures[topic].result, self.options.timeout)
        except self.kafka.KafkaException as err:
            if err.args[0].code() != self.kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                raise mapping.backend_error(self.where, err, what) from err
        await self._wait_for_partitions(topic, need or 1)

    async def _wait_for_partitions(self, topic: str, need: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        while (await self.partitions(topic) or 0) < need:
            if loop.time() > deadline:
                raise BackendError(
                    f"kafka://{self.where}: topic {topic!r} has no partition {need - 1} "
                    f"{self.options.timeout:g}s after it was created"
                )
            await asyncio.sleep(0.05)

    async def _producer_knows(self, topic: str, shard: int | None) -> None:
        """Refresh the producer's metadata until it knows partition ``shard`` of ``topic``
        (librdkafka refuses a record for a partition it has not seen yet)."""
        assert self._producer is not None
        client = self._producer.producer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        while True:
            try:
                md = await self.run(client.list_topics, topic, self.options.timeout)
                t = md.topics.get(topic)
                if t is not None and t.error is None and len(t.partitions) > (shard or 0):
                    return
            except self.kafka.KafkaException as err:
                if loop.time() > deadline:
                    raise mapping.backend_error(
                        self.where, err, f"metadata of topic {topic!r}"
                    ) from err
            if loop.time() > deadline:
                raise BackendError(
                    f"kafka://{self.where}: the producer does not see partition "
                    f"{shard or 0} of topic {topic!r}"
                )
            await asyncio.sleep(0.05)

    async def consumer_parts(
        self, keys: Sequence[str], shards: Sequence[int] | None
    ) -> list[tuple[str, str, int]]:
        """(stream key, topic, partition) of every partition a consumer reads."""
        parts = []
        for key in keys:
            topic = mapping.topic_of(self.options.topic_prefix, key)
            n = await self.partitions(topic)
            if n is None:
                raise StreamError(f"kafka://{self.where}: unknown topic {topic!r}")
            chosen = range(n) if shards is None else shards
            for p in chosen:
                if not 0 <= p < n:
                    raise StreamError(
                        f"kafka://{self.where}: topic {topic!r} has no partition {p} (it has {n})"
                    )
                parts.append((key, topic, p))
        return parts

    # ---- the Streamer API -------------------------------------------------------------------

    async def create_producer(
        self,
        stream_key: str,
        *,
        shard_id: int | None = 0,
        options: ProducerOptions | None = None,
    ) -> Producer:
        check_producer_key(stream_key)
        window = Window(options, f"kafka://{self.where} producer of {stream_key!r}")
        if shard_id is not None and (
            isinstance(shard_id, bool) or not isinstance(shard_id, int) or not 0 <= shard_id < 2**31
        ):
            raise EncodeError(f"a Kafka partition (shard id) is 0..2^31-1, not {shard_id!r}")
        topic = mapping.topic_of(self.options.topic_prefix, stream_key)
        await self.ensure_topic(topic, shard_id)
        if self._producer is None:
            conf = {
                **mapping.PRODUCER_CONFIG,
                "message.timeout.ms": int(self.options.delivery_timeout * 1000),
            }
            conf.update(self.options.producer_config)
            config = self.config(conf)
            self._producer = ProducerClient(
                lambda on_error, again: self.kafka.Producer(
                    {
                        **config,
                        "error_cb": on_error,
                        **(mapping.REPLACEMENT_CONFIG if again else {}),
                    }
                ),
                self.where,
                self.kafka.KafkaError,
            )
        await self._producer_knows(topic, shard_id)
        p = KafkaProducer(self._producer, stream_key, topic, shard_id, window)
        self._producers.append(p)
        return p

    async def create_consumer(
        self, stream_keys: Sequence[str], options: ConsumerOptions | None = None
    ) -> Consumer:
        keys, options = consumer_request(stream_keys, options)
        if options.mode is ConsumerMode.REAL_TIME:
            parts = await self.consumer_parts(keys, options.shards)
            fetcher = self._fetcher(
                {"group.id": f"ssfile-realtime-{uuid.uuid4().hex}", "enable.auto.commit": False}
            )
            c: Consumer = KafkaConsumer(self, fetcher, keys, options, parts)
            try:
                await c.start(options.auto_stream_reset)  # type: ignore[attr-defined]
            except BaseException:
                await fetcher.close()
                raise
        else:
            c = await self._join_group(keys, options)
        self._consumers.append(c)
        return c

    def _fetcher(self, extra: Mapping[str, Any]) -> Fetcher:
        conf = {**mapping.CONSUMER_CONFIG, **extra}
        conf.update(self.options.consumer_config)
        watch = StallWatch(self.where, self.options.stall_timeout)
        conf.update({"logger": LibrdkafkaLog(watch.on_log), "error_cb": watch.on_error})
        client = self.kafka.Consumer(self.config(conf))
        return Fetcher(client, self.kafka, self.where, self.options.topic_prefix, watch)

    async def _join_group(self, keys: tuple[str, ...], options: ConsumerOptions) -> Consumer:
        if options.shards is not None:
            raise StreamError(
                "Kafka assigns a group's partitions itself: a group consumer "
                "cannot choose shards (use a RealTime consumer)"
            )
        assert options.group is not None
        reader = self._groups.get((options.group, keys))
        if reader is not None and reader.options.mode is not options.mode:
            raise StreamError(f"consumers of group {options.group!r} must use the same mode")
        if reader is None:
            parts = await self.consumer_parts(keys, None)
            topics = sorted({t for _, t, _ in parts})
            fetcher = self._fetcher(
                {
                    "group.id": self.options.topic_prefix + options.group,
                    "enable.auto.commit": options.auto_commit,
                    "auto.offset.reset": options.auto_stream_reset,
                }
            )
            reader = GroupReader(self, fetcher, keys, options)
            reader.known = {(t, p) for _, t, p in parts}
            await fetcher.call(
                lambda: fetcher.client.subscribe(
                    topics,
                    on_assign=reader.on_assign,
                    on_revoke=reader.on_revoke,
                    on_lost=reader.on_revoke,
                )
            )
            self._groups[(options.group, keys)] = reader
        member = GroupMember(reader, keys, options)
        reader.members.append(member)
        return member

    async def disconnect(self) -> None:
        errors: list[BaseException] = []
        for p in self._producers:
            try:
                await p.flush()
            except Exception as err:
                errors.append(err)
        for c in list(self._consumers):
            await c.close()
        self._consumers.clear()
        self._producers.clear()
        if self._producer is not None:
            client, self._producer = self._producer, None
            await self.run(client.close, self.options.timeout)
        await self._stop_pool()
        if errors:
            raise errors[0]

    async def _stop_pool(self) -> None:
        try:
            await self.run(self.metadata.close)
        finally:
            self._pool.stop()


def _check_sasl(url: StreamUrl, conf: Mapping[str, Any]) -> None:
    """Credentials given while ``security.protocol`` is not a SASL one would be ignored by
    librdkafka without a word (and the client would connect unauthenticated): refuse."""
    given = [k for k in ("sasl.username", "sasl.password") if k in conf]
    protocol = str(conf.get("security.protocol", "plaintext"))
    if given and not protocol.lower().startswith("sasl"):
        raise UsageError(
            f"kafka://{mapping.bootstrap_servers(url)}: {' and '.join(given)} given but "
            f"security.protocol is {protocol!r}: librdkafka would not use them "
            "(set security.protocol=SASL_SSL or SASL_PLAINTEXT, and sasl.mechanism)"
        )


def _reachable(nodes: Sequence[str], timeout: float) -> None:
    """Fail fast when no bootstrap node accepts a TCP connection (a broker that is down
    refuses at once; librdkafka would retry until the timeout)."""
    errors = []
    for node in nodes:
        host, port = mapping.node_address(node)
        try:
            socket.create_connection((host, port), timeout=min(timeout, 5)).close()
            return
        except OSError as err:
            errors.append(f"{node}: {err.strerror or err}")
    raise BackendError("; ".join(errors))
