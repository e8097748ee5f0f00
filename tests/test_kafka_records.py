"""Kafka records -> messages: the C loop (``_speedups.kafka_messages``) and its pure twin
(``fetch._take``) give the same messages and per-partition tops, and stop at the same
records (an error or end-of-partition event, a topic not known yet) for Fetcher._consume."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ssfile.adapters.kafka import fetch
from ssfile.codec.accel import speedups

confluent_kafka = pytest.importorskip("confluent_kafka")

TAKERS = [pytest.param(fetch._take, id="pure")]
if speedups is not None and hasattr(speedups, "kafka_messages"):
    TAKERS.append(pytest.param(speedups.kafka_messages, id="C"))


def record(topic, partition, offset, ts=(1, 1000), value=b"v", err=None):
    return SimpleNamespace(
        topic=lambda: topic,
        partition=lambda: partition,
        offset=lambda: offset,
        timestamp=lambda: ts,
        value=lambda: value,
        error=lambda: err,
    )


def fields(m):
    return (m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload, m.offset)


@pytest.mark.parametrize("take", TAKERS)
def test_runs_of_partitions_and_stops(take):
    eof = confluent_kafka.KafkaError(confluent_kafka.KafkaError._PARTITION_EOF)
    records = [
        record("t", 0, 5),
        record("t", 0, 6, ts=(0, -1), value=None),
        record("t", 1, 9, ts=(2, 77)),
        record("t", 0, 7),
        record("t", 2, 3, err=eof),
        record("t", 2, 4),
        record("u", 0, 1),
    ]
    keys = {"t": "K"}
    out: list = []
    tops: dict = {}
    assert take(records, 0, keys, out, tops) == 4  # the end-of-partition event
    assert [fields(m) for m in out] == [
        ("K", 0, 5, 1000, b"v", None),
        ("K", 0, 6, 0, b"", None),  # no timestamp: 0; no value: b""
        ("K", 1, 9, 77, b"v", None),
        ("K", 0, 7, 1000, b"v", None),
    ]
    assert tops == {("K", 0): 8, ("K", 1): 10}
    assert take(records, 5, keys, out, tops) == 6  # topic "u" is not known yet
    assert tops[("K", 2)] == 5 and len(out) == 5
    keys["u"] = "U"
    assert take(records, 6, keys, out, tops) == 7
    assert fields(out[-1]) == ("U", 0, 1, 1000, b"v", None) and tops[("U", 0)] == 2
    assert take(records, 7, keys, out, tops) == 7


@pytest.mark.parametrize("take", TAKERS)
def test_fetcher_consume_over_both_loops(take, monkeypatch):
    monkeypatch.setattr(fetch, "_KAFKA_MESSAGES", take)
    eof = confluent_kafka.KafkaError(confluent_kafka.KafkaError._PARTITION_EOF)
    records = (  # a tuple: consume() may give any sequence
        record("ns.a", 0, 1),
        record("ns.b", 3, 8, err=eof),
        record("ns.b", 3, 8),
        record("ns.a", 0, 2),
    )
    client = SimpleNamespace(consume=lambda n, timeout: records)
    got = fetch.Fetcher(client, confluent_kafka, "here:1", "ns.")._consume(10, 0)
    assert [fields(m)[:3] for m in got.messages] == [("a", 0, 1), ("b", 3, 8), ("a", 0, 2)]
    assert got.tops == {("a", 0): 3, ("b", 3): 9}
    assert got.eofs == {("b", 3): 8}
