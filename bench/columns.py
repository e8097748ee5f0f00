"""Issue 17: the columnar scan against zlib.crc32, its memory, and payload buffer vs bytes.

    .venv/bin/python bench/columns.py                    # all three tables, markdown on stdout
    .venv/bin/python bench/columns.py --only scan        # or memory, payloads
    .venv/bin/python bench/columns.py --quick            # smaller files, for a look

Files are written once by ssfile's writer into --dir (default bench/data, gitignored): 4
streams, 1 MiB beacons, printable payloads.  Shapes: 1,000,000 x 100 B and 200,000 x 4 KiB
(scan); 1 GB of 100 B payloads (memory); 100 MB files of 0 B .. 64 KiB payloads (payloads).

* scan: the variants run interleaved, round after round, in one process, and each keeps
  its best time, so every ratio compares runs made under the same load.  The floor is
  ``zlib.crc32`` over the same file, mapped afresh each time as the scan maps it.  "numpy" is
  the pure numpy scan (what runs without a compiler, or with SSFILE_PURE=1).
* memory: each variant runs in a fresh subprocess; a thread samples the process's anonymous
  resident memory (``RssAnon`` in /proc/self/status, every 0.5 ms: the C scan releases the
  GIL) and its file-backed resident memory (``RssFile``: the page cache of the mapped input,
  shared, not the program's); the peak over the call, less what was there before, is
  compared to the bytes of the returned arrays.  tracemalloc's peak (numpy reports every
  buffer to it) is a second, exact measure of the arrays allocated.
* payloads: ``to_numpy(payload=True)`` (one buffer + offsets) against ``payload="bytes"``
  (an object array of bytes), interleaved in one process, best of --repeat, per size.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import platform
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import ssfile  # noqa: E402
from ssfile.export import columns as _columns  # noqa: E402
from ssfile.export import cscan  # noqa: E402

T0 = 1_767_225_600_000
PAYLOAD_SIZES = [0, 16, 100, 1024, 4096, 65536]


def record(path: str, n: int, size: int) -> None:
    """``n`` messages of ``size`` printable bytes, round-robin over 4 streams (written once)."""
    if os.path.exists(path):
        return
    pool = [bytes(32 + (i + j) % 95 for j in range(size)) for i in range(64)]
    tmp = path + ".tmp"
    with ssfile.open(tmp, "w", created_at=T0) as w:
        write = w.write
        for i in range(n):
            write(pool[i & 63], stream_key=f"stream-{i & 3}", shard_id=0, timestamp=T0 + i // 4)
    os.replace(tmp, path)


def zlib_over(path: str) -> int:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return zlib.crc32(mm)


def numpy_scan(fn):  # type: ignore[no-untyped-def]
    def run():  # type: ignore[no-untyped-def]
        _columns.USE_C = False
        try:
            return fn()
        finally:
            _columns.USE_C = True

    return run


def interleaved(variants: dict, rounds: int) -> dict[str, tuple[float, float]]:  # type: ignore[type-arg]
    """Best (wall, CPU) seconds of each variant over ``rounds`` rounds of all of them."""
    best = {name: (float("inf"), float("inf")) for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t, c = time.perf_counter(), time.process_time()
            got = fn()
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
            del got
    return best


# ---- scan -------------------------------------------------------------------------------------


def scan_table(args: argparse.Namespace) -> None:
    shapes = [(1_000_000, 100), (200_000, 4096)]
    if args.quick:
        shapes = [(200_000, 100), (40_000, 4096)]
    print("### Columnar scan vs zlib.crc32 (issue 17; `bench/columns.py --only scan`)\n")
    print(f"{machine()}; {args.rounds} interleaved rounds, best of each.\n")
    print(
        "| file | zlib.crc32 s (wall / CPU) | to_numpy(payload=False), CRC checked, s | "
        "ratio vs zlib (wall / CPU) | no CRC s | numpy path s | numpy / C | M msg/s (C) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, size in shapes:
        path = os.path.join(args.dir, f"columns-{n}x{size}.ss")
        record(path, n, size)
        variants = {
            "zlib": lambda p=path: zlib_over(p),
            "c": lambda p=path: ssfile.to_numpy(p, payload=False),
            "c_nocrc": lambda p=path: ssfile.to_numpy(p, payload=False, check_crc=False),
        }
        best = interleaved(variants, args.rounds)
        pure = numpy_scan(lambda p=path: ssfile.to_numpy(p, payload=False))
        slow = interleaved({"numpy": pure}, 1)["numpy"]
        (zw, zc), (cw, cc), (nw, _) = best["zlib"], best["c"], best["c_nocrc"]
        mb = os.path.getsize(path) / 1e6
        print(
            f"| {n:,} x {size} B ({mb:.0f} MB) | {zw:.3f} / {zc:.3f} | {cw:.3f} / {cc:.3f} | "
            f"**{cw / zw:.2f}x / {cc / zc:.2f}x** | {nw:.3f} | {slow[0]:.2f} | "
            f"{slow[0] / cw:.1f}x | {n / cw / 1e6:.1f} |"
        )
    print()


# ---- memory -----------------------------------------------------------------------------------


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(path: str, payload: str) -> None:
    """Runs in a fresh process: one to_numpy call, sampled; prints a JSON line."""
    import numpy as np  # noqa: F401  (imported before the baseline is taken)

    mode = {"none": False, "buffer": True}[payload]
    peak = {"anon": 0, "file": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["anon"] = max(peak["anon"], _status("RssAnon:"))
            peak["file"] = max(peak["file"], _status("RssFile:"))
            time.sleep(0.0005)

    base_anon, base_file = _status("RssAnon:"), _status("RssFile:")
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    time.sleep(0.01)
    t = time.perf_counter()
    cols = ssfile.to_numpy(path, payload=mode)
    dt = time.perf_counter() - t
    after = _status("RssAnon:")
    done.set()
    thread.join()
    arrays = [cols.stream_codes, cols.shard_id, cols.sequence, cols.timestamp, cols.offset]
    if mode:
        arrays += [cols.payload_buffer, cols.payload_offsets]
    size = sum(a.nbytes for a in arrays)
    del cols
    tracemalloc.start()
    again = ssfile.to_numpy(path, payload=mode)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del again
    print(
        json.dumps(
            {
                "seconds": dt,
                "columns": size,
                "anon_peak": max(peak["anon"], after) - base_anon,
                "file_peak": peak["file"] - base_file,
                "traced_peak": traced,
                "messages": len(arrays[0]),
            }
        )
    )


def memory_table(args: argparse.Namespace) -> None:
    n = 1_000_000 if args.quick else 7_700_000
    path = os.path.join(args.dir, f"columns-{n}x100.ss")
    record(path, n, 100)
    print("### to_numpy memory on a large file (issue 17; `bench/columns.py --only memory`)\n")
    print(
        f"{os.path.getsize(path) / 1e9:.2f} GB file ({n:,} x 100 B); each row a fresh "
        "subprocess; anonymous memory sampled from /proc/self/status every 0.5 ms.\n"
    )
    print(
        "| call | returned arrays MB | peak anonymous MB (RssAnon) | anon / arrays | "
        "tracemalloc peak MB | traced / arrays | mapped file resident MB (RssFile) | s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for payload, label in (("none", "to_numpy(payload=False)"), ("buffer", "to_numpy()")):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", path, payload],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        col = r["columns"]
        print(
            f"| `{label}` | {col / 1e6:.0f} | {r['anon_peak'] / 1e6:.0f} | "
            f"**{r['anon_peak'] / col:.2f}x** | {r['traced_peak'] / 1e6:.0f} | "
            f"{r['traced_peak'] / col:.2f}x | {r['file_peak'] / 1e6:.0f} | {r['seconds']:.2f} |"
        )
    print()


# ---- payloads ---------------------------------------------------------------------------------


def payload_table(args: argparse.Namespace) -> None:
    target = 20e6 if args.quick else 100e6
    print("### Payload buffer vs bytes objects (issue 17; `bench/columns.py --only payloads`)\n")
    print(f"{machine()}; ~{target / 1e6:.0f} MB files; {args.rounds} interleaved rounds.\n")
    print(
        "| payload size | messages | `payload=True` (buffer) s (wall / CPU) | "
        '`payload="bytes"` s (wall / CPU) | buffer / bytes (wall / CPU) |'
    )
    print("|---:|---:|---:|---:|---:|")
    for size in PAYLOAD_SIZES:
        n = max(1000, int(target // (size + 44)))
        path = os.path.join(args.dir, f"columns-{n}x{size}.ss")
        record(path, n, size)
        best = interleaved(
            {
                "buffer": lambda p=path: ssfile.to_numpy(p, payload=True),
                "bytes": lambda p=path: ssfile.to_numpy(p, payload="bytes"),
            },
            args.rounds,
        )
        (bw, bc), (yw, yc) = best["buffer"], best["bytes"]
        print(
            f"| {size} | {n:,} | {bw:.3f} / {bc:.3f} | {yw:.3f} / {yc:.3f} | "
            f"**{bw / yw:.2f} / {bc / yc:.2f}** |"
        )
    print()


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus, "
        f"load {load:.1f}, C scan {'on' if cscan.available() else 'OFF'}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=os.path.join(HERE, "data"))
    ap.add_argument("--only", choices=["scan", "memory", "payloads"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    os.makedirs(args.dir, exist_ok=True)
    for name, fn in (("scan", scan_table), ("memory", memory_table), ("payloads", payload_table)):
        if args.only in (None, name):
            fn(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
