"""Streamer benchmarks (issue 5): the async API on the file backend, and a stdio relay pipe.

    .venv/bin/python bench/streamer.py [--messages N]

Measured in one run, each in a fresh process:
* produce: N x 100-byte sends through ``Producer.send`` + ``end()`` (file backend);
* consume: an "earliest" consumer reading those N back (``async for``);
* live: a producer task and a following consumer task at the same time; msg/s = N / time
  until the consumer has received the last message;
* baseline: the same N messages through the plain ``ssfile.open`` writer and reader loops;
* stdio pipe: ``ssfile clock --count N --interval 0s | ssfile relay --input stdio:///clock
  --output file://F/clock`` end to end.
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


async def live(path: str, n: int) -> float:
    from ssfile.streamer import ConsumerOptions, connect

    s = await connect(f"file://{path}")
    p = await s.create_producer("bench")
    c = await s.create_consumer(["bench"], ConsumerOptions(auto_stream_reset="earliest"))

    async def producer() -> None:
        for i in range(n):
            p.send(PAYLOAD)
            if i % 10_000 == 0:
                await asyncio.sleep(0)  # let the consumer run
        await p.end()

    async def consumer() -> int:
        got = 0
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


def child(kind: str, path: str, n: int) -> None:
    if kind == "baseline":
        print(*baseline(path, n))
    elif kind == "stdio":
        print(stdio_pipe(path, n))
    else:
        print(asyncio.run({"produce": produce, "consume": consume, "live": live}[kind](path, n)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=500_000)
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.messages)
        return
    n = args.messages
    with tempfile.TemporaryDirectory() as tmp:

        def run(kind: str, name: str) -> list[float]:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--messages",
                    str(n),
                    "--child",
                    kind,
                    os.path.join(tmp, name),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            return [float(x) for x in out.stdout.split()]

        tw, tr = run("baseline", "base.ss")
        rows = [
            ("baseline: ssfile.open write loop", tw),
            ("baseline: ssfile.open read loop", tr),
            ("async produce (send + end)", run("produce", "a.ss")[0]),
            ("async consume (earliest, async for)", run("consume", "a.ss")[0]),
            ("async live: producer and follower together", run("live", "b.ss")[0]),
            ("stdio pipe: clock | relay -> file", run("stdio", "c.ss")[0]),
        ]
    print(
        f"{n} messages of {len(PAYLOAD)} bytes; python {sys.version.split()[0]}; nproc {os.cpu_count()}"
    )
    print("| measurement | s | msg/s | vs baseline |")
    print("|---|---:|---:|---:|")
    for name, dt in rows:
        ref = tw if "produce" in name or "write" in name or "pipe" in name else tr
        print(f"| {name} | {dt:.3f} | {n / dt:,.0f} | {ref / dt:.2f}x |")


if __name__ == "__main__":
    main()
