"""Kafka partitions added while consumers follow a topic, and positions by time in every
partition (issue 16 item 5), against real brokers.  Partitions are added and records
produced by plain confluent-kafka clients; Tansu has no CreatePartitions (strict xfail)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import pytest
from kafka_helpers import ROOT, TANSU_NO_CREATE_PARTITIONS, TEST_CONSUMER, brokers, run, streamer
from servers import kafka_client_config

import ssfile
from ssfile.streamer import ConsumerMode, ConsumerOptions

#: librdkafka looks at the topics' metadata this often (and so do RealTime followers)
REFRESH = {"topic.metadata.refresh.interval.ms": 500}


@pytest.fixture()
def broker(request):
    name = getattr(request, "param", "noida")
    return request.getfixturevalue("kafka_bootstrap" if name == "noida" else "tansu_bootstrap")


def grow(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewPartitions

    admin = AdminClient(kafka_client_config(bootstrap))
    admin.create_partitions([NewPartitions(topic, partitions)])[topic].result(10)


def plain_producer(bootstrap: str, topic: str, partitions: int):  # type: ignore[no-untyped-def]
    """A plain producer that already sees ``partitions`` partitions of ``topic``."""
    from confluent_kafka import Producer

    p = Producer(kafka_client_config(bootstrap))
    deadline = time.monotonic() + 20
    while len(p.list_topics(topic, timeout=5).topics[topic].partitions) < partitions:
        assert time.monotonic() < deadline, f"{topic} never got {partitions} partitions"
        time.sleep(0.05)
    return p


def send(p, topic: str, partition: int, value: bytes, timestamp: int = 0) -> None:  # type: ignore[no-untyped-def]
    p.produce(topic, value, partition=partition, timestamp=timestamp)
    assert p.flush(10) == 0


async def until(c, value: bytes):  # type: ignore[no-untyped-def]
    """Messages of ``c`` up to the first with payload ``value``."""
    got = []
    while not got or got[-1].payload != value:
        got.append(await c.next())
    return got


@brokers(TANSU_NO_CREATE_PARTITIONS)
def test_a_following_realtime_consumer_reads_partitions_added_later(broker):
    async def main():
        s = await streamer(broker, config=REFRESH)
        topic = s.options.topic_prefix + "k"
        await (await s.create_producer("k")).send(b"a")
        c = await s.create_consumer(["k"], ConsumerOptions())  # RealTime, latest, follow
        p = plain_producer(broker, topic, 1)
        send(p, topic, 0, b"after-start")
        assert (await c.next()).payload == b"after-start"
        grow(broker, topic, 3)
        p = plain_producer(broker, topic, 3)
        send(p, topic, 1, b"b")  # before the consumer can have seen partition 1
        send(p, topic, 2, b"c")
        got = [await c.next(), await c.next()]
        await s.disconnect()
        return got

    got = run(main())
    assert sorted((m.shard_id, m.payload) for m in got) == [(1, b"b"), (2, b"c")]


@brokers(TANSU_NO_CREATE_PARTITIONS)
@pytest.mark.parametrize("mode", [ConsumerMode.LOAD_BALANCED, ConsumerMode.RESUMABLE])
def test_a_group_rebalances_onto_partitions_added_later(broker, mode):
    """librdkafka's metadata refresh rebalances the group onto the new partition; it is
    read from its beginning although the group starts at "latest" (its records were
    produced before the rebalance)."""

    async def main():
        s = await streamer(broker, config=REFRESH, consumer_config=TEST_CONSUMER)
        topic = s.options.topic_prefix + "k"
        await (await s.create_producer("k")).flush()
        c = await s.create_consumer(
            ["k"], ConsumerOptions(mode=mode, group="g-" + uuid.uuid4().hex[:6])
        )
        p = plain_producer(broker, topic, 1)
        first = asyncio.ensure_future(c.next())
        while not first.done():  # "latest": only what comes after the group's assignment
            send(p, topic, 0, b"a")
            await asyncio.wait([first], timeout=0.2)
        grow(broker, topic, 2)
        p = plain_producer(broker, topic, 2)
        send(p, topic, 1, b"b")
        got = await until(c, b"b")
        await s.disconnect()
        return got

    got = run(main())
    assert got[-1].shard_id == 1 and {m.payload for m in got[:-1]} <= {b"a"}


def test_record_from_a_time_positions_every_partition(broker, tmp_path):
    """``relay --offset T``: partition 0 has only older records (it starts at its end),
    partition 1 records on both sides of T, partition 2 none; records produced into 0 and
    2 afterwards are recorded too.  noida-db only: Tansu's offsets_for_times gap is the
    strict xfail of test_kafka_backend.py::test_seek_to_a_time_in_every_partition[tansu]."""
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = "times-" + uuid.uuid4().hex[:10]
    admin = AdminClient(kafka_client_config(broker))
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(10)
    p = plain_producer(broker, topic, 3)
    t0 = time.time_ns() // 1_000_000 - 60_000
    for i in range(10):
        send(p, topic, 0, b"old%d" % i, t0 + i)
    for i in range(10):
        send(p, topic, 1, b"p1-%d" % i, t0 + 100 + i)
    rec = tmp_path / "rec.ss"
    relay = subprocess.Popen(
        [
            *(sys.executable, "-m", "ssfile", "relay", "--input", f"kafka://{broker}/{topic}"),
            *("--output", f"file://{rec}", "--offset", str(t0 + 105), "--count", "7"),
            "--keep-headers",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not rec.exists() and relay.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the relay positioned itself (its first record is in the file)
    send(p, topic, 0, b"late0")
    send(p, topic, 2, b"late2")
    try:
        assert relay.wait(60) == 0, relay.stderr.read()
    finally:
        relay.kill()
    with ssfile.open(rec) as r:
        got = sorted((m.shard_id, m.payload) for m in r)
    want = [(0, b"late0")] + [(1, b"p1-%d" % i) for i in range(5, 10)] + [(2, b"late2")]
    assert got == want
