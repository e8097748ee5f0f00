"""Issue-14 benchmark: should ``ssfile.aopen`` read through aiofiles?

Today (ssfile/file/aio.py) one worker thread per reader reads *and decodes* a chunk per hop
and hands the loop a list of messages.  The aiofiles way is ``await f.read(chunk)`` (aiofiles
runs each read in the loop's default thread pool) and decoding the chunk on the event loop.
Both are timed reading every message of the same files, next to the synchronous Reader
(the reference, same run), together with the event loop's worst stall while reading (a
1 ms ticker task measures how late it wakes): work done on the loop shows up there.

    .venv/bin/pip install aiofiles           # not a dependency of ssfile (bench/RESULTS.md)
    .venv/bin/python bench/aio.py            # markdown on stdout (files in bench/data/)
    .venv/bin/python bench/aio.py --quick    # smaller files, fewer repeats
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

try:
    import aiofiles
except ImportError:
    sys.exit("bench/aio.py compares with aiofiles: .venv/bin/pip install aiofiles")
from seek import big_file, small_file  # noqa: E402

import ssfile  # noqa: E402
from ssfile.codec.accel import speedups  # noqa: E402
from ssfile.codec.decoder import Decoder  # noqa: E402
from ssfile.types import Message  # noqa: E402

CHUNK = 1 << 20


def sync_read(path: str) -> int:
    with ssfile.open(path) as r:
        return sum(1 for _ in r)


async def worker_thread_read(path: str) -> int:
    n = 0
    async with ssfile.aopen(path) as r:
        async for batch in r.batches():
            n += len(batch)
    return n


async def aiofiles_read(path: str) -> int:
    """aiofiles for the reads, the same sans-I/O decoder on the loop, batches of 256 events."""
    async with aiofiles.open(path, "rb") as f:
        return await _decode_on_loop(f.read)


async def executor_read(path: str) -> int:
    """The same as aiofiles_read with the standard library: each read in the default pool."""
    loop = asyncio.get_running_loop()
    with open(path, "rb") as f:

        async def read(n: int) -> bytes:
            return await loop.run_in_executor(None, f.read, n)

        return await _decode_on_loop(read)


async def _decode_on_loop(read) -> int:
    dec = Decoder()
    n = 0
    out: list[object] = []
    while True:
        data = await read(CHUNK)
        if data:
            dec.feed(data)
        else:
            dec.feed_eof()
        while True:
            out.clear()
            dec.read_events(out, 256)
            if not out:
                break
            n += sum(1 for ev in out if type(ev) is Message)
            await asyncio.sleep(0)  # let other tasks run between batches
        if not data or dec.ended:
            return n


async def with_ticker(coro_fn, path: str) -> tuple[int, float]:
    """Run ``coro_fn(path)`` next to a 1 ms ticker; (messages, worst ticker lateness in ms)."""
    worst = 0.0
    stop = False

    async def tick() -> None:
        nonlocal worst
        while not stop:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, (time.perf_counter() - t - 0.001) * 1000)

    ticker = asyncio.create_task(tick())
    try:
        n = await coro_fn(path)
    finally:
        stop = True
        await ticker
    return n, worst


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def bench(path: str, label: str, repeats: int) -> list[str]:
    size = os.path.getsize(path)
    sync_t, n = timed(lambda: sync_read(path), repeats)
    rows = [
        "",
        f"**{label}**: {size / (1 << 20):,.0f} MiB, {n:,} messages (median of {repeats})",
        "",
        "| read every message | s | msg/s | vs sync Reader | worst loop stall ms |",
        "|---|---|---|---|---|",
        f"| sync `for m in ssfile.open(p)` (reference) | {sync_t:.3f} | {n / sync_t:,.0f} | 1.00 | - |",
    ]
    results = {}
    for name, fn in (
        ("`ssfile.aopen` batches (worker thread reads+decodes)", worker_thread_read),
        ("aiofiles reads, decode on the loop", aiofiles_read),
        ("stdlib `run_in_executor` reads, decode on the loop", executor_read),
    ):
        t, (got, stall) = timed(lambda fn=fn: asyncio.run(with_ticker(fn, path)), repeats)
        assert got == n, (name, got, n)
        results[name] = t
        rows.append(f"| {name} | {t:.3f} | {n / t:,.0f} | {sync_t / t:.2f} | {stall:.1f} |")
    a, b, c = results.values()
    rows.append("")
    rows.append(
        f"Time ratios: aiofiles / worker thread **{b / a:.2f}**, "
        f"aiofiles / stdlib executor **{b / c:.2f}** (above 1: aiofiles slower)"
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeats = 3 if args.quick else 5
    files = [
        (big_file(0.25 if args.quick else 1.0), "1 KiB payloads (the seek bench's file)"),
        (small_file(500_000 if args.quick else 2_000_000), "20-byte payloads"),
    ]
    print("## `[async]` extra: aiofiles vs the worker-thread reader (issue 14)")
    print()
    print(f"Command: `.venv/bin/python bench/aio.py{' --quick' if args.quick else ''}`")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}, aiofiles {aiofiles_version()}, "
        f"codec: {'C accelerator' if speedups is not None else 'pure Python'}; "
        "files in the page cache."
    )
    for path, label in files:
        for line in bench(path, label, repeats):
            print(line)


def aiofiles_version() -> str:
    from importlib.metadata import version

    return version("aiofiles")


if __name__ == "__main__":
    main()
