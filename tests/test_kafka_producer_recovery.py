"""The Kafka producer client across a broker that lost its idempotence state (issue 18): a
fatal error from librdkafka, or records failed with OUT_OF_ORDER_SEQUENCE_NUMBER, make it
replace its librdkafka producer and send the unreported records again, in order; a client
that keeps failing fails its receipts; nothing ever waits forever.

librdkafka is replaced by a scripted fake here (the real broker restart is in
test_kafka_relay.py), so that the fatal path runs every time."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import KafkaError, KafkaException

from ssfile.adapters.kafka import producer as kp
from ssfile.errors import BackendError
from ssfile.streamer.flow import Window


class Record:
    def __init__(self, topic, partition, offset, value):
        self._t, self._p, self._o, self._v = topic, partition, offset, value

    def topic(self):
        return self._t

    def partition(self):
        return self._p

    def offset(self):
        return self._o

    def timestamp(self):
        return (1, 1000)


class Broker:
    """What the fake producers stored, per partition, in order."""

    def __init__(self):
        self.log: list[bytes] = []


class FakeProducer:
    """produce() queues; poll() stores up to ``accept`` records and reports them, then
    (``fatal_after``) raises a fatal error and from then on refuses everything."""

    def __init__(self, broker, error_cb, fatal_after=None, fail_with=None):
        self.broker, self.error_cb = broker, error_cb
        self.queue: list[tuple] = []
        self.fatal_after, self.fail_with = fatal_after, fail_with
        self.dead = False
        self.delivered = 0

    def produce(self, topic, payload, partition=0, timestamp=0, on_delivery=None):
        if self.dead:
            raise KafkaException(KafkaError(KafkaError._FATAL, "Local: Fatal error"))
        self.queue.append((topic, partition, payload, on_delivery))

    def poll(self, timeout):
        while self.queue and not self.dead:
            if self.fatal_after is not None and self.delivered >= self.fatal_after:
                if self.fail_with is not None:  # one record failed with the error first
                    topic, partition, payload, cb = self.queue.pop(0)
                    cb(KafkaError(self.fail_with), Record(topic, partition, -1, payload))
                self.dead = True
                raise KafkaException(
                    KafkaError(
                        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence desync", fatal=True
                    )
                )
            topic, partition, payload, cb = self.queue.pop(0)
            self.broker.log.append(payload)
            self.delivered += 1
            cb(None, Record(topic, partition, len(self.broker.log) - 1, payload))
        return 0

    def flush(self, timeout):
        return len(self.queue)

    def purge(self):
        self.queue.clear()


def client_with(plans, broker):
    """A ProducerClient whose successive librdkafka producers follow ``plans``."""
    made = []

    def factory(error_cb, again):
        plan = plans[min(len(made), len(plans) - 1)]
        made.append(FakeProducer(broker, error_cb, **plan))
        return made[-1]

    return kp.ProducerClient(factory, "fake:9092", KafkaError), made


async def outcome(receipt):
    try:
        return await receipt
    except BackendError as err:
        return err


def producer_of(client):
    return kp.KafkaProducer(client, "k", "k", 0, Window(None, "fake"))


@pytest.mark.parametrize("fail_with", [None, KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER])
def test_a_fatal_error_replaces_the_producer_and_sends_the_rest_again(fail_with):
    broker = Broker()

    async def main():
        client, made = client_with([{"fatal_after": 30, "fail_with": fail_with}, {}], broker)
        p = producer_of(client)
        receipts = [p.send(b"m%03d" % i) for i in range(100)]
        await asyncio.wait_for(p.flush(), 10)  # before: the polling task died, flush hung
        got = [(await r).payload for r in receipts]
        return got, made, client

    got, made, client = asyncio.run(main())
    want = [b"m%03d" % i for i in range(100)]
    assert got == want
    assert broker.log == want  # every record once, in order (no record was lost in between)
    assert len(made) == 2 and client.recoveries == 1


def test_a_producer_that_keeps_failing_fails_its_receipts_instead_of_waiting():
    broker = Broker()

    async def main():
        client, made = client_with([{"fatal_after": 5}, {"fatal_after": 0}], broker)
        p = producer_of(client)
        receipts = [p.send(b"m%03d" % i) for i in range(20)]
        with pytest.raises(BackendError, match="sequence desync"):
            await asyncio.wait_for(p.flush(), 10)
        outcomes = [await outcome(r) for r in receipts]
        return outcomes, made, p

    outcomes, made, p = asyncio.run(main())
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    assert [m.payload for m in ok] == [b"m%03d" % i for i in range(5)] == broker.log
    assert all(isinstance(o, BackendError) for o in outcomes[5:])
    assert len(made) == 1 + kp.MAX_RECOVERIES and p.window.failed == 15
