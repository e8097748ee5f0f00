"""A Kafka consumer that librdkafka cannot move ends in a clear error (ssfile/adapters/kafka/
stall.py); one that only waits on a quiet topic, also across a broker restart, never does.
Against real brokers: the shared noida-db and Tansu, and private noida-db brokers for the
ones that stop."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from kafka_helpers import TEST_CONSUMER, PrivateNoida, brokers, run, ssfile_cli, streamer

from ssfile.errors import BackendError
from ssfile.streamer import ConsumerMode, ConsumerOptions

#: a consumer that refuses every fetch response of a topic holding 2 MB: librdkafka checks
#: receive.message.max.bytes >= fetch.max.bytes + 512 and fetch.max.bytes >=
#: message.max.bytes (min 1000), but noida-db answers with every record whatever
#: fetch.max.bytes says, and Tansu with up to 1 MiB (fetch.message.max.bytes); 100 kB
#: still takes the small answers (metadata, watermarks)
SMALL_RECEIVE = {
    "receive.message.max.bytes": 100_000,
    "fetch.max.bytes": 1000,
    "message.max.bytes": 1000,
}


@pytest.fixture()
def broker(request):
    name = getattr(request, "param", "noida")
    return request.getfixturevalue("kafka_bootstrap" if name == "noida" else "tansu_bootstrap")


async def _fill(bootstrap: str, prefix: str, key: str = "big") -> None:
    s = await streamer(bootstrap, topic_prefix=prefix)
    p = await s.create_producer(key)
    for _ in range(2000):
        p.send(b"x" * 1000)
    await p.flush()
    await s.disconnect()


@brokers()
@pytest.mark.parametrize("mode", [ConsumerMode.REAL_TIME, ConsumerMode.LOAD_BALANCED])
def test_a_refused_fetch_response_ends_in_a_backend_error(broker, mode, caplog):
    prefix = f"t{uuid.uuid4().hex[:10]}."
    group = None if mode is ConsumerMode.REAL_TIME else "g"

    async def main():
        await _fill(broker, prefix)
        s = await streamer(
            broker,
            topic_prefix=prefix,
            stall_timeout=2.0,
            consumer_config={**TEST_CONSUMER, **SMALL_RECEIVE},
        )
        options = ConsumerOptions(mode=mode, group=group, auto_stream_reset="earliest")
        c = await s.create_consumer(["big"], options)
        with pytest.raises(BackendError) as got:
            while True:
                await c.next_batch()
        await s.disconnect()
        return str(got.value)

    with caplog.at_level(logging.WARNING, logger="ssfile.kafka"):
        text = run(main(), timeout=40)
    assert text.startswith(f"kafka://{broker}: consumer: no message for 2s"), text
    assert "receive.message.max.bytes" in text and "\n" not in text, text
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and not getattr(r, "librdkafka", False)
    ]
    assert any("librdkafka retries" in w for w in warned), warned


def test_relay_from_a_refused_fetch_exits_with_one_error_line(kafka_bootstrap, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:10]}."
    run(_fill(kafka_bootstrap, prefix))
    settings = [f"-Xkafka.{k}={v}" for k, v in SMALL_RECEIVE.items()]
    r = ssfile_cli(
        "relay",
        "--input",
        f"kafka://{kafka_bootstrap}/{prefix}big",
        "--output",
        f"file://{tmp_path}/out.ss/x",
        "--offset",
        "start",
        "--retry-for",
        "2",
        *settings,
        timeout=40,
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("ssfile relay: error: ")]
    assert len(errors) == 1 and "receive.message.max.bytes" in errors[0], r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("ssfile relay: warning: ")]
    assert warnings and len(warnings) + 1 == len(r.stderr.splitlines()), r.stderr
    assert "librdkafka retries" in warnings[0], r.stderr


def test_a_broker_gone_for_good_ends_a_follower_in_a_backend_error(tmp_path):
    server = PrivateNoida(tmp_path)
    server.start()

    async def main():
        s = await streamer(server.bootstrap, stall_timeout=2.0, timeout=2.0)
        p = await s.create_producer("k")
        await p.send(b"one")
        c = await s.create_consumer(["k"], ConsumerOptions(auto_stream_reset="earliest"))
        assert (await c.next()).payload == b"one"
        server.stop()
        with pytest.raises(BackendError) as got:
            await c.next()
        await s.disconnect()
        return str(got.value)

    try:
        text = run(main(), timeout=40)
    finally:
        server.stop()
    assert text.startswith(f"kafka://{server.bootstrap}: consumer: no message for 2s"), text


def test_an_idle_follower_waits_across_a_broker_restart(tmp_path, caplog):
    """librdkafka reports the restart (a warning: a stall began), then nothing comes: past
    stall_timeout the broker answers with nothing to fetch, so the follower keeps waiting,
    and gets what is produced later."""
    server = PrivateNoida(tmp_path)
    server.start()

    async def main():
        s = await streamer(server.bootstrap, stall_timeout=5.0, timeout=2.0)
        p = await s.create_producer("k")
        await p.send(b"one")
        c = await s.create_consumer(["k"], ConsumerOptions(auto_stream_reset="earliest"))
        assert (await c.next()).payload == b"one"
        waiting = asyncio.ensure_future(c.next())
        await asyncio.sleep(0.5)
        server.stop()
        await asyncio.sleep(1.0)
        server.start()
        await asyncio.sleep(5.0)  # past stall_timeout after the first error
        assert not waiting.done(), waiting.result()
        await p.send(b"two")
        assert (await waiting).payload == b"two"
        await s.disconnect()

    try:
        with caplog.at_level(logging.WARNING, logger="ssfile.kafka"):
            run(main(), timeout=60)
    finally:
        server.stop()
    warned = [r for r in caplog.records if "librdkafka retries" in r.getMessage()]
    assert warned, "the restart was not seen as a stall"


@brokers()
def test_an_idle_follower_of_a_quiet_topic_never_raises(broker):
    async def main():
        s = await streamer(broker, stall_timeout=0.2)
        p = await s.create_producer("k")
        await p.send(b"one")
        c = await s.create_consumer(["k"], ConsumerOptions(auto_stream_reset="earliest"))
        assert (await c.next()).payload == b"one"
        waiting = asyncio.ensure_future(c.next())
        await asyncio.sleep(2.0)  # ten stall_timeouts with nothing to read
        assert not waiting.done(), waiting.result()
        await p.send(b"two")
        assert (await waiting).payload == b"two"
        await s.disconnect()

    run(main(), timeout=40)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_stall_watch_rules(caplog):
    """The rules of stall.py with a fake clock: a warning once per stall_timeout, the look
    at the broker after stall_timeout (raise if behind or unanswered, else the stall ends),
    a stall ended by GAP seconds without a problem."""
    from ssfile.adapters.kafka.stall import GAP, StallWatch

    clock = _Clock()
    w = StallWatch("h:1", 5.0, clock)
    looks: list[bool] = []
    w.behind = lambda: looks.append(True) or False  # the broker answers, nothing to fetch
    w.on_error(type("E", (), {"str": lambda self: "Receive failed: pwd-less text"})())
    w.on_log("FAIL a log line")  # a log line does not replace the error's text
    with caplog.at_level(logging.WARNING, logger="ssfile.kafka"):
        w.nothing_fetched()
        clock.now += 1
        w.on_error(type("E", (), {"str": lambda self: "1/1 brokers are down"})())
        w.nothing_fetched()  # no second warning within stall_timeout
    assert [r.getMessage() for r in caplog.records] == [
        "kafka://h:1: consumer: Receive failed: pwd-less text (librdkafka retries; "
        "the consumer fails if it gets no message for 5s)"
    ]
    clock.now += 4
    w.problem("again")
    w.nothing_fetched()  # 5 s: the look finds nothing to fetch, the stall ends
    assert looks == [True] and w.since is None

    w.problem("stuck")
    w.behind = lambda: True
    clock.now += GAP + 1  # no problem for GAP seconds: over, no look
    w.nothing_fetched()
    assert w.since is None

    w.problem("stuck")
    clock.now += 5
    w.problem("stuck")
    with pytest.raises(BackendError, match=r"^kafka://h:1: consumer: no message for 5s while "):
        w.nothing_fetched()

    def unanswered() -> bool:
        raise BackendError("kafka://h:1: watermarks of 't' partition 0: Local: Timed out")

    w.behind = unanswered
    with pytest.raises(BackendError) as got:
        w.nothing_fetched()
    assert str(got.value) == (
        "kafka://h:1: consumer: no message for 5s while librdkafka reports: stuck; "
        "then watermarks of 't' partition 0: Local: Timed out"
    )
