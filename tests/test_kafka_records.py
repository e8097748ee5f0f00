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


def real(topic, partition, offset, ts=(1, 1000), value=b"v"):
    """A confluent-kafka record itself (its own C type: the accelerator's fast path)."""
    return confluent_kafka.Message(
        topic=topic, partition=partition, offset=offset, timestamp=ts, value=value
    )


@pytest.mark.parametrize("take", TAKERS)
def test_real_records_are_taken_and_released(take):
    records = [
        real("t", 0, 5),
        real("t", 0, 6, ts=(0, -1), value=None),
        real("t", 1, 9, ts=(2, 77)),
        real("u", 0, 1),
    ]
    out: list = []
    tops: dict = {}
    assert take(records, 0, {"t": "K"}, out, tops) == 3
    assert [fields(m) for m in out] == [
        ("K", 0, 5, 1000, b"v", None),
        ("K", 0, 6, 0, b"", None),
        ("K", 1, 9, 77, b"v", None),
    ]
    assert tops == {("K", 0): 7, ("K", 1): 10}
    # the records taken are released at once; the one not taken stays for the caller
    assert records[:3] == [None, None, None] and records[3].topic() == "u"
    # a plain record object mixed in (another type) goes the generic way
    more = [real("t", 2, 1), record("t", 2, 2), real("t", 2, 3)]
    assert take(more, 0, {"t": "K"}, out, tops) == 3
    assert [fields(m)[2] for m in out[3:]] == [1, 2, 3] and tops[("K", 2)] == 4


class FakeClient:
    """consume() gives the queued batches in turn (then nothing) and notes its thread and
    the timeout it was called with."""

    def __init__(self, *batches):
        self.batches = list(batches)
        self.calls: list[tuple[str, float]] = []

    def consume(self, n, timeout):
        import threading

        self.calls.append((threading.current_thread().name, timeout))
        return self.batches.pop(0) if self.batches else []


def test_fetch_inline_takes_what_is_ready_on_the_calling_thread():
    import asyncio
    import threading

    async def main():
        client = FakeClient([real("t", 0, 1)], [], [], [real("t", 0, 2)])
        f = fetch.Fetcher(client, confluent_kafka, "here:1", "")
        here = threading.current_thread().name
        got = await f.fetch(10, 0.5, inline=True)  # ready: taken here, no wait
        assert [m.sequence for m in got.messages] == [1]
        assert client.calls == [(here, 0)]
        # nothing ready: the wait goes to the client's thread (which finds nothing too)
        got = await f.fetch(10, 0.5, inline=True)
        assert got.messages == []
        assert client.calls[1] == (here, 0) and client.calls[2] == ("ssfile-kafka-consumer", 0.5)
        got = await f.fetch(10, 0.5)  # not inline (groups): always the thread
        assert [m.sequence for m in got.messages] == [2]
        assert client.calls[3] == ("ssfile-kafka-consumer", 0.5)
        await f.close()

    asyncio.run(main())


def test_fetch_inline_hands_over_a_fetch_left_in_flight_first():
    import asyncio
    from concurrent.futures import Future

    async def main():
        client = FakeClient([real("t", 0, 2)])
        f = fetch.Fetcher(client, confluent_kafka, "here:1", "")
        left = fetch.Fetched()  # what a cancelled next() left: fetched, not handed out yet
        left.messages.append(fetch.Message("t", 0, 1, 0, b""))
        f._pending = Future()
        f._pending.set_result(left)
        got = await f.fetch(10, 0.5, inline=True)
        assert [m.sequence for m in got.messages] == [1]  # the older batch first
        got = await f.fetch(10, 0.5, inline=True)
        assert [m.sequence for m in got.messages] == [2]
        await f.close()

    asyncio.run(main())


def test_fetch_inline_never_overlaps_a_call_in_the_clients_thread():
    import asyncio
    import threading

    async def main():
        client = FakeClient([real("t", 0, 1)])
        f = fetch.Fetcher(client, confluent_kafka, "here:1", "")
        gate = threading.Event()
        busy = asyncio.ensure_future(f.call(gate.wait, 5))  # e.g. an assign of a seek
        await asyncio.sleep(0.01)
        fetching = asyncio.ensure_future(f.fetch(10, 0.5, inline=True))
        await asyncio.sleep(0.05)
        assert client.calls == []  # consume waits its turn: not here, not beside the call
        gate.set()
        await busy
        got = await fetching
        assert [m.sequence for m in got.messages] == [1]
        assert client.calls == [("ssfile-kafka-consumer", 0.5)]
        await f.close()

    asyncio.run(main())
