"""redis:// streamer throughput against plain redis-py loops, measured in one run.

    scripts/services start redis
    .venv/bin/python bench/redis_producer.py                   # 200,000 messages, best of 3
    .venv/bin/python bench/redis_producer.py --messages 50000  # a quick look

Producing (100-byte payloads into field ``msg``, each row into a fresh stream):

* ``redis-py sync pipeline``: ``pipe.xadd`` x 1000 then ``execute()`` (redis.Redis);
* ``redis-py asyncio pipeline``: the same with ``redis.asyncio`` (what the backend uses);
* ``ssfile RedisProducer``: ``send()`` for every message (``await drain()`` when it raises
  BufferFull at the producer's bound), then ``flush()`` (receipts not awaited);
* ``ssfile RedisProducer, receipts awaited``: the same, then every receipt's header read.

On the Redis Cluster (``--cluster``, default 127.0.0.1:7001; ``--cluster ""`` skips it), same
run: the plain redis-py asyncio ``RedisCluster`` pipeline, the ssfile producer into one shard
stream (one master), and into 3 shard streams on different masters at once (``n`` in all).
Ratios are against the single-server ssfile producer measured just before.

Consuming the stream just produced (for reference): a plain asyncio ``XREAD COUNT 1000`` loop,
the RealTime consumer (``next_batch``), and a LoadBalanced consumer (XREADGROUP + XACK).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import redis  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from ssfile.errors import BufferFull  # noqa: E402
from ssfile.streamer import ConsumerMode, ConsumerOptions, StreamEnded, connect  # noqa: E402

BATCH = 1000


def fresh_key() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}"


def sync_pipeline(addr: tuple[str, int], key: str, n: int, payload: bytes) -> None:
    client = redis.Redis(host=addr[0], port=addr[1])
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(key, {"msg": payload})
        if i % BATCH == BATCH - 1:
            pipe.execute()
    pipe.execute()
    client.close()


async def async_pipeline(
    addr: tuple[str, int], key: str, n: int, payload: bytes, cluster: bool = False
) -> None:
    """redis-py's asyncio pipeline of XADDs, BATCH a round trip (on a cluster: RedisCluster's)."""
    kind = aioredis.RedisCluster if cluster else aioredis.Redis
    client = kind(host=addr[0], port=addr[1])
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(key, {"msg": payload})
        if i % BATCH == BATCH - 1:
            await pipe.execute()
    await pipe.execute()
    await client.aclose()


async def producer(addr: tuple[str, int], key: str, n: int, payload: bytes, receipts: bool) -> None:
    s = await connect(f"redis://{addr[0]}:{addr[1]}/")
    p = await s.create_producer(key)
    sent = []
    for _ in range(n):
        try:
            sent.append(p.send(payload))
        except BufferFull:  # at the producer's bound (ProducerOptions): wait for room
            await p.drain()
            sent.append(p.send(payload))
    await p.flush()
    if receipts:
        assert sum(r.result().sequence > 0 for r in sent) == n
    await s.disconnect()


async def cluster_producer(
    addr: tuple[str, int], keys: list[str], n: int, payload: bytes, receipts: bool
) -> None:
    """The ssfile producer on the cluster: one producer per key (each key a shard stream
    ``K:N`` of one stream key would be the same), ``n`` messages dealt round-robin."""
    s = await connect(f"redis://{addr[0]}:{addr[1]}/")
    ps = [await s.create_producer(k) for k in keys]
    sent = []
    for i in range(n):
        p = ps[i % len(ps)]
        try:
            sent.append(p.send(payload))
        except BufferFull:
            await p.drain()
            sent.append(p.send(payload))
    for p in ps:
        await p.flush()
    if receipts:
        assert sum(r.result().sequence > 0 for r in sent) == n
    await s.disconnect()


def cluster_keys(addr: tuple[str, int], count: int) -> list[str]:
    """``count`` fresh keys whose hash slots are on ``count`` different masters (if there
    are that many)."""
    client = redis.RedisCluster(host=addr[0], port=addr[1])
    keys: list[str] = []
    nodes: set[str] = set()
    while len(keys) < count:
        k = fresh_key()
        name = client.get_node_from_key(k).name
        if name not in nodes or len(nodes) >= len(client.get_primaries()):
            nodes.add(name)
            keys.append(k)
    client.close()
    return keys


async def xread_loop(addr: tuple[str, int], key: str, n: int) -> None:
    client = aioredis.Redis(host=addr[0], port=addr[1])
    last, got = "0-0", 0
    while got < n:
        reply = await client.xread({key: last}, count=BATCH)
        entries = reply[0][1] if isinstance(reply, list) else reply[key.encode()][0]
        got += len(entries)
        last = entries[-1][0]
    await client.aclose()


async def consumer(addr: tuple[str, int], key: str, n: int, grouped: bool) -> None:
    s = await connect(f"redis://{addr[0]}:{addr[1]}/", group_batch=BATCH)
    opts = (
        ConsumerOptions(
            mode=ConsumerMode.LOAD_BALANCED,
            group=f"g{uuid.uuid4().hex[:6]}",
            auto_stream_reset="earliest",
            follow=False,
        )
        if grouped
        else ConsumerOptions(auto_stream_reset="earliest", follow=False)
    )
    c = await s.create_consumer([key], opts)
    got = 0
    try:
        while True:
            got += len(await c.next_batch(BATCH))
    except StreamEnded:
        pass
    assert got == n, (got, n)
    await s.disconnect()


def best(repeat: int, fn, *args) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = fn(*args)
        if asyncio.iscoroutine(r):
            asyncio.run(r)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--port", type=int, default=6390)
    ap.add_argument("--cluster", default="127.0.0.1:7001", help="a cluster node ('' to skip)")
    args = ap.parse_args()
    addr, n, payload = ("127.0.0.1", args.port), args.messages, b"x" * 100
    client = redis.Redis(host=addr[0], port=addr[1])
    keys: list[str] = []

    def key() -> str:
        keys.append(fresh_key())
        return keys[-1]

    rows = [
        (
            "redis-py sync pipeline (1000 per execute)",
            lambda: sync_pipeline(addr, key(), n, payload),
        ),
        (
            "redis-py asyncio pipeline (1000 per execute)",
            lambda: async_pipeline(addr, key(), n, payload),
        ),
        ("ssfile RedisProducer send + flush", lambda: producer(addr, key(), n, payload, False)),
        ("ssfile RedisProducer, receipts awaited", lambda: producer(addr, key(), n, payload, True)),
    ]
    print(
        f"{n:,} messages of 100 bytes, best of {args.repeat}; Redis "
        f"{client.info('server')['redis_version']}, redis-py {redis.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} cores\n"
    )
    print("| producer | msg/s | vs ssfile single-server |\n|---|---:|---:|")
    cluster_made: list[str] = []
    try:
        rates = {}
        for name, fn in rows:
            rates[name] = n / best(args.repeat, fn)
            ref = rates.get("ssfile RedisProducer send + flush")
            ratio = f"{rates[name] / ref:.2f}x" if ref else ""
            print(f"| {name} | {rates[name]:,.0f} | {ratio} |", flush=True)
        if args.cluster:
            host, _, port = args.cluster.rpartition(":")
            caddr = (host, int(port))

            def ckeys(count: int) -> list[str]:
                made = cluster_keys(caddr, count)
                cluster_made.extend(made)
                return made

            ref = rates["ssfile RedisProducer send + flush"]
            for name, fn in [
                (
                    "cluster: redis-py asyncio RedisCluster pipeline (1000 per execute)",
                    lambda: async_pipeline(caddr, ckeys(1)[0], n, payload, cluster=True),
                ),
                (
                    "cluster: ssfile RedisProducer send + flush, 1 shard stream",
                    lambda: cluster_producer(caddr, ckeys(1), n, payload, False),
                ),
                (
                    "cluster: ssfile RedisProducer, receipts awaited, 1 shard stream",
                    lambda: cluster_producer(caddr, ckeys(1), n, payload, True),
                ),
                (
                    "cluster: ssfile, 3 shard streams on 3 masters (n in all)",
                    lambda: cluster_producer(caddr, ckeys(3), n, payload, False),
                ),
            ]:
                rate = n / best(args.repeat, fn)
                print(f"| {name} | {rate:,.0f} | {rate / ref:.2f}x |", flush=True)
        src = keys[0]
        print("\n| consumer (same stream) | msg/s |\n|---|---:|")
        for name, fn in [
            ("redis-py asyncio XREAD loop (COUNT 1000)", lambda: xread_loop(addr, src, n)),
            ("ssfile RealTime consumer", lambda: consumer(addr, src, n, False)),
            (
                "ssfile LoadBalanced consumer (XREADGROUP + XACK)",
                lambda: consumer(addr, src, n, True),
            ),
        ]:
            print(f"| {name} | {n / best(args.repeat, fn):,.0f} |", flush=True)
    finally:
        for k in keys:
            client.delete(k)
        client.close()
        if cluster_made:
            host, _, port = args.cluster.rpartition(":")
            cc = redis.RedisCluster(host=host, port=int(port))
            for k in cluster_made:
                cc.delete(k)
            cc.close()


if __name__ == "__main__":
    main()
