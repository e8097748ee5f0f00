"""Issue-3 benchmarks: seek latency and bytes per seek on a >= 1 GiB file, ``cat --since``
end to end, asyncio read throughput, follow latency and an idle follower's CPU.

    .venv/bin/python bench/seek.py              # everything, markdown on stdout
    .venv/bin/python bench/seek.py --quick      # a smaller file, fewer samples

Files are generated deterministically into bench/data/ (gitignored) once and reused.  The
big file was just written or read, so seeks run against the page cache: these are CPU and
syscall numbers, not disk numbers.  Bytes per seek are counted twice: by the reader's own
beacon counter plus the scan, and by the kernel (``rchar`` in /proc/self/io).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import ssfile  # noqa: E402

DATA = os.path.join(HERE, "data")
T0 = 1_700_000_000_000
STREAMS = ["orders", "prices", "quotes", "trades"]


def rchar() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise RuntimeError("no rchar")


def big_file(gib: float) -> str:
    """~``gib`` GiB: 1 KiB payloads over 4 streams, one message per ms, default interval."""
    n = int(gib * (1 << 30) / 1065)
    path = os.path.join(DATA, f"seek-{n}.ss")
    if os.path.exists(path):
        return path
    os.makedirs(DATA, exist_ok=True)
    payloads = [bytes([i]) * 1024 for i in range(256)]
    tmp = path + ".tmp"
    with ssfile.open(tmp, "w", created_at=T0, file_name=os.path.basename(path)) as w:
        for i in range(n):
            w.write(payloads[i & 255], stream_key=STREAMS[i & 3], timestamp=T0 + i)
    os.replace(tmp, path)
    return path


def small_file(n: int) -> str:
    """``n`` messages of 20-byte payloads: the per-message cost dominates."""
    path = os.path.join(DATA, f"small-{n}.ss")
    if os.path.exists(path):
        return path
    os.makedirs(DATA, exist_ok=True)
    tmp = path + ".tmp"
    with ssfile.open(tmp, "w", created_at=T0, file_name=os.path.basename(path)) as w:
        for i in range(n):
            w.write(b"%020d" % i, stream_key=STREAMS[i & 3], timestamp=T0 + i // 10)
    os.replace(tmp, path)
    return path


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def bench_seeks(path: str, samples: int) -> list[str]:
    size = os.path.getsize(path)
    rng = random.Random(42)
    with ssfile.open(path) as r:
        interval = r.header.beacon_interval
        last = T0 + (size // 1065)
        first_bytes = rchar()
        t = time.perf_counter()
        r.seek_time(T0 + 1000)
        first = (time.perf_counter() - t, rchar() - first_bytes)
        out = [
            f"File: {size / (1 << 30):.2f} GiB, {size // interval} beacons of {interval} bytes, "
            f"4 streams, 1 KiB payloads.",
            "",
        ]
        out.append(
            f"First seek on a fresh reader (includes the once-per-reader check of interval 0 "
            f"for an EOS): {first[0] * 1000:.2f} ms, {first[1]} bytes."
        )
        out.append("")
        out.append(
            "| seek | samples | median ms | p95 ms | max ms | median bytes read | max bytes read "
            "| max / interval |"
        )
        out.append("|---|---|---|---|---|---|---|---|")
        for kind in ("time", "sequence"):
            lat, nbytes = [], []
            for _ in range(samples):
                target = rng.randrange(T0, last)
                before = rchar()
                t = time.perf_counter()
                if kind == "time":
                    m = r.seek_time(target)
                else:
                    m = r.seek_sequence(STREAMS[target & 3], 0, (target - T0) // 4)
                lat.append((time.perf_counter() - t) * 1000)
                nbytes.append(rchar() - before)
                assert m is not None
            out.append(
                f"| {kind} | {samples} | {statistics.median(lat):.2f} | {pct(lat, 0.95):.2f} | "
                f"{max(lat):.2f} | {int(statistics.median(nbytes))} | {max(nbytes)} | "
                f"{max(nbytes) / interval:.2f} |"
            )
    return out


def bench_cat(path: str) -> list[str]:
    size = os.path.getsize(path)
    last = T0 + size // 1065
    out = ["", "| `ssfile cat` (stdout to /dev/null) | wall s |", "|---|---|"]
    runs = [
        (
            "--since <90% in> --limit 1000",
            ["--since", str(T0 + int((last - T0) * 0.9)), "--limit", "1000"],
        ),
        ("--since <last 10,000 messages>", ["--since", str(last - 10_000)]),
        (
            "--stream orders --from-seq <half> --limit 1000",
            ["--stream", "orders", "--from-seq", str((last - T0) // 8), "--limit", "1000"],
        ),
    ]
    for label, extra in runs:
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "ssfile", "cat", path, *extra],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        out.append(f"| {label} | {time.perf_counter() - t:.3f} |")
    return out


async def _async_read(path: str, per_message: bool) -> int:
    n = 0
    async with ssfile.aopen(path) as r:
        if per_message:
            async for _ in r:
                n += 1
        else:
            async for batch in r.batches():
                n += len(batch)
    return n


def bench_async(path: str) -> list[str]:
    out = [
        "",
        "| read everything (small-payload file) | messages | s | msg/s |",
        "|---|---|---|---|",
    ]
    t = time.perf_counter()
    with ssfile.open(path) as r:
        n = sum(1 for _ in r)
    dt = time.perf_counter() - t
    out.append(f"| sync `for m in reader` | {n} | {dt:.2f} | {n / dt:,.0f} |")
    for label, per in (
        ("async `async for m in r`", True),
        ("async `async for batch in r.batches()`", False),
    ):
        t = time.perf_counter()
        n = asyncio.run(_async_read(path, per))
        dt = time.perf_counter() - t
        out.append(f"| {label} | {n} | {dt:.2f} | {n / dt:,.0f} |")
    return out


WRITER = r"""
import sys, time, ssfile
path, n = sys.argv[1], int(sys.argv[2])
with ssfile.open(path, "a") as w:
    for i in range(n):
        time.sleep(0.02)
        w.write(b"%d" % time.time_ns(), stream_key="live", timestamp=1)
        w.flush()
"""


def bench_follow(samples: int) -> list[str]:
    path = os.path.join(DATA, "follow.ss")
    with ssfile.open(path, "w", beacon_interval=4096, eos=False) as w:
        w.write(b"0", stream_key="live", timestamp=1)
    # idle CPU: a follower with nothing to read
    import threading

    got: list[float] = []

    def follow() -> None:
        with ssfile.open(path, follow=True) as r:
            for m in r:
                if m.payload != b"0":
                    got.append((time.time_ns() - int(m.payload)) / 1e6)

    th = threading.Thread(target=follow, daemon=True)
    th.start()
    time.sleep(0.5)
    c0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    time.sleep(5)
    c1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    idle = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) / (t1 - t0) * 100
    subprocess.run([sys.executable, "-c", WRITER, path, str(samples)], check=True, cwd=ROOT)
    while len(got) < samples:
        time.sleep(0.05)
    return [
        "",
        f"Follow: {samples} messages appended by another process (our writer, flush per "
        f"message, 20 ms apart): delivery latency median {statistics.median(got):.1f} ms, "
        f"p95 {pct(got, 0.95):.1f} ms, max {max(got):.1f} ms.  Idle follower: "
        f"{idle:.2f}% of a core over 5 s.",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    big = big_file(0.1 if args.quick else 1.05)
    small = small_file(200_000 if args.quick else 2_000_000)
    lines = ["### Seek, cat, asyncio, follow (issue 3; `bench/seek.py`)", ""]
    lines += bench_seeks(big, 50 if args.quick else 300)
    lines += bench_cat(big)
    lines += bench_async(small)
    lines += bench_follow(20 if args.quick else 100)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
