"""verify and repair throughput on a large file (issue 4), and through garbage (issue 12).

    .venv/bin/python bench/verify.py [FILE]     # default: bench/data/seek-*.ss from bench/seek.py
    .venv/bin/python bench/verify.py --garbage  # resync speed: random tails, damage every 4 MB

``--garbage`` builds its files in a temporary directory: a 4 MiB recording (1 MiB interval)
followed by a 1 MB or 64 MB random tail, and a 64 MiB recording with 4 KiB of random bytes
every 4 MiB.  Each is verified, repaired and read with ``on_damage="skip"``, once with the C
accelerator and once with ``SSFILE_PURE=1`` (64 MB tails: C only), each in its own process;
the reference is ``zlib.crc32`` over the same bytes, measured in the same process.

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
    if kind.startswith("garbage-"):
        garbage_child(kind[len("garbage-") :], path, out)
        return
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


def garbage_child(kind: str, path: str, out: str) -> None:
    """One garbage measurement; prints seconds, and seconds of zlib.crc32 over the file."""
    import warnings
    import zlib

    import ssfile

    with open(path, "rb") as f:
        data = f.read()
    t = time.perf_counter()
    zlib.crc32(data)
    ref = time.perf_counter() - t
    del data
    t = time.perf_counter()
    if kind == "verify":
        ssfile.verify(path)
    elif kind == "repair":
        ssfile.repair(path, out, overwrite=True)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ssfile.DamageWarning)
            with ssfile.open(path, on_damage="skip", tolerate_truncation=True) as r:
                for _ in r:
                    pass
    print(time.perf_counter() - t, ref)


def make_garbage_files(tmp: str) -> list[tuple[str, str, int]]:
    """(label, path, garbage bytes) of the files ``--garbage`` measures."""
    import random

    import ssfile

    rng = random.Random(12)
    base = os.path.join(tmp, "base.ss")
    with ssfile.open(base, "w") as w:  # default interval, 1 MiB
        for i in range(4 * 4096):
            w.write(rng.randbytes(230), stream_key=("a", "b", "c")[i % 3])
        w.close(eos=False)
    clean = open(base, "rb").read()
    files = []
    for label, n in (("1 MB random tail", 1_000_000), ("64 MB random tail", 64_000_000)):
        path = os.path.join(tmp, f"tail-{n}.ss")
        with open(path, "wb") as f:
            f.write(clean)
            f.write(rng.randbytes(n))
        files.append((label, path, n))
    clean64 = os.path.join(tmp, "clean64.ss")
    with ssfile.open(clean64, "w") as w:
        for i in range(64 * 4096):
            w.write(rng.randbytes(230), stream_key=("a", "b", "c")[i % 3])
    data = bytearray(open(clean64, "rb").read())
    hits = 0
    for j, at in enumerate(range(3 << 20, len(data) - (1 << 20), 4 << 20)):
        at += (j % 2) * 300_000  # every other one on a beacon, the others inside an interval
        data[at : at + 4096] = rng.randbytes(4096)
        hits += 4096
    big = os.path.join(tmp, "every4.ss")
    with open(big, "wb") as f:
        f.write(data)
    files.append(("64 MiB, 4 KiB random every 4 MiB", big, hits))
    files.append(("the same 64 MiB, no damage (reference)", clean64, 0))
    return files


def garbage_main() -> None:
    rows = []
    with tempfile.TemporaryDirectory(
        dir="bench/data" if os.path.isdir("bench/data") else None
    ) as tmp:
        for label, path, garbage in make_garbage_files(tmp):
            size = os.path.getsize(path)
            for pure in ("0", "1"):
                if pure == "1" and garbage > 10_000_000:
                    continue  # the pure search is far slower; the 1 MB tail shows its rate
                for kind in ("verify", "repair", "skip"):
                    res = subprocess.run(
                        [sys.executable, __file__, "--child", f"garbage-{kind}", path]
                        + [os.path.join(tmp, "out.ss")],
                        check=True,
                        capture_output=True,
                        text=True,
                        env={**os.environ, "SSFILE_PURE": pure},
                    )
                    dt, ref = (float(x) for x in res.stdout.split())
                    rows.append((label, size, garbage, pure, kind, dt, ref))
    print(f"python {sys.version.split()[0]}; nproc {os.cpu_count()}")
    print("| file | path | measurement | s | file MB/s | zlib.crc32 MB/s | ratio to crc32 |")
    print("|---|---|---|---:|---:|---:|---:|")
    names = {"verify": "`verify`", "repair": "`repair`", "skip": 'reader, `on_damage="skip"`'}
    for label, size, _garbage, pure, kind, dt, ref in rows:
        print(
            f"| {label} ({size / 1e6:,.1f} MB) | {'pure' if pure == '1' else 'C'} | "
            f"{names[kind]} | {dt:.3f} | {size / dt / 1e6:,.0f} | {size / ref / 1e6:,.0f} | "
            f"{ref / dt:.2f} |"
        )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--garbage":
        garbage_main()
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
