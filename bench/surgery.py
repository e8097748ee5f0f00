"""Issue-15 benchmarks: filter by time on a ~1 GiB file, merge of 8 files of 1,000,000
messages, split throughput; each against a reference measured in the same run.

    .venv/bin/python bench/surgery.py              # everything, markdown on stdout
    .venv/bin/python bench/surgery.py --quick      # smaller files

References: a plain read of the same file (iterating a Reader) and a full relay (``filter``
with no selection: every message read and written again).  Bytes read are the kernel's count
(``rchar`` in /proc/self/io) for the process doing the work.  The files were just written or
read, so they are in the page cache: CPU and syscall numbers, not disk numbers.  Merge memory
is the peak RSS of a fresh child process doing only that merge (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from seek import DATA, T0, big_file, rchar  # noqa: E402

import ssfile  # noqa: E402


def timed(fn):  # type: ignore[no-untyped-def]
    r0, t0 = rchar(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0, rchar() - r0


def plain_read(path: str) -> int:
    n = 0
    with ssfile.open(path) as r:
        for _ in r:
            n += 1
    return n


def merge_inputs(files: int, per_file: int) -> list[str]:
    """``files`` recordings of ``per_file`` 20-byte messages, one stream each, interleaved in
    time (file i stamps message j at T0 + j*files + i)."""
    os.makedirs(DATA, exist_ok=True)
    paths = []
    for i in range(files):
        path = os.path.join(DATA, f"merge-{per_file}-{i}.ss")
        paths.append(path)
        if os.path.exists(path):
            continue
        tmp = path + ".tmp"
        with ssfile.open(tmp, "w", created_at=T0, file_name=os.path.basename(path)) as w:
            key = f"sensor-{i}"
            for j in range(per_file):
                w.write(b"%020d" % j, stream_key=key, sequence=j + 1, timestamp=T0 + j * files + i)
        os.replace(tmp, path)
    return paths


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import ssfile
srcs, dst, what = {srcs!r}, {dst!r}, {what!r}
t0 = time.perf_counter()
if what == "merge":
    s = ssfile.merge(srcs, dst)
    n = s.messages_written
else:
    n = 0
    for p in srcs:
        with ssfile.open(p) as r:
            for _ in r:
                n += 1
wall = time.perf_counter() - t0
print(json.dumps({{"n": n, "wall": wall, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def child(what: str, srcs: list[str], dst: str) -> dict[str, float]:
    code = CHILD.format(root=ROOT, srcs=srcs, dst=dst, what=what)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def bench_filter(path: str) -> list[str]:
    size = os.path.getsize(path)
    out = os.path.join(DATA, "surgery-out.ss")
    n, read_wall, read_bytes = timed(lambda: plain_read(path))
    full, full_wall, full_bytes = timed(lambda: ssfile.filter(path, out))
    first = T0
    last = T0 + n - 1  # one message per ms
    rows = []
    for frac in (0.001, 0.01, 0.1):
        since = first + int((last - first) * 0.5)
        until = since + int((last - first) * frac)
        s, wall, nbytes = timed(lambda: ssfile.filter(path, out, since=since, until=until))  # noqa: B023
        rows.append(
            f"| `filter --since --until`, {frac:.1%} window ({s.messages_written:,} msgs) "
            f"| {wall:.3f} | {mb(nbytes)} | {full_wall / wall:,.0f}x faster | "
            f"{nbytes / size:.2%} of the file |"
        )
    os.unlink(out)
    return [
        f"File: {mb(size)}, {n:,} messages of 1 KiB, 4 streams, 1 MiB beacon interval.",
        "",
        "| run | wall (s) | bytes read | vs full relay | |",
        "|---|---:|---:|---:|---|",
        f"| plain read (iterate a Reader), reference | {read_wall:.2f} | {mb(read_bytes)} | "
        f"| {n / read_wall:,.0f} msg/s |",
        f"| full relay: `filter` with no selection, reference | {full_wall:.2f} | "
        f"{mb(full_bytes)} | 1x | {full.messages_written / full_wall:,.0f} msg/s, "
        f"{size / full_wall / 1e6:,.0f} MB/s |",
        *rows,
    ]


def bench_merge(files: int, per_file: int) -> list[str]:
    srcs = merge_inputs(files, per_file)
    small = merge_inputs(files, per_file // 10)
    dst = os.path.join(DATA, "merge-out.ss")
    read = child("read", srcs, dst)
    merged = child("merge", srcs, dst)
    merged_small = child("merge", small, dst)
    os.unlink(dst)
    total = files * per_file
    assert merged["n"] == total
    return [
        f"{files} files x {per_file:,} messages (20-byte payloads, one stream each, interleaved "
        "in time), each step in a fresh process.",
        "",
        "| run | messages | wall (s) | msg/s | peak RSS |",
        "|---|---:|---:|---:|---:|",
        f"| plain read of the {files} files, reference | {read['n']:,} | {read['wall']:.2f} | "
        f"{read['n'] / read['wall']:,.0f} | {read['rss'] / 1024:,.0f} MiB |",
        f"| `merge` | {merged['n']:,} | {merged['wall']:.2f} | "
        f"{merged['n'] / merged['wall']:,.0f} ({merged['n'] / merged['wall'] / (read['n'] / read['wall']):.2f}x the read) "
        f"| {merged['rss'] / 1024:,.0f} MiB |",
        f"| `merge`, inputs 10x smaller | {merged_small['n']:,} | {merged_small['wall']:.2f} | "
        f"{merged_small['n'] / merged_small['wall']:,.0f} | {merged_small['rss'] / 1024:,.0f} MiB |",
    ]


def bench_split(path: str) -> list[str]:
    size = os.path.getsize(path)
    outdir = os.path.join(DATA, "split")
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(DATA, "surgery-out.ss")
    full, full_wall, _ = timed(lambda: ssfile.filter(path, out))
    os.unlink(out)
    rows = []
    for label, how in (
        ("`split --size 256MiB`", dict(size=256 << 20)),
        ("`split --every 1m`", dict(every=60_000)),
        ("`split --count 100000`", dict(count=100_000)),
        ("`split --by-stream`", dict(by_stream=True)),
    ):
        pattern = os.path.join(outdir, "p-{stream}.ss" if "by_stream" in how else "p-{n}.ss")
        s, wall, _ = timed(lambda: ssfile.split(path, pattern, **how))  # noqa: B023
        for p, _ in s.outputs:
            os.unlink(p)
        rows.append(
            f"| {label} | {len(s.outputs)} | {wall:.2f} | {size / wall / 1e6:,.0f} MB/s | "
            f"{s.messages_written / wall:,.0f} | {full_wall / wall:.2f}x |"
        )
    os.rmdir(outdir)
    return [
        "| run | pieces | wall (s) | throughput | msg/s | speed vs full relay |",
        "|---|---:|---:|---:|---:|---:|",
        f"| full relay (`filter`, no selection), reference | 1 | {full_wall:.2f} | "
        f"{size / full_wall / 1e6:,.0f} MB/s | {full.messages_written / full_wall:,.0f} | 1x |",
        *rows,
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller files")
    args = parser.parse_args()
    gib = 0.1 if args.quick else 1.0
    per_file = 100_000 if args.quick else 1_000_000
    path = big_file(gib)
    cmd = "python bench/surgery.py" + (" --quick" if args.quick else "")
    print(
        f"Command: `{cmd}`; machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}."
    )
    print()
    print("#### filter by time (seeks by bisection) vs a full relay of the same file\n")
    print("\n".join(bench_filter(path)))
    print("\n#### merge: k-way by timestamp, memory bounded by the number of inputs\n")
    print("\n".join(bench_merge(8, per_file)))
    print("\n#### split throughput (same file as the filter runs)\n")
    print("\n".join(bench_split(path)))
    print(
        f"\n(peak RSS of this driver process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
