"""Kafka <-> SeaStreamer mapping (pure; notes §10): topic -> stream key, partition -> shard,
offset -> sequence, record timestamp (ms) -> timestamp, value -> payload.  Record keys and
headers are not carried (the consumer's hot loop, fetch.Fetcher._consume, applies it).
No confluent-kafka import here."""

from __future__ import annotations

from typing import Any

from ...errors import BackendError, UsageError
from ...redact import redact
from ...streamer.uri import StreamUrl

#: librdkafka settings of every client (connect options may override them)
BASE_CONFIG: dict[str, Any] = {
    "socket.connection.setup.timeout.ms": 5000,
    "topic.metadata.refresh.interval.ms": 10000,
}
#: consumers: partition EOF events tell a ``follow=False`` consumer it reached the end;
#: offsets are stored only for messages handed to the application (see group.py)
CONSUMER_CONFIG: dict[str, Any] = {
    "enable.partition.eof": True,
    "enable.auto.offset.store": False,
}
PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,
    "linger.ms": 5,
    "queue.buffering.max.messages": 1_000_000,
}

#: a producer that replaces one whose idempotence failed for good (producer.py): a broker
#: that lost its producer state may hand out the same producer id again and then drop the
#: new records as duplicates; without idempotence, one request in flight keeps the order
REPLACEMENT_CONFIG: dict[str, Any] = {
    "enable.idempotence": False,
    "max.in.flight.requests.per.connection": 1,
    "acks": "all",
}


def bootstrap_servers(url: StreamUrl) -> str:
    """``kafka://h1:p1,h2:p2/...`` -> ``"h1:p1,h2:p2"`` (librdkafka adds port 9092 if none)."""
    if url.scheme != "kafka":
        raise UsageError(f"not a kafka:// URL: {url}")
    return ",".join(url.nodes)


def node_address(node: str) -> tuple[str, int]:
    """``host[:port]`` -> (host, port), port 9092 by default (librdkafka's)."""
    host, sep, port = node.rpartition(":")
    if not sep:
        return node, 9092
    return host.strip("[]"), int(port)


def topic_of(prefix: str, stream_key: str) -> str:
    return prefix + stream_key


def key_of(prefix: str, topic: str) -> str:
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic


def one_line(err: BaseException | Any) -> str:
    """A KafkaError / KafkaException / anything as one line of text."""
    inner = err.args[0] if isinstance(err, Exception) and err.args else err
    text = inner.str() if hasattr(inner, "str") and callable(inner.str) else str(inner)
    return redact(" ".join(text.split()) or type(err).__name__)


def backend_error(where: str, err: BaseException | Any, what: str = "") -> BackendError:
    prefix = f"{what}: " if what else ""
    return BackendError(f"kafka://{where}: {prefix}{one_line(err)}")
