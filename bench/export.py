"""Header columns of a big recording: the vectorised scan against the plain reader loop.

    .venv/bin/python bench/export.py                     # 10,000,000 messages, markdown on stdout
    .venv/bin/python bench/export.py --messages 1000000

The recording is written once with ssfile's writer (4 streams, 1 MiB beacons, ~20-byte JSON
payloads) and kept in --dir for the next run.  Each variant builds the same DataFrame
(stream_key categorical, shard_id, sequence, timestamp UTC, offset); the reader loop's
frame is checked equal to the vectorised one.  Times are best of --repeat runs, wall clock
and process CPU (the machine is shared: CPU time is the steadier figure).  Memory is the
tracemalloc peak of a separate run (numpy reports its buffers to tracemalloc) compared to
the bytes of the columns returned.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import ssfile  # noqa: E402

KEYS = [("clock", 0), ("orders", 1), ("orders", 2), ("sensors", 0)]
T0 = 1_767_225_600_000


def record(path: str, n: int) -> None:
    with ssfile.open(path, "w", created_at=T0) as w:
        for i in range(n):
            key, shard = KEYS[i & 3]
            w.write(
                b'{"i":%d,"v":%d}' % (i, i % 97),
                stream_key=key,
                shard_id=shard,
                timestamp=T0 + i // 4,
            )


def reader_loop_frame(path: str) -> pd.DataFrame:
    """The hand-written loop people use today: lists, then a DataFrame."""
    keys, shards, seqs, stamps, offsets = [], [], [], [], []
    with ssfile.open(path) as r:
        for m in r:
            keys.append(m.stream_key)
            shards.append(m.shard_id)
            seqs.append(m.sequence)
            stamps.append(m.timestamp_ms)
            offsets.append(m.offset)
    return pd.DataFrame(
        {
            "stream_key": pd.Categorical(keys, categories=list(dict.fromkeys(keys))),
            "shard_id": np.array(shards, dtype=np.uint64),
            "sequence": np.array(seqs, dtype=np.uint64),
            "timestamp": pd.DatetimeIndex(np.array(stamps, dtype="datetime64[ms]")).tz_localize(
                "UTC"
            ),
            "offset": np.array(offsets, dtype=np.int64),
        }
    )


def timed(fn, repeat: int):  # type: ignore[no-untyped-def]
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        result = None
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return result, best_wall, best_cpu


def peak_bytes(fn) -> tuple[int, object]:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--dir", default="/tmp/ssfile-bench")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-reader", action="store_true", help="skip the (slow) reader loop")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, f"export-{args.messages}.ss")
    if not os.path.exists(path):
        t = time.perf_counter()
        record(path, args.messages)
        print(f"<!-- recorded {path} in {time.perf_counter() - t:.1f} s -->", file=sys.stderr)
    n = args.messages
    size = os.path.getsize(path)
    variants = {
        "to_numpy(payload=False, check_crc=False)": lambda: ssfile.to_numpy(
            path, payload=False, check_crc=False
        ),
        "to_numpy(payload=False) (CRC checked)": lambda: ssfile.to_numpy(path, payload=False),
        "to_numpy() (CRC checked, payload buffer)": lambda: ssfile.to_numpy(path),
        "to_pandas(payload=False, check_crc=False)": lambda: ssfile.to_pandas(
            path, payload=False, check_crc=False
        ),
        "to_pandas(payload=False) (CRC checked)": lambda: ssfile.to_pandas(path, payload=False),
    }
    rows = []
    for name, fn in variants.items():
        got, wall, cpu = timed(fn, args.repeat)
        assert len(got) == n, (name, len(got))
        rows.append((name, wall, cpu))
        del got
    fast_df = ssfile.to_pandas(path, payload=False, check_crc=False)
    if not args.skip_reader:
        slow_df, wall, cpu = timed(lambda: reader_loop_frame(path), 1)
        pd.testing.assert_frame_equal(slow_df, fast_df, check_categorical=True)
        rows.append(("plain Reader loop -> lists -> DataFrame (CRC checked)", wall, cpu))
        del slow_df
    cols = ssfile.to_numpy(path, payload=False, check_crc=False)
    col_bytes = sum(
        a.nbytes
        for a in (cols.stream_codes, cols.shard_id, cols.sequence, cols.timestamp, cols.offset)
    )
    del cols
    peak, _ = peak_bytes(lambda: ssfile.to_numpy(path, payload=False, check_crc=False))
    print(f"### Export: header columns of {n:,} messages ({size / 1e6:.0f} MB file)\n")
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{platform.machine()}; best of {args.repeat} (reader loop: 1 run)\n"
    )
    print("| variant | wall s | wall msg/s | CPU s | CPU msg/s |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, cpu in rows:
        print(
            f"| {name} | {wall:.2f} | {n / wall / 1e6:.2f} M | {cpu:.2f} | {n / cpu / 1e6:.2f} M |"
        )
    print(
        f"\nMemory (to_numpy, payload=False): tracemalloc peak {peak / 1e6:.0f} MB for "
        f"{col_bytes / 1e6:.0f} MB of columns ({peak / col_bytes:.2f}x)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
