"""Streamer benchmarks (issue 5): the async API on the file backend, and a stdio relay pipe.

    .venv/bin/python bench/streamer.py [--messages N] [--rounds R] [--reference DIR]

Measured in one run, each in a fresh process (best of ``--rounds``, the rows interleaved
round by round so that the machine's load changes hit them alike; wall and CPU seconds):
* produce: N x 100-byte sends through ``Producer.send`` + ``end()`` (file backend);
* consume: an "earliest" consumer reading those N back (``async for``);
* live: a producer task and a following consumer task on the same event loop; msg/s = N /
  time until the consumer has received the last message (``async for``; and with
  ``next_batch``, the consumer's batch interface); "send_batch" rows: the producer sends
  batches of 1000 with ``Producer.send_batch`` (this tree only: the reference may not have it);
* baseline: the same N messages through the plain ``ssfile.open`` writer and reader loops;
* stdio pipe: ``ssfile clock --count N --interval 0s | ssfile relay --input stdio:///clock
  --output file://F/clock`` end to end (``--stdio``; slow, off by default).

The reference for "live" is the plain writer loop plus the plain reader loop (their sum: what
one thread must do at least); ``--reference DIR`` (a source tree with its built accelerator,
e.g. ``git worktree add`` of an older commit) runs the async rows on that tree too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time

PAYLOAD = b"y" * 100
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def produce(path: str, n: int) -> float:
    from ssfile.streamer import connect

    s = await connect(f"file://{path}")
    p = await s.create_producer("bench")
    t = time.perf_counter()
    send = p.send
    for _ in range(n):
        send(PAYLOAD)
    await p.end()
    dt = time.perf_counter() - t
    await s.disconnect()
    return dt


async def produce_batches(path: str, n: int) -> float:
    from ssfile.streamer import connect

    s = await connect(f"file://{path}")
    p = await s.create_producer("bench")
    batch = [PAYLOAD] * 1000
    t = time.perf_counter()
    for _ in range(n // 1000):
        p.send_batch(batch)
    p.send_batch(batch[: n % 1000])
    await p.end()
    dt = time.perf_counter() - t
    await s.disconnect()
    return dt


async def consume(path: str, n: int) -> float:
    from ssfile.streamer import ConsumerOptions, connect

    s = await connect(f"file://{path}")
    c = await s.create_consumer(["bench"], ConsumerOptions(auto_stream_reset="earliest"))
    t = time.perf_counter()
    got = 0
    async for _ in c:
        got += 1
    dt = time.perf_counter() - t
    assert got == n, got
    await s.disconnect()
    return dt


async def live(path: str, n: int, batches: bool = False, send_batch: bool = False) -> float:
    from ssfile.streamer import ConsumerOptions, StreamEnded, connect

    s = await connect(f"file://{path}")
    p = await s.create_producer("bench")
    c = await s.create_consumer(["bench"], ConsumerOptions(auto_stream_reset="earliest"))

    async def producer() -> None:
        if send_batch:
            batch = [PAYLOAD] * 1000
            for i in range(n // 1000):
                p.send_batch(batch)
                if i % 10 == 0:
                    await asyncio.sleep(0)  # let the consumer run
            p.send_batch(batch[: n % 1000])
            await p.end()
            return
        for i in range(n):
            p.send(PAYLOAD)
            if i % 10_000 == 0:
                await asyncio.sleep(0)  # let the consumer run
        await p.end()

    async def consumer() -> int:
        got = 0
        if batches:
            try:
                while True:
                    got += len(await c.next_batch(1000))
            except StreamEnded:
                return got
        async for _ in c:
            got += 1
        return got

    t = time.perf_counter()
    _, got = await asyncio.gather(producer(), consumer())
    dt = time.perf_counter() - t
    assert got == n, got
    await s.disconnect()
    return dt


def baseline(path: str, n: int) -> tuple[float, float]:
    import ssfile

    t = time.perf_counter()
    with ssfile.open(path, "w") as w:
        for _ in range(n):
            w.write(PAYLOAD, stream_key="bench")
    tw = time.perf_counter() - t
    t = time.perf_counter()
    with ssfile.open(path) as r:
        got = sum(1 for _ in r)
    assert got == n
    return tw, time.perf_counter() - t


def stdio_pipe(path: str, n: int) -> float:
    py = [sys.executable, "-m", "ssfile"]
    t = time.perf_counter()
    clock = subprocess.Popen(
        py + ["clock", "--stream", "stdio:///clock", "--count", str(n), "--interval", "0s"],
        stdout=subprocess.PIPE,
    )
    relay = subprocess.run(
        py + ["relay", "--input", "stdio:///clock", "--output", f"file://{path}/clock"],
        stdin=clock.stdout,
        check=True,
    )
    clock.stdout.close()  # type: ignore[union-attr]
    clock.wait()
    assert relay.returncode == 0
    return time.perf_counter() - t


def breakdown(path: str, n: int) -> None:
    """CPU ns per message of the producer's layers, each in a loop of ``n`` calls (one
    process, same run): what a ``send`` costs and where."""
    import ssfile
    from ssfile.codec.accel import speedups
    from ssfile.file.writer import Writer
    from ssfile.streamer.api import Receipt

    async def sends() -> float:
        from ssfile.streamer import connect

        s = await connect(f"file://{path}")
        p = await s.create_producer("bench")
        send = p.send
        c = time.process_time()
        for _ in range(n):
            send(PAYLOAD)
        took = time.process_time() - c
        await p.end()
        await s.disconnect()
        return took

    def loop(fn, *args) -> float:  # type: ignore[no-untyped-def]
        c = time.process_time()
        for _ in range(n):
            fn(*args)
        return time.process_time() - c

    rows = [("FileProducer.send (all of it)", asyncio.run(sends()))]
    os.remove(path)
    with Writer(path, "w") as w:
        rows.append(("Writer.appender(key)(payload, ts)", loop(w.appender("bench"), PAYLOAD, 5)))
        c = time.process_time()
        for _ in range(n):
            w.write(PAYLOAD, stream_key="bench", timestamp=5)
        rows.append(("Writer.write(payload, stream_key=, timestamp=)", time.process_time() - c))
        enc = w._enc
        if speedups is not None:
            buf, keys, streams = enc.buffer, enc._keys, enc.streams
            c = time.process_time()
            for _ in range(n):
                speedups.encode_frame(buf, keys, streams, "bench", 0, 5, 5, PAYLOAD, 1000, 1 << 40)
                buf.clear()
            rows.append(("C encode_frame alone (+ clearing the buffer)", time.process_time() - c))
    fut = object()
    c = time.process_time()
    for _ in range(n):
        Receipt(future=fut, fields=("bench", 0, 5, 5, PAYLOAD))  # type: ignore[arg-type]
    rows.append(("a Receipt object (the old keyword construction)", time.process_time() - c))
    rows.append(("time.time_ns() // 1_000_000", loop(lambda: time.time_ns() // 1_000_000)))
    rows.append(("empty loop calling a no-op function", loop(lambda: None)))
    c = time.process_time()
    with ssfile.open(path) as r:
        for _ in r:
            pass
    rows.append(("reading one message back (ssfile.open loop)", time.process_time() - c))
    print("| part | CPU ns per message |\n|---|---:|")
    for label, took in rows:
        print(f"| {label} | {took / n * 1e9:,.0f} |")


def child(kind: str, path: str, n: int) -> None:
    import ssfile.streamer  # noqa: F401  (imports are not timed)

    c0 = time.process_time()
    if kind == "baseline":
        tw, tr = baseline(path, n)
        print(tw, tr, time.process_time() - c0)
        return
    if kind == "stdio":
        print(stdio_pipe(path, n), 0.0)
        return
    if kind == "consume":  # the file first (not timed)
        asyncio.run(produce(path, n))
        c0 = time.process_time()
    fn = {
        "produce": produce,
        "consume": consume,
        "live": live,
        "live_batches": lambda p, n: live(p, n, True),
        "produce_send_batch": produce_batches,
        "live_send_batch": lambda p, n: live(p, n, False, True),
        "live_send_batch_batches": lambda p, n: live(p, n, True, True),
    }[kind]
    print(asyncio.run(fn(path, n)), time.process_time() - c0)


ROWS = [
    ("produce", "async produce (send + end)"),
    ("consume", "async consume (earliest, async for)"),
    ("live", "async live: producer and follower on one loop (async for)"),
    ("live_batches", "async live: producer and follower on one loop (next_batch)"),
]
#: rows of this tree only (Producer.send_batch)
ROWS_THIS = [
    ("produce_send_batch", "async produce (send_batch of 1000 + end)"),
    ("live_send_batch", "async live, send_batch of 1000 (async for)"),
    ("live_send_batch_batches", "async live, send_batch of 1000 (next_batch)"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=500_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reference", metavar="DIR", help="an older source tree to compare")
    ap.add_argument("--stdio", action="store_true", help="also the stdio pipe (slow)")
    ap.add_argument("--breakdown", action="store_true", help="CPU per layer of send, then stop")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.breakdown:
        with tempfile.TemporaryDirectory() as tmp:
            breakdown(os.path.join(tmp, "b.ss"), args.messages)
        return
    if args.child:
        child(args.child[0], args.child[1], args.messages)
        return
    n = args.messages
    trees = [("", ROOT)] + (
        [("reference: ", os.path.abspath(args.reference))] if args.reference else []
    )
    best: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:

        def run(kind: str, tree: str) -> list[float]:
            name = os.path.join(tmp, f"{kind}-{len(best)}.ss")
            for leftover in (name, name + ".offsets.sqlite"):
                if os.path.exists(leftover):
                    os.remove(leftover)
            out = subprocess.run(
                [sys.executable, __file__, "--messages", str(n), "--child", kind, name],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": tree},
                cwd=tree,
            )
            return [float(x) for x in out.stdout.split()]

        def keep(label: str, wall: float, cpu: float) -> None:
            old = best.get(label)
            if old is None or wall < old[0]:
                best[label] = [wall, cpu if old is None else min(cpu, old[1])]
            else:
                old[1] = min(old[1], cpu)

        for _ in range(args.rounds):
            tw, tr, cpu = run("baseline", ROOT)
            keep("baseline: ssfile.open write loop", tw, cpu * tw / (tw + tr))
            keep("baseline: ssfile.open read loop", tr, cpu * tr / (tw + tr))
            keep("baseline: write loop + read loop (the floor of live)", tw + tr, cpu)
            for prefix, tree in trees:
                for kind, label in ROWS + (ROWS_THIS if tree == ROOT else []):
                    wall, cpu = run(kind, tree)
                    keep(prefix + label, wall, cpu)
            if args.stdio:
                keep("stdio pipe: clock | relay -> file", *run("stdio", ROOT))
    load = os.getloadavg()
    print(
        f"{n:,} messages of {len(PAYLOAD)} bytes; best of {args.rounds}; python "
        f"{sys.version.split()[0]}; nproc {os.cpu_count()}; load average {load[0]:.1f} "
        f"{load[1]:.1f} {load[2]:.1f} at the end"
    )
    print(
        "| measurement | wall s | CPU s | msg/s (wall) | msg/s (CPU) | vs reference (wall / CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    write, read = best["baseline: ssfile.open write loop"], best["baseline: ssfile.open read loop"]
    floor = best["baseline: write loop + read loop (the floor of live)"]
    for label, (wall, cpu) in best.items():
        if "live" in label:
            ref = floor
        elif "consume" in label or "read" in label:
            ref = read
        else:
            ref = write
        print(
            f"| {label} | {wall:.3f} | {cpu:.3f} | {n / wall:,.0f} | {n / cpu:,.0f} | "
            f"{ref[0] / wall:.2f}x / {ref[1] / cpu:.2f}x |"
        )


if __name__ == "__main__":
    main()
