"""The asyncio API: same messages as the sync reader, seek, follow, batches, closing."""

from __future__ import annotations

import asyncio

import pytest

import ssfile
from ssfile.codec.encoder import Encoder
from ssfile.format.records import FileHeader

pytestmark = pytest.mark.timeout(60)
GOLDEN = ("consumer", "multi-stream", "long-payloads", "no-eos", "sample-1")


def test_async_iteration_equals_sync(golden_dir):
    async def main(path):  # type: ignore[no-untyped-def]
        async with ssfile.aopen(path) as r:
            got = [m async for m in r]
            return got, r.ended, r.header

    for name in GOLDEN:
        path = golden_dir / f"{name}.ss"
        with ssfile.open(path) as r:
            want, ended, header = list(r), r.ended, r.header
        assert asyncio.run(main(path)) == (want, ended, header), name


def test_batches_cover_everything_in_order(tmp_path):
    path = tmp_path / "many.ss"
    with ssfile.open(path, "w", beacon_interval=4096) as w:
        for i in range(20000):
            w.write(b"%d" % i, stream_key="k", timestamp=i)

    async def main():  # type: ignore[no-untyped-def]
        r = await ssfile.aopen(path, chunk_size=16384)
        try:
            sizes, seqs = [], []
            async for batch in r.batches():
                sizes.append(len(batch))
                seqs.extend(m.sequence for m in batch)
            return sizes, seqs
        finally:
            await r.aclose()

    sizes, seqs = asyncio.run(main())
    assert seqs == list(range(1, 20001))
    assert len(sizes) > 1 and min(sizes) > 0


def test_async_seek(golden_dir):
    path = golden_dir / "multi-stream.ss"
    with ssfile.open(path) as r:
        msgs = list(r)
    t = msgs[len(msgs) // 2].timestamp_ms
    m0 = msgs[len(msgs) // 3]

    async def main():  # type: ignore[no-untyped-def]
        async with ssfile.aopen(path) as r:
            first = await r.seek_time(t)
            after_time = await r.read_all()
            await r.seek_sequence(m0.stream_key, m0.shard_id, m0.sequence)
            after_seq = [m async for m in r]
            await r.rewind()
            everything = await r.read_all()
            return first, after_time, after_seq, everything

    first, after_time, after_seq, everything = asyncio.run(main())
    i = next(i for i, m in enumerate(msgs) if m.timestamp_ms >= t)
    assert first == msgs[i] and after_time == msgs[i:]
    j = next(
        j
        for j, m in enumerate(msgs)
        if (m.stream_key, m.shard_id) == (m0.stream_key, m0.shard_id) and m.sequence >= m0.sequence
    )
    assert after_seq == msgs[j:]
    assert everything == msgs


def test_async_follow_until_eos(tmp_path):
    path = tmp_path / "live.ss"
    enc = Encoder(FileHeader("live.ss", 1, 1024))
    enc.start()
    path.write_bytes(enc.take())

    async def writer():  # type: ignore[no-untyped-def]
        for i in range(5):
            await asyncio.sleep(0.01)
            for j in range(10):
                enc.encode("k", 0, i * 10 + j, 1, bytes(100))
            with open(path, "ab") as f:
                f.write(enc.take())
        enc.end_of_stream(2)
        with open(path, "ab") as f:
            f.write(enc.take())

    async def main():  # type: ignore[no-untyped-def]
        async with ssfile.aopen(path, follow=True) as r:
            task = asyncio.create_task(writer())
            got = [m.sequence async for m in r]
            await task
            return got, r.ended

    assert asyncio.run(main()) == (list(range(50)), True)


def test_closing_a_waiting_follower_returns(tmp_path):
    path = tmp_path / "idle.ss"
    with ssfile.open(path, "w", eos=False) as w:
        w.write(b"only", stream_key="k", timestamp=1)

    async def main():  # type: ignore[no-untyped-def]
        r = await ssfile.aopen(path, follow=True)
        got = []

        async def consume() -> None:
            async for m in r:
                got.append(m.payload)

        task = asyncio.create_task(consume())
        while not got:
            await asyncio.sleep(0.01)
        await r.aclose()  # the worker thread is waiting for data: this wakes it
        await task
        return got

    assert asyncio.run(main()) == [b"only"]
