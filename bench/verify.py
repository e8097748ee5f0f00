"""verify and repair throughput on a large file (issue 4).

    .venv/bin/python bench/verify.py [FILE]     # default: bench/data/seek-*.ss from bench/seek.py

Each measurement runs in its own process (peak RSS = its ru_maxrss); the baseline is a plain
read of the file in 1 MiB chunks and the plain ssfile reader loop, in the same run.
"""

from __future__ import annotations

import glob
import os
import resource
import subprocess
import sys
import tempfile
import time


def child(kind: str, path: str, out: str) -> None:
    t = time.perf_counter()
    if kind == "read":
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    elif kind == "reader":
        import ssfile

        with ssfile.open(path) as r:
            for _ in r:
                pass
    elif kind == "verify":
        import ssfile

        d = ssfile.verify(path)
        assert d is not None
    else:
        import ssfile

        ssfile.repair(path, out)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(dt, rss)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    path = (
        sys.argv[1]
        if len(sys.argv) > 1
        else max(glob.glob("bench/data/seek-*.ss"), key=os.path.getsize)
    )
    size = os.path.getsize(path)
    rows = []
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        for kind in ("read", "reader", "verify", "repair"):
            out = os.path.join(tmp, "repaired.ss")
            res = subprocess.run(
                [sys.executable, __file__, "--child", kind, path, out],
                check=True,
                capture_output=True,
                text=True,
            )
            dt, rss = (float(x) for x in res.stdout.split())
            rows.append((kind, dt, rss))
    print(f"file {path}: {size:,} bytes; python {sys.version.split()[0]}; nproc {os.cpu_count()}")
    print("| measurement | s | MB/s | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    names = {
        "read": "baseline: plain read, 1 MiB chunks",
        "reader": "baseline: ssfile.open reader loop",
        "verify": "`ssfile.verify`",
        "repair": "`ssfile.repair` (clean input, full rewrite)",
    }
    for kind, dt, rss in rows:
        print(f"| {names[kind]} | {dt:.2f} | {size / dt / 1e6:,.0f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
