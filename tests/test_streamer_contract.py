"""One backend-agnostic suite: every backend must pass it.

Backends plug in through BACKENDS: a factory returning a connected streamer in which a
producer's messages reach consumers of the same streamer ("earliest" consumers created
after the messages were produced), and that ends the stream after ``producer.end()``.
The Redis and Kafka issues add their backends here.
"""

import asyncio
import io
import itertools

import pytest

from ssfile.errors import EncodeError, StreamError
from ssfile.streamer import ConsumerMode, ConsumerOptions, StreamEnded, connect

_ids = itertools.count()


async def file_backend(tmp_path):
    return await connect(f"file://{tmp_path / f'contract-{next(_ids)}.ss'}")


async def stdio_backend(tmp_path):
    from ssfile.adapters.stdio import StdioStreamer

    # loopback: produced messages reach local consumers; stdin is empty, so the stream
    # ends once they are drained
    return StdioStreamer(stdin=io.BytesIO(b""), stdout=io.BytesIO(), loopback=True)


async def redis_backend(
    tmp_path, env="SSFILE_TEST_REDIS", default="127.0.0.1:6390", url="redis://{addr}/", prefix=""
):
    import os
    import uuid

    # the test server (tests/servers.py); a fresh key prefix per streamer: fresh streams
    addr = os.environ.get(env, default).split(",")[0]
    prefix = f"{prefix}contract-{uuid.uuid4().hex[:12]}."
    s = await connect(url.format(addr=addr), key_prefix=prefix)
    disconnect = s.disconnect

    async def disconnect_and_delete():  # the tests end with disconnect: drop their streams
        async for name in s.client.scan_iter(match=prefix + "*"):
            await s.client.delete(name)
        await disconnect()

    s.disconnect = disconnect_and_delete
    return s


async def redis_cluster_backend(tmp_path):
    # the test Redis Cluster (tests/servers.py), any node: the same backend in cluster mode
    s = await redis_backend(tmp_path, "SSFILE_TEST_REDIS_CLUSTER", "127.0.0.1:7001")
    assert s.cluster  # really the cluster client
    return s


async def redis_password_backend(tmp_path):
    # redis-auth (scripts/services): the default user's password, given in the URL
    from servers import REDIS_AUTH_PASSWORD, redis_auth_node

    url = "redis://:" + REDIS_AUTH_PASSWORD + "@{addr}/"
    return await redis_backend(tmp_path, "SSFILE_TEST_REDIS_AUTH", redis_auth_node(), url)


async def redis_acl_backend(tmp_path):
    # redis-auth: an ACL user allowed only keys rec*, so every stream is under "rec"
    from servers import REDIS_ACL_KEYS, REDIS_ACL_PASSWORD, REDIS_ACL_USER, redis_auth_node

    url = f"redis://{REDIS_ACL_USER}:{REDIS_ACL_PASSWORD}@" + "{addr}/"
    return await redis_backend(
        tmp_path, "SSFILE_TEST_REDIS_AUTH", redis_auth_node(), url, prefix=REDIS_ACL_KEYS
    )


async def rediss_backend(tmp_path):
    # redis-tls: TLS only, the server's certificate checked against the test CA
    from servers import redis_tls_ca, redis_tls_node

    url = "rediss://{addr}/?ssl_ca_certs=" + str(redis_tls_ca())
    return await redis_backend(tmp_path, "SSFILE_TEST_REDIS_TLS", redis_tls_node(), url)


async def kafka_backend(tmp_path):
    import os
    import uuid

    # the test broker (noida-db unless SSFILE_TEST_KAFKA says otherwise); a fresh topic and
    # group namespace per streamer.  Kafka has no end-of-stream mark: ``producer.end()``
    # flushes, and the "earliest, follow=False" consumers end at the high watermarks they
    # saw when created (spec/streamer.md, "Kafka")
    bootstrap = os.environ.get("SSFILE_TEST_KAFKA", "127.0.0.1:19092")
    return await connect(
        f"kafka://{bootstrap}/",
        topic_prefix=f"contract-{uuid.uuid4().hex[:12]}.",
        consumer_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
    )


BACKENDS = {
    "file": file_backend,
    "stdio": stdio_backend,
    "redis": redis_backend,
    "redis_cluster": redis_cluster_backend,
    "redis_password": redis_password_backend,
    "redis_acl": redis_acl_backend,
    "rediss": rediss_backend,
    "kafka": kafka_backend,
}
EARLIEST = ConsumerOptions(auto_stream_reset="earliest", follow=False)
GROUP = ConsumerOptions(
    mode=ConsumerMode.LOAD_BALANCED, group="g", auto_stream_reset="earliest", follow=False
)


@pytest.fixture(params=sorted(BACKENDS))
def make(request, tmp_path):
    return lambda: BACKENDS[request.param](tmp_path)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def drain(consumer):
    return [m async for m in consumer]


def test_order_and_payloads(make):
    async def main():
        s = await make()
        c = None
        if isinstance_stdio(s):
            c = await s.create_consumer(["k"], EARLIEST)
        p = await s.create_producer("k")
        receipts = [p.send(b"m%d" % i) for i in range(500)]
        heads = [await r for r in receipts]
        await p.end()
        c = c or await s.create_consumer(["k"], EARLIEST)
        got = await drain(c)
        assert [m.payload for m in got] == [b"m%d" % i for i in range(500)]
        seqs = [m.sequence for m in got]
        assert seqs == sorted(set(seqs)) == [h.sequence for h in heads]
        assert all(m.stream_key == "k" for m in got)
        await s.disconnect()

    run(main())


def test_key_selection(make):
    async def main():
        s = await make()
        pre = await s.create_consumer(["a"], EARLIEST) if isinstance_stdio(s) else None
        pa, pb = await s.create_producer("a"), await s.create_producer("b")
        for i in range(100):
            (pa if i % 3 else pb).send(b"%d" % i)
        await pa.end()
        await pb.end()
        c = pre or await s.create_consumer(["a"], EARLIEST)
        got = await drain(c)
        assert [m.payload for m in got] == [b"%d" % i for i in range(100) if i % 3]
        await s.disconnect()

    run(main())


def test_group_shares_every_message_once(make):
    async def main():
        s = await make()
        members = []
        if isinstance_stdio(s):
            members = [await s.create_consumer(["k"], GROUP) for _ in range(3)]
        p = await s.create_producer("k")
        for i in range(301):
            p.send(b"%d" % i)
        await p.end()
        members = members or [await s.create_consumer(["k"], GROUP) for _ in range(3)]
        got = [[] for _ in members]
        live = set(range(len(members)))
        while live:
            for i in sorted(live):
                try:
                    got[i].extend(await members[i].next_batch(7))
                except StreamEnded:
                    live.discard(i)
        counts = [len(g) for g in got]
        assert sum(counts) == 301 and max(counts) - min(counts) <= 1
        assert sorted(m.payload for g in got for m in g) == sorted(b"%d" % i for i in range(301))
        await s.disconnect()

    run(main())


def test_stream_end_is_final(make):
    async def main():
        s = await make()
        c = await s.create_consumer(["k"], EARLIEST) if isinstance_stdio(s) else None
        p = await s.create_producer("k")
        p.send(b"only")
        await p.end()
        c = c or await s.create_consumer(["k"], EARLIEST)
        assert (await c.next()).payload == b"only"
        for _ in range(2):
            with pytest.raises(StreamEnded):
                await c.next()
        await s.disconnect()

    run(main())


def test_misuse_errors(make):
    async def main():
        s = await make()
        with pytest.raises(EncodeError):
            await s.create_producer("no spaces")
        with pytest.raises(StreamError):
            await s.create_consumer([], EARLIEST)
        with pytest.raises(StreamError):
            await s.create_consumer(["k"], ConsumerOptions(mode=ConsumerMode.LOAD_BALANCED))
        with pytest.raises(StreamError):
            await s.create_consumer(["k"], ConsumerOptions(group="g"))
        await s.disconnect()

    run(main())


def isinstance_stdio(streamer):
    """stdio delivers at produce time (loopback): its consumers must exist first."""
    from ssfile.adapters.stdio import StdioStreamer

    return isinstance(streamer, StdioStreamer)


def test_empty_stream_key_is_refused(make):
    async def main():
        s = await make()
        with pytest.raises(EncodeError, match=r"\{1,249\}"):
            await s.create_producer("")
        with pytest.raises(EncodeError):
            await s.create_consumer([""], EARLIEST)
        await s.disconnect()

    run(main())
