"""The file backend through the asyncio API (plus the sync facade)."""

import asyncio
import multiprocessing
import os

import pytest

import ssfile
from ssfile.errors import SSError, StreamError
from ssfile.streamer import ConsumerMode, ConsumerOptions, StreamEnded, connect
from ssfile.streamer.sync import connect_sync

EARLIEST = ConsumerOptions(auto_stream_reset="earliest")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_produce_consume_in_order(tmp_path):
    path = tmp_path / "a.ss"

    async def main():
        s = await connect(f"file://{path}")
        p = await s.create_producer("clock")
        c = await s.create_consumer(["clock"], EARLIEST)
        receipts = [p.send(b"%d" % i) for i in range(100)]
        headers = [await r for r in receipts]
        assert [h.sequence for h in headers] == list(range(1, 101))
        await p.end()
        got = [m async for m in c]
        assert [m.payload for m in got] == [b"%d" % i for i in range(100)]
        assert [m.sequence for m in got] == list(range(1, 101))
        with pytest.raises(StreamEnded):
            await c.next()
        await s.disconnect()

    run(main())
    with ssfile.open(path) as r:
        assert len(list(r)) == 100 and r.ended


def test_live_consumer_sees_new_messages(tmp_path):
    path = tmp_path / "live.ss"

    async def main():
        s = await connect(f"file://{path}")
        p = await s.create_producer("k")
        p.send(b"old")
        await p.flush()
        c = await s.create_consumer(["k"], ConsumerOptions(auto_stream_reset="latest"))
        p.send(b"new")
        m = await c.next()  # delivered by the background flush, no explicit flush
        assert m.payload == b"new"
        await s.disconnect()

    run(main())


def test_key_and_shard_filters(tmp_path):
    path = tmp_path / "f.ss"

    async def main():
        s = await connect(f"file://{path}")
        producers = [await s.create_producer(k, shard_id=sh) for k in ("a", "b") for sh in (0, 1)]
        for i in range(40):
            producers[i % 4].send(b"%d" % i)
        await producers[0].end()
        c = await s.create_consumer(
            ["a"], ConsumerOptions(auto_stream_reset="earliest", shards=(1,))
        )
        got = [m async for m in c]
        assert {(m.stream_key, m.shard_id) for m in got} == {("a", 1)}
        assert len(got) == 10
        await s.disconnect()

    run(main())


def test_group_round_robin_join_and_leave(tmp_path):
    path = tmp_path / "g.ss"
    opts = ConsumerOptions(
        mode=ConsumerMode.LOAD_BALANCED, group="friends", auto_stream_reset="earliest"
    )

    async def main():
        s = await connect(f"file://{path}")
        p = await s.create_producer("nuts")
        chip = await s.create_consumer(["nuts"], opts)
        dale = await s.create_consumer(["nuts"], opts)
        for i in range(100):
            p.send(b"%d" % i)
        await p.flush()
        got = {"chip": [], "dale": [], "donald": []}
        for _ in range(10):
            got["chip"].append(await chip.next())
            got["dale"].append(await dale.next())
        donald = await s.create_consumer(["nuts"], opts)
        await dale.close()  # leaves with undelivered messages: they go to the others
        await p.end()
        for name, c in (("chip", chip), ("donald", donald)):
            async for m in c:
                got[name].append(m)
        seqs = sorted(m.sequence for ms in got.values() for m in ms)
        assert seqs == list(range(1, 101))  # nothing lost, nothing twice
        assert all(m.sequence % 2 == 0 for m in got["chip"][:10])
        await s.disconnect()

    run(main())


@pytest.mark.parametrize("commit", [True, False])
def test_resumable_commits_and_resumes(tmp_path, commit):
    """Asking for the next message acknowledges the previous one; the last one is
    acknowledged by commit(): without it, it is delivered again (at-least-once)."""
    path = tmp_path / "r.ss"
    opts = ConsumerOptions(
        mode=ConsumerMode.RESUMABLE, group="g", auto_stream_reset="earliest", follow=False
    )

    async def first():
        s = await connect(f"file://{path}")
        p = await s.create_producer("k")
        for i in range(50):
            p.send(b"%d" % i)
        await p.flush()
        c = await s.create_consumer(["k"], opts)
        got = [await c.next() for _ in range(20)]
        if commit:
            await c.commit()
        await s.disconnect()
        return got

    async def second():
        s = await connect(f"file://{path}")
        c = await s.create_consumer(["k"], opts)
        got = [m async for m in c]
        await s.disconnect()
        return got

    a = run(first())
    b = run(second())
    repeated = [] if commit else [20]
    assert [m.sequence for m in a + b] == list(range(1, 21)) + repeated + list(range(21, 51))


def test_seek_and_rewind(tmp_path):
    path = tmp_path / "s.ss"
    with ssfile.open(path, "w", beacon_interval=1024) as w:
        for i in range(300):
            w.write(b"p%d" % i, stream_key="k", timestamp=1_000_000 + i * 10)

    async def main():
        s = await connect(f"file://{path}")
        c = await s.create_consumer(
            ["k"], ConsumerOptions(auto_stream_reset="earliest", follow=False)
        )
        await c.seek(1_000_000 + 1234)  # between two messages: the next one
        assert (await c.next()).timestamp_ms == 1_000_000 + 1240
        await c.rewind(42)
        assert (await c.next()).sequence == 42
        await c.rewind("beginning")
        assert (await c.next()).sequence == 1
        await s.disconnect()

    run(main())


def test_options_are_checked(tmp_path):
    async def main():
        s = await connect(f"file://{tmp_path / 'o.ss'}")
        with pytest.raises(StreamError, match="group"):
            await s.create_consumer(["k"], ConsumerOptions(mode=ConsumerMode.LOAD_BALANCED))
        with pytest.raises(StreamError, match="RealTime"):
            await s.create_consumer(["k"], ConsumerOptions(group="g"))
        with pytest.raises(StreamError, match="empty"):
            await s.create_consumer([], EARLIEST)
        with pytest.raises(ssfile.EncodeError):
            await s.create_producer("bad key")
        await s.disconnect()

    run(main())


def _produce_in_child(path, ready, release):
    s = connect_sync(f"file://{path}")
    p = s.create_producer("child")
    p.send(b"x").result()
    p.flush()
    ready.set()
    release.wait(10)
    s.disconnect()


def test_second_process_writer_is_refused(tmp_path):
    path = tmp_path / "lock.ss"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_produce_in_child, args=(str(path), ready, release))
    child.start()
    try:
        assert ready.wait(20)

        async def main():
            s = await connect(f"file://{path}")
            with pytest.raises(SSError, match="another writer"):
                await s.create_producer("parent")
            # reading while the other process writes is fine
            c = await s.create_consumer(
                ["child"], ConsumerOptions(auto_stream_reset="earliest", follow=False)
            )
            assert (await c.next()).payload == b"x"
            await s.disconnect()

        run(main())
    finally:
        release.set()
        child.join(20)
    assert child.exitcode == 0


def test_sync_facade(tmp_path):
    path = tmp_path / "sync.ss"
    with connect_sync(f"file://{path}") as s:
        p = s.create_producer("k")
        assert p.send(b"a").result().sequence == 1
        p.end()
        c = s.create_consumer(["k"], ConsumerOptions(auto_stream_reset="earliest"))
        assert [m.payload for m in c] == [b"a"]
    assert os.path.getsize(path) > 128


def test_seek_reads_little_of_a_big_file(tmp_path):
    """seek uses the beacons: the tail restarts near the target, not at the beginning."""
    path = tmp_path / "big.ss"
    with ssfile.open(path, "w", beacon_interval=4096) as w:
        for i in range(20000):
            w.write(b"x" * 50, stream_key="k", timestamp=1_000_000 + i)

    async def main():
        s = await connect(f"file://{path}")
        c = await s.create_consumer(
            ["k"], ConsumerOptions(auto_stream_reset="earliest", follow=False)
        )
        await c.seek(1_000_000 + 15000)
        m = await c.next()
        assert m.timestamp_ms == 1_000_000 + 15000
        assert c._d.tail.started_at == m.offset  # restarted at the target, not at 0
        await c.rewind(19990)
        assert (await c.next()).sequence == 19990
        await c.seek(10**12)  # past the end: nothing now
        await s.disconnect()

    run(main())


def test_sync_facade_sends_batches(tmp_path):
    path = tmp_path / "batch.ss"
    with connect_sync(f"file://{path}") as s:
        p = s.create_producer("k")
        r = p.send_batch([b"a", b"b"])
        assert r.count == 2 and r.result() == 2 and r.done()
        assert p.send_batch(b"%d" % i for i in range(3)).result() == 3  # any iterable
        p.end()
    with ssfile.open(path) as rd:
        assert [m.payload for m in rd] == [b"a", b"b", b"0", b"1", b"2"]


def test_sync_facade_batch_at_the_bound_waits_for_room():
    from ssfile.errors import BufferFull
    from ssfile.streamer.api import BatchReceipt
    from ssfile.streamer.sync import SyncProducer, _Loop

    class Full:  # a producer at its bound until drained once
        def __init__(self):
            self.drained = 0

        def send_batch(self, payloads):
            if not self.drained:
                raise BufferFull("at the bound")
            return BatchReceipt(len(payloads))

        async def drain(self):
            self.drained += 1

    loop = _Loop()
    try:
        inner = Full()
        r = SyncProducer(loop, inner).send_batch([b"a", b"b"])  # type: ignore[arg-type]
        assert inner.drained == 1 and r.result() == 2
    finally:
        loop.stop()
