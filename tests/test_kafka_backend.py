"""The kafka:// streamer backend against real Kafka-protocol brokers (scripts/services starts
noida-db and Tansu; SSFILE_TEST_KAFKA / SSFILE_TEST_KAFKA_TANSU point elsewhere).

Expected messages come from plain confluent-kafka clients (what the broker really holds),
never from the code under test.  Tests run on noida-db and, where ``brokers`` says so, on
Tansu too; Tansu's known gaps are strict xfails (tests/kafka_helpers.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from kafka_helpers import (
    NOIDA_NO_EVICTION,
    TANSU_NO_CREATE_PARTITIONS,
    TANSU_TIMES,
    TANSU_WATERMARK,
    broker_params,
    brokers,
    free_port,
    run,
    streamer,
)
from servers import kafka_client_config

from ssfile.adapters.kafka import mapping as kafka_map
from ssfile.errors import BackendError, EncodeError, StreamError, UsageError
from ssfile.streamer import ConsumerMode, ConsumerOptions, StreamEnded, connect, parse_stream_url

EARLIEST = ConsumerOptions(auto_stream_reset="earliest", follow=False)
FOLLOW = ConsumerOptions(auto_stream_reset="earliest")


@pytest.fixture()
def broker(request):
    name = getattr(request, "param", "noida")
    return request.getfixturevalue("kafka_bootstrap" if name == "noida" else "tansu_bootstrap")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def plain_read(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, int, int, bytes]]:
    """(partition, offset, timestamp, value) of everything in ``topic``, read by a plain
    confluent-kafka consumer (until each partition reports its end)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            **kafka_client_config(bootstrap),
            "group.id": "plain-" + uuid.uuid4().hex,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, -2) for p in range(partitions)])
    out, eof, deadline = [], set(), time.monotonic() + 20
    while len(eof) < partitions and time.monotonic() < deadline:
        for m in c.consume(1000, 0.2):
            if m.error() is None:
                out.append((m.partition(), m.offset(), m.timestamp()[1], m.value()))
            else:
                eof.add(m.partition())
    c.close()
    return out


async def take(consumer, n: int) -> list:
    got: list = []
    while len(got) < n:
        got.extend(await consumer.next_batch(n - len(got)))
    return got


async def produce_spread(s, key: str, n: int, partitions: int, t0: int):
    """``n`` messages, message i to partition i % partitions with timestamp t0 + i."""
    ps = [await s.create_producer(key, shard_id=p) for p in range(partitions)]
    receipts = [ps[i % partitions].send(b"m%d" % i, timestamp=t0 + i) for i in range(n)]
    for p in ps:
        await p.flush()
    return [r.result() for r in receipts]


def header(m) -> tuple:
    return (m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload)


# ---- mapping (pure) ------------------------------------------------------------------------


def test_mapping_of_records():
    import confluent_kafka

    from ssfile.adapters.kafka.fetch import Fetcher

    def record(ts, value, err=None):
        return SimpleNamespace(
            topic=lambda: "ns.orders",
            partition=lambda: 2,
            offset=lambda: 41,
            timestamp=lambda: ts,
            value=lambda: value,
            error=lambda: err,
        )

    eof = confluent_kafka.KafkaError(confluent_kafka.KafkaError._PARTITION_EOF)
    records = [record((1, 1700000000123), None), record((0, -1), b"v"), record((0, -1), None, eof)]
    client = SimpleNamespace(consume=lambda n, timeout: records)
    fetched = Fetcher(client, confluent_kafka, "here:1", "ns.")._consume(10, 0)
    assert [header(m) for m in fetched.messages] == [
        ("orders", 2, 41, 1700000000123, b""),
        ("orders", 2, 41, 0, b"v"),
    ]  # no timestamp: 0
    assert fetched.eofs == {("orders", 2): 41}
    url = parse_stream_url("kafka://a:1,b:2/t")
    assert kafka_map.bootstrap_servers(url) == "a:1,b:2"
    assert kafka_map.node_address("broker") == ("broker", 9092)


# ---- producers and RealTime consumers ------------------------------------------------------


@brokers()
def test_receipts_are_what_the_broker_holds(broker):
    async def main():
        s = await streamer(broker, partitions=3)
        heads = await produce_spread(s, "k", 90, 3, now_ms() - 60_000)
        c = await s.create_consumer(["k"], FOLLOW)
        got = await take(c, 90)
        await s.disconnect()
        return s.options.topic_prefix + "k", heads, got

    topic, heads, got = run(main())
    plain = plain_read(broker, topic, 3)
    assert sorted((h.shard_id, h.sequence, h.timestamp_ms, h.payload) for h in heads) == sorted(
        plain
    )
    assert sorted(map(header, got)) == sorted(map(header, heads))
    for p in range(3):  # per partition: offset order
        offsets = [m.sequence for m in got if m.shard_id == p]
        assert offsets == sorted(offsets) and len(offsets) == 30


@brokers(TANSU_WATERMARK)
def test_follow_false_ends_at_the_high_watermarks_seen_at_start(broker):
    async def main():
        s = await streamer(broker, partitions=2, read_batch=7)
        p = await s.create_producer("k")
        for i in range(5):  # several record batches
            for j in range(10):
                p.send(b"%d-%d" % (i, j))
            await p.flush()
        c = await s.create_consumer(["k"], EARLIEST)
        first = await c.next()
        p.send(b"after")  # produced after the consumer started: not part of its stream
        await p.flush()
        rest = [m async for m in c]
        with pytest.raises(StreamEnded):
            await c.next()
        await s.disconnect()
        return [first] + rest

    got = run(main())
    assert [m.payload for m in got] == [b"%d-%d" % (i, j) for i in range(5) for j in range(10)]


@brokers(TANSU_WATERMARK)
def test_latest_starts_after_what_exists(broker):
    async def main():
        s = await streamer(broker)
        p = await s.create_producer("k")
        for i in range(5):
            p.send(b"old%d" % i)
        await p.flush()
        c = await s.create_consumer(["k"], ConsumerOptions(auto_stream_reset="latest"))
        for i in range(3):
            p.send(b"new%d" % i)
        got = await take(c, 3)
        await s.disconnect()
        return got

    assert [m.payload for m in run(main())] == [b"new0", b"new1", b"new2"]


@brokers()
def test_shards_choose_partitions(broker):
    async def main():
        s = await streamer(broker, partitions=3)
        await produce_spread(s, "k", 30, 3, now_ms())
        c = await s.create_consumer(
            ["k"], ConsumerOptions(auto_stream_reset="earliest", shards=(1,))
        )
        got = await take(c, 10)
        with pytest.raises(StreamError, match="no partition 7"):
            await s.create_consumer(["k"], ConsumerOptions(shards=(7,)))
        await s.disconnect()
        return got

    got = run(main())
    assert {m.shard_id for m in got} == {1}
    assert [m.payload for m in got] == [b"m%d" % i for i in range(1, 30, 3)]


@brokers(TANSU_TIMES)
def test_seek_to_a_time_in_every_partition(broker):
    t0 = now_ms() - 60_000

    async def main():
        s = await streamer(broker, partitions=2)
        heads = await produce_spread(s, "k", 40, 2, t0)
        c = await s.create_consumer(["k"], FOLLOW)
        await c.next()
        await c.seek(t0 + 25)  # first with timestamp >= t0 + 25 in each partition
        want = [h for h in heads if h.timestamp_ms >= t0 + 25]
        got = await take(c, len(want))
        await s.disconnect()
        return want, got

    want, got = run(main())
    assert sorted(map(header, got)) == sorted(map(header, want))


def test_rewind_to_offsets_beginning_and_end(broker):
    """noida-db only: Tansu's watermark gap (rewind uses the watermarks) is the strict xfail
    of the two tests above."""

    async def main():
        s = await streamer(broker, partitions=2)
        heads = await produce_spread(s, "k", 20, 2, now_ms())
        c = await s.create_consumer(["k"], FOLLOW)
        await c.rewind(6)
        at6 = await take(c, 8)
        await c.rewind("beginning")
        everything = await take(c, 20)
        await c.rewind("end")
        p = await s.create_producer("k", shard_id=1)
        p.send(b"new")
        after_end = await c.next()
        with pytest.raises(StreamError):
            await c.rewind("middle")
        await s.disconnect()
        return heads, at6, everything, after_end

    heads, at6, everything, after_end = run(main())
    assert sorted(map(header, at6)) == sorted(header(h) for h in heads if h.sequence >= 6)
    assert sorted(map(header, everything)) == sorted(map(header, heads))
    assert after_end.payload == b"new" and after_end.sequence == 10


# ---- groups --------------------------------------------------------------------------------


@brokers()
def test_group_members_in_two_streamers_share_the_partitions(broker):
    group = ConsumerOptions(
        mode=ConsumerMode.LOAD_BALANCED, group="g", auto_stream_reset="earliest"
    )

    async def main():
        a = await streamer(broker, partitions=2)
        b = await streamer(broker, topic_prefix=a.options.topic_prefix)
        heads = await produce_spread(a, "k", 100, 2, now_ms())
        ca, cb = await a.create_consumer(["k"], group), await b.create_consumer(["k"], group)
        got: dict[str, list] = {"a": [], "b": []}

        async def read(name, c):
            while len(got["a"]) + len(got["b"]) < 100:
                try:
                    got[name].extend(await asyncio.wait_for(c.next_batch(), 0.5))
                except TimeoutError:
                    pass

        await asyncio.gather(read("a", ca), read("b", cb))
        await a.disconnect()
        await b.disconnect()
        return heads, got

    heads, got = run(main())
    assert sorted(map(header, got["a"] + got["b"])) == sorted(map(header, heads))


def test_resumable_group_resumes_after_the_commits(broker):
    opts = ConsumerOptions(mode=ConsumerMode.RESUMABLE, group="r", auto_stream_reset="earliest")
    manual = ConsumerOptions(
        mode=ConsumerMode.RESUMABLE, group="r", auto_stream_reset="earliest", auto_commit=False
    )

    async def session(prefix, options, n, commit=False, extra=0):
        s = await streamer(broker, topic_prefix=prefix)
        c = await s.create_consumer(["k"], options)
        got = await take(c, n)
        if commit:
            await c.commit()
        await take(c, extra)  # delivered, not committed
        await s.disconnect()
        return [m.sequence for m in got]

    async def main():
        s = await streamer(broker)
        await produce_spread(s, "k", 100, 1, now_ms())
        await s.disconnect()
        prefix = s.options.topic_prefix
        first = await session(prefix, opts, 40, extra=1)
        second = await session(prefix, manual, 10, commit=True, extra=5)
        third = await session(prefix, manual, 3)
        return first, second, third

    first, second, third = run(main())
    # asking for more acknowledged the 40 (auto commit); the extra one (40) and the 5 extra
    # of the second session (50-54) were never acknowledged: delivered again (at least once)
    assert first == list(range(40))
    assert second == list(range(40, 50))
    assert third == [50, 51, 52]


def test_group_seek_and_misuse(broker):
    async def main():
        s = await streamer(broker)
        t0 = now_ms() - 10_000
        await produce_spread(s, "k", 20, 1, t0)
        g = ConsumerOptions(
            mode=ConsumerMode.LOAD_BALANCED, group="g", auto_stream_reset="earliest"
        )
        c = await s.create_consumer(["k"], g)
        await c.seek(t0 + 12)
        first = await c.next()
        await s.create_consumer(["k"], g)
        with pytest.raises(StreamError, match="alone"):
            await c.rewind("beginning")
        with pytest.raises(StreamError, match="cannot choose shards"):
            await s.create_consumer(
                ["k"], ConsumerOptions(mode=ConsumerMode.LOAD_BALANCED, group="h", shards=(0,))
            )
        with pytest.raises(StreamError, match="real-time"):
            await (await s.create_consumer(["k"], FOLLOW)).commit()
        await s.disconnect()
        return first

    assert run(main()).payload == b"m12"


MEMBER = """
import asyncio, sys
from ssfile.streamer import connect, ConsumerOptions, ConsumerMode
async def main(bootstrap, prefix):
    s = await connect(f"kafka://{bootstrap}/", topic_prefix=prefix, consumer_config=%r)
    c = await s.create_consumer(["k"], ConsumerOptions(mode=ConsumerMode.LOAD_BALANCED, group="g",
                                                       auto_stream_reset="earliest"))
    while True:
        await c.next_batch()
        print("got", flush=True)
asyncio.run(main(*sys.argv[1:]))
"""


@broker_params(noida_gaps=[NOIDA_NO_EVICTION])
def test_a_killed_member_s_partitions_go_to_the_survivor(broker):
    """LoadBalanced across processes: a member process dies (SIGKILL); after the session
    timeout (6 s: the least Kafka brokers accept by default) Kafka gives its partitions to
    the survivor, which then gets every new message."""
    import subprocess
    import sys

    from kafka_helpers import ROOT, TEST_CONSUMER

    async def main():
        # timeout=3: the survivor's close gives up that soon on a group stuck in a rebalance
        s = await streamer(broker, partitions=2, timeout=3)
        ps = [await s.create_producer("k", shard_id=p) for p in range(2)]
        for p in ps:
            await p.send(b"old")
        member = subprocess.Popen(
            [sys.executable, "-c", MEMBER % TEST_CONSUMER, broker, s.options.topic_prefix],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            await asyncio.to_thread(member.stdout.readline)  # it has joined and read
            survivor = await s.create_consumer(
                ["k"],
                ConsumerOptions(
                    mode=ConsumerMode.LOAD_BALANCED, group="g", auto_stream_reset="earliest"
                ),
            )
        finally:
            member.kill()
            member.wait()
        for i in range(20):
            for p in ps:
                p.send(b"new%d" % i)
        new: list = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 16  # Tansu: about 11 s
        while len(new) < 40 and loop.time() < deadline:
            try:
                batch = await asyncio.wait_for(survivor.next_batch(), 1)
            except TimeoutError:
                continue
            new.extend(m for m in batch if m.payload.startswith(b"new"))
        await s.disconnect()
        return new

    new = run(main())
    assert sorted((m.shard_id, m.payload) for m in new) == sorted(
        (p, b"new%d" % i) for i in range(20) for p in (0, 1)
    )


# ---- threads: no blocking confluent-kafka call on the event loop ---------------------------


BLOCKING = {
    "consume",
    "poll",
    "flush",
    "list_topics",
    "get_watermark_offsets",
    "offsets_for_times",
    "assign",
    "subscribe",
    "seek",
    "close",
    "committed",
}


def test_blocking_calls_never_run_on_the_event_loop(broker, monkeypatch):
    import confluent_kafka
    import confluent_kafka.admin

    from ssfile.adapters.kafka import streamer as kafka_adapter

    calls: list[tuple[str, str]] = []

    def recording(cls):
        class Proxy:
            def __init__(self, conf):
                self._inner = cls(conf)

            def __getattr__(self, name):
                attr = getattr(self._inner, name)
                if name in BLOCKING or name == "commit":

                    def call(*a, **kw):
                        # commit(asynchronous=True), poll(0) and consume(n, 0) return at once
                        if name == "commit":
                            waits = kw.get("asynchronous") is False
                        elif name == "consume":
                            waits = a[1:2] != (0,)
                        else:
                            waits = name != "poll" or a[:1] != (0,)
                        if waits:
                            calls.append((name, threading.current_thread().name))
                        return attr(*a, **kw)

                    return call
                return attr

        return Proxy

    class Module:  # the module as the backend sees it, with recording client classes
        def __init__(self, module, **overrides):
            self._module = module
            self.__dict__.update(overrides)

        def __getattr__(self, name):
            return getattr(self._module, name)

    modules = {
        "confluent_kafka": Module(
            confluent_kafka,
            Consumer=recording(confluent_kafka.Consumer),
            Producer=recording(confluent_kafka.Producer),
        ),
        "confluent_kafka.admin": Module(
            confluent_kafka.admin, AdminClient=recording(confluent_kafka.admin.AdminClient)
        ),
    }
    monkeypatch.setattr(kafka_adapter, "require", lambda module, extra: modules[module])

    async def main():
        s = await streamer(broker)
        await produce_spread(s, "k", 10, 1, now_ms())
        c = await s.create_consumer(["k"], FOLLOW)
        await take(c, 10)
        await c.seek(0)
        await c.rewind(3)
        with pytest.raises(asyncio.TimeoutError):  # cancelled while waiting: nothing lost
            await asyncio.wait_for(take(c, 8), 0.5)
        g = await s.create_consumer(
            ["k"],
            ConsumerOptions(
                mode=ConsumerMode.RESUMABLE,
                group="x",
                auto_stream_reset="earliest",
                auto_commit=False,
            ),
        )
        await take(g, 10)
        await g.commit()
        await s.disconnect()
        return threading.current_thread().name

    loop_thread = run(main())
    assert {name for name, _ in calls} >= {
        "consume",
        "flush",
        "list_topics",
        "assign",
        "subscribe",
        "offsets_for_times",
        "get_watermark_offsets",
        "commit",
        "close",
    }
    assert [c for c in calls if c[1] == loop_thread] == []


def test_a_cancelled_next_loses_nothing(broker):
    async def main():
        s = await streamer(broker, read_batch=5)
        await produce_spread(s, "k", 30, 1, now_ms())
        c = await s.create_consumer(["k"], FOLLOW)
        got = []
        while len(got) < 30:
            try:
                got.extend(await asyncio.wait_for(c.next_batch(3), 0.001))
            except TimeoutError:
                pass
        await s.disconnect()
        return got

    assert [m.sequence for m in run(main())] == list(range(30))


# ---- faults and bad input ------------------------------------------------------------------


def test_broker_down_at_start_is_a_clear_error():
    port = free_port()

    async def main():
        with pytest.raises(BackendError, match=rf"kafka://127.0.0.1:{port}: cannot connect"):
            await connect(f"kafka://127.0.0.1:{port}/", timeout=3)

    run(main(), timeout=20)


@brokers()
def test_unknown_topic(broker):
    async def main():
        s = await streamer(broker, create_topics=False)
        with pytest.raises(StreamError, match="unknown topic"):
            await s.create_consumer(["missing"], FOLLOW)
        with pytest.raises(StreamError, match="unknown topic"):
            await s.create_producer("missing")
        await s.disconnect()

    run(main())


@brokers(TANSU_NO_CREATE_PARTITIONS)
def test_a_producer_of_a_new_shard_grows_the_topic(broker):
    async def main():
        s = await streamer(broker)
        await (await s.create_producer("k")).flush()
        p = await s.create_producer("k", shard_id=2)
        head = await p.send(b"x")
        await s.disconnect()
        return head

    assert run(main()).shard_id == 2


def test_bad_uris_and_options(broker):
    with pytest.raises(UsageError, match="no node"):
        parse_stream_url("kafka:///t")
    with pytest.raises(UsageError, match="bad port"):
        parse_stream_url("kafka://host:99999/t")
    with pytest.raises(UsageError, match="ending slash"):
        parse_stream_url("kafka://host:9092")

    async def main():
        with pytest.raises(UsageError, match="unexpected keyword argument 'bogus'"):
            await connect(f"kafka://{broker}/", bogus=1)
        s = await streamer(broker)
        with pytest.raises(EncodeError, match="partition"):
            await s.create_producer("k", shard_id=-1)
        with pytest.raises(EncodeError):
            await s.create_producer("bad key")
        await s.disconnect()

    run(main())


def test_delivery_fails_clearly_when_the_broker_is_gone(tmp_path):
    from kafka_helpers import PrivateNoida

    server = PrivateNoida(tmp_path)
    server.start()

    async def main():
        s = await streamer(
            server.bootstrap, delivery_timeout=5.0
        )  # room for a loaded machine; the lost one fails after it
        p = await s.create_producer("k")
        await p.send(b"stored")
        server.stop()
        r = p.send(b"lost")
        with pytest.raises(BackendError, match="delivery to topic .* failed"):
            await p.flush()
        with pytest.raises(BackendError):
            await r
        await s.disconnect()

    try:
        run(main(), timeout=30)
    finally:
        server.stop()
