"""Issue-13 benchmark: ``ssfile.dask.read_ss`` on a LocalCluster of 2 worker processes vs
one process (``ssfile.to_pandas`` file after file), on 8 files of 1,000,000 messages and on
one ~1 GB file split at beacons (default block size, 256 MiB).

    .venv/bin/python bench/dask_bench.py                 # markdown on stdout
    .venv/bin/python bench/dask_bench.py --files 8 --messages 1000000 --big-mb 1024

Each measurement runs in a fresh child process (a fresh cluster for the Dask ones; its
start-up is not timed).  Reported: wall time of the computation, the speed-up against the
one-process reference measured in the same run, and peak RSS (VmHWM) of the reference
process and of each Dask worker process.  Workloads, both ending in a small result so no
rows travel back to the client:

* ``headers``: per stream, the message count and the largest sequence (no payload read);
* ``payloads``: per stream, the total payload bytes (every payload read as bytes).

Files are written once into bench/data/dask/ (gitignored) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data", "dask")
sys.path.insert(0, ROOT)

T0 = 1_767_225_600_000
KEYS = [("clock", 0), ("orders", 1), ("orders", 2), ("sensors", 0)]


def record(path: str, n: int, offset: int = 0) -> None:
    """``n`` messages over 4 streams, ~60-byte JSON payloads (deterministic)."""
    import ssfile

    if os.path.exists(path):
        return
    tmp = path + ".tmp"
    with ssfile.open(tmp, "w", created_at=T0) as w:
        for i in range(offset, offset + n):
            key, shard = KEYS[i & 3]
            w.write(
                b'{"i":%d,"v":%d,"price":%d.%02d,"tag":"abcdefgh"}'
                % (i, i % 97, i % 1000, i % 100),
                stream_key=key,
                shard_id=shard,
                timestamp=T0 + i // 4,
            )
    os.replace(tmp, path)


def hwm_kib() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM")).split()[1])


def headers_pandas(frame):  # type: ignore[no-untyped-def]
    return frame.groupby("stream_key", observed=True)["sequence"].agg(["count", "max"])


def payloads_pandas(frame):  # type: ignore[no-untyped-def]
    return frame["payload"].map(len).groupby(frame["stream_key"], observed=True).sum()


def one(mode: str, workload: str, sources: list[str], workers: int) -> dict[str, object]:
    """One measurement, in this (child) process."""
    import pandas as pd

    import ssfile

    if mode == "ref":
        t = time.perf_counter()
        parts = []
        for src in sources:
            frame = ssfile.to_pandas(src, payload=workload == "payloads")
            parts.append(headers_pandas(frame) if workload == "headers" else payloads_pandas(frame))
            del frame
        if workload == "headers":
            got = pd.concat(parts).groupby(level=0).agg({"count": "sum", "max": "max"})
        else:
            got = pd.concat(parts).groupby(level=0).sum()
        wall = time.perf_counter() - t
        return {"wall": wall, "rss_kib": [hwm_kib()], "result": _digest(got)}
    import dask
    from distributed import Client, LocalCluster

    import ssfile.dask

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
            memory_limit=0,
        ) as cluster,
        Client(cluster) as client,
    ):
        import dask.dataframe  # noqa: F401  - imports are not timed, here and in the workers

        client.run(lambda: [__import__(m) for m in ("ssfile.export.partread", "dask.dataframe")])
        t = time.perf_counter()
        source = sources if len(sources) > 1 else sources[0]
        if workload == "headers":
            ddf = ssfile.dask.read_ss(source, columns=["stream_key", "sequence"])
            got = ddf.groupby("stream_key", observed=True)["sequence"].agg(["count", "max"])
        else:
            ddf = ssfile.dask.read_ss(source, columns=["stream_key", "payload"])
            sizes = ddf["payload"].map(len, meta=("payload", "int64"))
            got = sizes.groupby(ddf["stream_key"], observed=True).sum()
        (result,) = dask.compute(got)
        wall = time.perf_counter() - t
        rss = sorted(client.run(hwm_kib).values())
        return {
            "wall": wall,
            "rss_kib": rss,
            "partitions": ddf.npartitions,
            "result": _digest(result),
        }


def _digest(frame) -> str:  # type: ignore[no-untyped-def]
    frame = frame.sort_index()
    frame.index = frame.index.astype(str)
    return json.dumps(frame.astype("int64").to_dict(), sort_keys=True)


def measure(mode: str, workload: str, sources: list[str], workers: int = 2) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, workload, str(workers), *sources],
        capture_output=True,
        text=True,
        check=True,
    )
    got: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    got["load"] = (load_before, os.getloadavg()[0])
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--big-mb", type=int, default=1024)
    ap.add_argument("--child", nargs="+")
    args = ap.parse_args()
    if args.child:
        mode, workload, workers, *sources = args.child
        print(json.dumps(one(mode, workload, sources, int(workers))))
        return
    os.makedirs(DATA, exist_ok=True)
    files = []
    for i in range(args.files):
        path = os.path.join(DATA, f"part-{i}-{args.messages}.ss")
        record(path, args.messages, i * args.messages)
        files.append(path)
    per_msg = os.path.getsize(files[0]) / args.messages
    big_n = int(args.big_mb * 2**20 / per_msg)
    big = os.path.join(DATA, f"big-{big_n}.ss")
    record(big, big_n)
    print(
        f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}"
    )
    print(
        f"files: {args.files} x {args.messages:,} messages ({os.path.getsize(files[0]) / 2**20:.1f} MiB each); "
        f"big: {big_n:,} messages, {os.path.getsize(big) / 2**20:.0f} MiB\n"
    )
    print(
        "| data | workload | one process s | Dask 1 worker s | Dask 2 workers s | speed-up (2 workers vs one process) | partitions | peak RSS MiB: one process | peak RSS MiB per worker (2 workers) | load avg (1 min) before..after |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, sources in [(f"{args.files} files", files), ("1 big file", [big])]:
        for workload in ("headers", "payloads"):
            ref = measure("ref", workload, sources)
            d1 = measure("dask", workload, sources, 1)
            d2 = measure("dask", workload, sources, 2)
            assert ref["result"] == d1["result"] == d2["result"], "results differ"
            loads = [x["load"] for x in (ref, d1, d2)]
            print(
                f"| {label} | {workload} | {ref['wall']:.2f} | {d1['wall']:.2f} | {d2['wall']:.2f} "
                f"| {ref['wall'] / d2['wall']:.2f}x | {d2['partitions']} "
                f"| {ref['rss_kib'][0] / 1024:.0f} "
                f"| {' / '.join(f'{r / 1024:.0f}' for r in d2['rss_kib'])} "
                f"| {min(lo for lo, _ in loads):.1f}..{max(hi for _, hi in loads):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
