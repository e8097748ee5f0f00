"""Issue 18: producers hold a bounded amount unacknowledged, on every backend.

At the bound ``send`` raises BufferFull (never blocks the event loop) and ``drain()`` waits
until there is room; the sync facade waits.  Real faults: a SIGSTOPped private redis-server,
a stdout pipe nobody reads, a Kafka broker that is gone (then back)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import uuid
from typing import Any

import pytest

import ssfile
from ssfile import BufferFull, ProducerOptions, StreamError
from ssfile.streamer import connect
from ssfile.streamer.sync import connect_sync


def run(coro, timeout: float = 60):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def fill(producer: Any, limit: int = 1_000_000) -> list[Any]:
    """Send until BufferFull; the receipts of what was taken."""
    receipts = []
    for i in range(limit):
        try:
            receipts.append(producer.send(b"m%08d" % i))
        except BufferFull:
            return receipts
    raise AssertionError(f"{limit} sends and no BufferFull")


async def still_waiting(task: asyncio.Task[Any], seconds: float = 0.5) -> bool:
    await asyncio.sleep(seconds)
    return not task.done()


def test_options_are_checked() -> None:
    with pytest.raises(StreamError, match="max_messages"):
        ProducerOptions(max_messages=0).check()
    with pytest.raises(StreamError, match="max_bytes"):
        ProducerOptions(max_bytes=True).check()  # type: ignore[arg-type]
    assert ProducerOptions() == ProducerOptions(100_000, 64 * 1024 * 1024)
    assert issubclass(BufferFull, StreamError)


def test_file_producer_holds_at_most_its_bound(tmp_path: Any) -> None:
    """A file acknowledges by handing to the OS: at the bound send does it, never refuses."""
    path = tmp_path / "b.ss"

    async def main() -> int:
        streamer = await connect(f"file://{path}")
        p = await streamer.create_producer("k", options=ProducerOptions(max_messages=50))
        peak = 0
        receipts = []
        for _ in range(2000):
            receipts.append(p.send(b"x" * 10))
            peak = max(peak, p.window.messages)
        await p.drain()
        await p.end()
        assert all(r.done() for r in receipts)
        await streamer.disconnect()
        return peak

    assert run(main()) == 50
    with ssfile.open(path) as r:
        assert sum(1 for _ in r) == 2000


def test_bytes_bound(tmp_path: Any) -> None:
    path = tmp_path / "b.ss"

    async def main() -> None:
        streamer = await connect(f"file://{path}")
        p = await streamer.create_producer("k", options=ProducerOptions(max_bytes=1000))
        for _ in range(100):
            p.send(b"y" * 300)
            assert p.window.bytes <= 1000
        p.send(b"z" * 5000)  # larger than the bound: taken when nothing else is held
        await p.end()
        await streamer.disconnect()

    run(main())


# ---- redis: a stopped server ---------------------------------------------------------------


def _redis_producer_run(server: Any, bound: int) -> tuple[int, int]:
    url = f"redis://127.0.0.1:{server.port}/k"

    async def main() -> tuple[int, int]:
        streamer = await connect(url)
        p = await streamer.create_producer("k", options=ProducerOptions(max_messages=bound))
        first = await fill(p)
        await first[-1]  # the server takes them
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            held = await fill(p)  # send never blocks: the loop runs this test meanwhile
            assert p.window.messages == bound
            drain = asyncio.ensure_future(p.drain())
            waited = await still_waiting(drain)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert waited, "drain returned while the server was stopped"
        await drain
        assert p.window.messages <= bound // 2
        more = await fill(p)
        await p.flush()
        for r in [*first, *held, *more]:
            await r  # every receipt resolved, none failed
        await streamer.disconnect()
        return len(held), len(first) + len(held) + len(more)

    return run(main())


def test_redis_producer_at_its_bound_while_the_server_is_stopped(private_redis: Any) -> None:
    held, total = _redis_producer_run(private_redis, 1000)
    assert held == 1000
    assert private_redis.client().xlen("k") == total


def test_sync_facade_waits_for_room(private_redis: Any) -> None:
    s = connect_sync(f"redis://127.0.0.1:{private_redis.port}/k")
    p = s.create_producer("k", options=ProducerOptions(max_messages=10))
    p.send(b"warm").result()
    os.kill(private_redis.proc.pid, signal.SIGSTOP)
    done = threading.Event()

    def produce() -> None:
        for i in range(100):
            p.send(b"%d" % i)
        done.set()

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        blocked = not done.wait(0.5)
    finally:
        os.kill(private_redis.proc.pid, signal.SIGCONT)
    assert blocked, "100 sends with a bound of 10 went through a stopped server"
    t.join(30)
    assert done.is_set()
    p.flush()
    s.disconnect()
    assert private_redis.client().xlen("k") == 101


def test_redis_cluster_producer_bound(cluster_addr: Any, cluster_client: Any) -> None:
    key = f"bound-{uuid.uuid4().hex[:8]}"
    host, port = cluster_addr

    async def main() -> int:
        streamer = await connect(f"redis://{host}:{port}/{key}")
        p = await streamer.create_producer(key, options=ProducerOptions(max_messages=300))
        held = await fill(p)  # a loop that never yields: nothing acknowledged meanwhile
        assert len(held) == 300
        await p.drain()
        assert p.window.messages <= 150
        more = await fill(p)
        await p.flush()
        for r in [*held, *more]:
            await r
        await streamer.disconnect()
        return len(held) + len(more)

    try:
        assert cluster_client.xlen(key) == 0
        assert run(main()) == cluster_client.xlen(key)
    finally:
        cluster_client.delete(key)


# ---- stdio: a pipe nobody reads ----------------------------------------------------------


def test_stdio_producer_at_its_bound_on_a_blocked_pipe() -> None:
    r, w = os.pipe()
    out = os.fdopen(w, "wb")
    got: list[bytes] = []

    async def main() -> tuple[int, int, int]:
        streamer = await connect("stdio:///", stdout=out)
        p = await streamer.create_producer("k", options=ProducerOptions(max_messages=5000))
        sent = 0
        # the pipe holds 64 KiB: fill it and the bound behind it; the loop never blocks
        for _ in range(200):
            sent += len(await fill(p))  # no await inside: nothing acknowledged meanwhile
            at_bound = p.window.messages
            drain = asyncio.ensure_future(p.drain())
            if await still_waiting(drain, 0.2):
                break
            await drain
        else:
            raise AssertionError("the pipe never filled")
        # the writer thread may have written part of the last lines it took before the
        # pipe filled (acknowledged in batches): drain waits while more than half is held
        waiting = p.window.messages
        reader = threading.Thread(target=lambda: got.append(_read_all(r)), daemon=True)
        reader.start()
        await drain
        await p.flush()
        await streamer.disconnect()
        out.close()
        reader.join(30)
        return at_bound, waiting, sent

    at_bound, waiting, sent = run(main())
    assert at_bound == 5000
    assert 2500 < waiting <= 5000
    lines = got[0].splitlines()
    assert len(lines) == sent
    assert all(line.endswith(b"] m%08d" % i) for i, line in enumerate(lines[:100]))


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


# ---- kafka: a broker that is gone, then back -------------------------------------------------


def test_kafka_producer_at_its_bound_while_the_broker_is_gone(tmp_path: Any) -> None:
    from kafka_helpers import PrivateNoida, streamer

    server = PrivateNoida(tmp_path)
    server.start()

    async def main() -> tuple[int, list[Any]]:
        s = await streamer(server.bootstrap, delivery_timeout=120.0)
        p = await s.create_producer("k", options=ProducerOptions(max_messages=200))
        first = await fill(p)
        await p.flush()
        server.stop()
        held = await fill(p)  # send never blocks, the broker being gone
        drain = asyncio.ensure_future(p.drain())
        waited = await still_waiting(drain, 1.0)
        server.start()  # same port, same data
        await drain
        more = await fill(p)
        await p.flush()
        heads = [await r for r in [*first, *held, *more]]  # all delivered, none failed
        await s.disconnect()
        assert waited, "drain returned while the broker was gone"
        return len(held), heads

    try:
        held, heads = run(main(), timeout=150)
    finally:
        server.stop()
    assert held == 200
    offsets = [h.sequence for h in heads]
    assert offsets == list(range(len(heads)))  # each once, in order
