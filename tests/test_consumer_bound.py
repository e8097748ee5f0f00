"""Issue 18: consumers read ahead a bounded amount: an application that asks slowly never
makes a consumer's memory grow with the stream (measured with tracemalloc).

The file and Redis consumers read one batch when their queue is empty (file: 512 frames;
Redis: ``read_batch`` entries per stream); stdin's bound is in test_relay_bound.py."""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import ssfile
from ssfile.streamer import ConsumerOptions, connect

N = 50_000
PAYLOAD = b"p" * 1000  # 50 MB of payloads in all


async def slow_reader(url: str, key: str) -> int:
    """Peak Python memory (bytes) over the stream while reading 20 small batches slowly."""
    s = await connect(url)
    c = await s.create_consumer([key], ConsumerOptions(auto_stream_reset="earliest"))
    tracemalloc.start()
    try:
        got = 0
        for _ in range(20):
            got += len(await c.next_batch(10))
            await asyncio.sleep(0.05)  # the application is slow
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == 200
    await c.close()
    await s.disconnect()
    return peak


def test_file_consumer_reads_ahead_a_bounded_amount(tmp_path: Any) -> None:
    path = tmp_path / "big.ss"
    with ssfile.open(path, "w") as w:
        for _ in range(N):
            w.write(PAYLOAD, stream_key="k")
    peak = asyncio.run(slow_reader(f"file://{path}", "k"))
    assert peak < 8 * 1024 * 1024, peak  # the stream is 50 MB


def test_redis_consumer_reads_ahead_a_bounded_amount(private_redis: Any) -> None:
    client = private_redis.client()
    pipe = client.pipeline(transaction=False)
    for i in range(N):
        pipe.xadd("k", {"msg": PAYLOAD})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    peak = asyncio.run(slow_reader(f"redis://127.0.0.1:{private_redis.port}/", "k"))
    assert peak < 8 * 1024 * 1024, peak
