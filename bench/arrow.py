"""Issue-13 benchmarks: to_arrow vs to_numpy, ``ssfile convert`` to Parquet (speed, size,
peak memory on a ~1 GB file), remote seeks (bytes and round trips over HTTP and S3) and
a remote time window read by ranges vs the whole-file copy.

    .venv/bin/python bench/arrow.py                          # everything, markdown on stdout
    .venv/bin/python bench/arrow.py --messages 1000000 --big-mb 200 --s3 http://127.0.0.1:19000
    .venv/bin/python bench/arrow.py --window-only --s3 http://127.0.0.1:19000   # the window rows

With --s3 the remote seeks also run against S3 (moto) on the --messages file.
Files are written once into bench/data/ (gitignored) and reused.  Times are best of
--repeat, wall clock and process CPU.  Conversions run as child processes (`ssfile
convert`), timed as a whole with their peak RSS from wait4().  Remote seeks count bytes on
the server side (a range-capable HTTP server in this process) and on the client side
(RangeFile's counters, for S3 on moto).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import ssfile  # noqa: E402

T0 = 1_767_225_600_000
KEYS = [("clock", 0), ("orders", 1), ("orders", 2), ("sensors", 0)]


def record(path: str, n: int, pad: int = 0) -> None:
    """n messages over 4 streams, JSON payloads (with ``pad`` bytes of random-ish text)."""
    if os.path.exists(path):
        return
    rng = random.Random(13)
    filler = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(4096))
    tmp = path + ".tmp"
    with ssfile.open(tmp, "w", created_at=T0) as w:
        for i in range(n):
            key, shard = KEYS[i & 3]
            extra = filler[(i * 37) % 2048 : (i * 37) % 2048 + pad] if pad else b""
            w.write(
                b'{"i":%d,"v":%d,"s":"%s"}' % (i, i % 97, extra),
                stream_key=key,
                shard_id=shard,
                timestamp=T0 + i // 4,
            )
    os.replace(tmp, path)


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


CHILD = """import sys
from ssfile.cli import main
code = main(sys.argv[1:])
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
sys.stderr.write(f"VmHWM {hwm}\\n")
sys.exit(code)
"""


def child(args: list[str]) -> tuple[float, int, int]:
    """(wall s, peak RSS bytes, exit code) of ``ssfile ARGS`` in a child process.  The peak is
    the child's own VmHWM (ru_maxrss of a forked child also counts the parent's pages)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - start
    hwm = [ln for ln in done.stderr.decode().splitlines() if ln.startswith("VmHWM")]
    return wall, int(hwm[0].split()[1]) * 1024 if hwm else 0, done.returncode


def bench_to_arrow(path: str, n: int, repeat: int) -> None:
    rows = [
        ("`to_numpy()` (payload buffer)", lambda: ssfile.to_numpy(path)),
        ("`to_arrow()`", lambda: ssfile.to_arrow(path)),
        ("`to_numpy(payload=False)`", lambda: ssfile.to_numpy(path, payload=False)),
        ("`to_arrow(payload=False)`", lambda: ssfile.to_arrow(path, payload=False)),
        ("`to_pandas()` (payload bytes objects)", lambda: ssfile.to_pandas(path)),
    ]
    size = os.path.getsize(path)
    print(f"\n#### to_arrow vs to_numpy ({n:,} messages, {size / 1e6:.0f} MB)\n")
    print("| call | wall s | CPU s | msg/s (CPU) | vs to_numpy() |")
    print("|---|---:|---:|---:|---:|")
    ref = None
    for name, fn in rows:
        _r, wall, cpu = timed(fn, repeat)
        ref = ref or cpu
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {n / cpu / 1e6:.2f} M | {cpu / ref:.2f}x |")


def bench_convert(path: str, fmts: list[str], label: str) -> None:
    size = os.path.getsize(path)
    print(f"\n#### `ssfile convert` from {label} ({size / 1e6:.0f} MB .ss)\n")
    print("| output | wall s | MB/s (of .ss) | output size | size vs .ss | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    tiny = os.path.join(ROOT, "fixtures", "tiny.ss")
    wall, rss, code = child(
        ["convert", "--no-progress", tiny, os.path.join(HERE, "data", "t.parquet")]
    )
    assert code == 0, code
    print(
        f"| .parquet from fixtures/tiny.ss (start-up, imports) | {wall:.2f} | | | | {rss / 1e6:.0f} MB |"
    )
    for fmt in fmts:
        out = os.path.join(HERE, "data", f"convert-out{fmt}")
        wall, rss, code = child(["convert", "--no-progress", path, out])
        assert code == 0, code
        osize = os.path.getsize(out)
        print(
            f"| {fmt} | {wall:.2f} | {size / wall / 1e6:.0f} | {osize / 1e6:.0f} MB | "
            f"{osize / size:.2f}x | {rss / 1e6:.0f} MB |"
        )
        if fmt == ".parquet":
            back = os.path.join(HERE, "data", "convert-back.ss")
            wall, rss, code = child(["convert", "--no-progress", out, back])
            assert code == 0, code
            print(
                f"| .parquet -> .ss | {wall:.2f} | {size / wall / 1e6:.0f} | "
                f"{os.path.getsize(back) / 1e6:.0f} MB | {os.path.getsize(back) / size:.2f}x | "
                f"{rss / 1e6:.0f} MB |"
            )
            os.remove(back)
        os.remove(out)


def seek_targets(path: str, count: int) -> list[int]:
    with ssfile.open(path) as r:
        first = next(iter(r)).timestamp_ms
    cols = ssfile.to_numpy(path, payload=False, check_crc=False)
    last = int(cols.timestamp[-1].astype("int64"))
    rng = random.Random(7)
    return [rng.randint(first, last) for _ in range(count)]


def seek_stats(open_remote, targets: list[int], counters) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    out = []
    with open_remote() as r:
        for when in targets:
            b0, q0 = counters(r)
            r.seek_time(when)
            b1, q1 = counters(r)
            out.append((b1 - b0, q1 - q0))
    return out


def summarize(name: str, got: list[tuple[int, int]], size: int, interval: int) -> None:
    got.sort()
    med = got[len(got) // 2]
    worst = max(b for b, _ in got)
    trips = sorted(q for _, q in got)
    print(
        f"| {name} | {len(got)} | {med[0] / 1024:.0f} KiB | {worst / 1024:.0f} KiB | "
        f"{worst / interval:.2f} | {trips[len(trips) // 2]} | {trips[-1]} | "
        f"{worst / size * 100:.3f}% |"
    )


def bench_remote(path: str, seeks: int, s3: str | None) -> None:
    from remote_servers import RangeServer

    from ssfile.file.reader import read_header

    size = os.path.getsize(path)
    interval = read_header(path).beacon_interval
    targets = seek_targets(path, seeks)
    print(
        f"\n#### Remote seek_time: bytes and round trips ({size / 1e6:.0f} MB file, "
        f"{interval // 1024} KiB beacons, {size // interval} beacons, {seeks} random times)\n"
    )
    print(
        "| store | seeks | median bytes | max bytes | max / interval | median requests "
        "| max requests | max / file |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    import pathlib

    server = RangeServer(pathlib.Path(os.path.dirname(path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"{server.url}/{os.path.basename(path)}"
    got = seek_stats(
        lambda: ssfile.open(url), targets, lambda r: (server.bytes_sent, server.requests)
    )
    summarize("http:// (range server, server-side count)", got, size, interval)
    server.shutdown()
    if s3:
        options, key = s3_put(s3, path)
        got = seek_stats(
            lambda: ssfile.open(f"s3://{key}", storage_options=options),
            targets,
            lambda r: (r._file.bytes_fetched, r._file.requests),
        )
        summarize("s3:// (moto, client-side count)", got, size, interval)
        t0 = time.perf_counter()
        with ssfile.open(f"s3://{key}", storage_options=options) as r:
            for when in targets[:20]:
                r.seek_time(when)
        per = (time.perf_counter() - t0) / 20
        print(f"\ns3:// on loopback moto: {per * 1000:.0f} ms per seek (incl. the scan).")


def s3_put(endpoint: str, path: str) -> tuple[dict[str, object], str]:
    """(storage options for the moto ``endpoint``, the key of ``path`` put there once)."""
    import s3fs

    options: dict[str, object] = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "eu-west-1"},
    }
    fs = s3fs.S3FileSystem(**options)
    if not fs.exists("ssfile-bench"):
        fs.mkdir("ssfile-bench")
    key = f"ssfile-bench/{os.path.basename(path)}"
    if not fs.exists(key):
        fs.put(path, key)
    return options, key


def counted_s3(options: dict[str, object]):  # type: ignore[no-untyped-def]
    """A function giving the bytes read so far through the s3fs filesystem ssfile gets for
    ``options``: ranged ``cat_file`` calls (RangeFile) and file reads (the copy)."""
    import s3fs

    fs = s3fs.S3FileSystem(**options)  # fsspec caches it: ssfile's url_to_fs gets this one
    got = [0, 0]  # bytes, requests
    cat_file = fs.cat_file

    def counting_cat(*args, **kwargs):  # type: ignore[no-untyped-def]
        data = cat_file(*args, **kwargs)
        got[0] += len(data)
        got[1] += 1
        return data

    fetch = s3fs.core.S3File._fetch_range

    def counting_fetch(self, start, end):  # type: ignore[no-untyped-def]
        data = fetch(self, start, end)
        got[0] += len(data)
        got[1] += 1
        return data

    fs.cat_file = counting_cat
    s3fs.core.S3File._fetch_range = counting_fetch
    return lambda: (got[0], got[1])


def bench_window(path: str, s3: str | None, fraction: float) -> None:
    """A time window of a remote file (1% of its time range, in the middle): to_numpy with
    since/until (ranged reads of the window) vs the whole-file copy the exports made before
    (the copy, then the same to_numpy on it), over HTTP (server-side count) and S3 (moto)."""
    import pathlib

    from remote_servers import RangeServer

    from ssfile.export.sources import local_file, resolve

    size = os.path.getsize(path)
    cols = ssfile.to_numpy(path, payload=False, check_crc=False)
    first, last = (int(t) for t in cols.timestamp[[0, -1]].astype("int64"))
    since = first + int((last - first) * (0.5 - fraction / 2))
    until = since + max(1, int((last - first) * fraction))
    rows = int(
        ((cols.timestamp.astype("int64") >= since) & (cols.timestamp.astype("int64") < until)).sum()
    )
    print(
        f"\n#### Remote time window: to_numpy(url, since, until) vs the whole-file copy "
        f"({size / 1e6:.0f} MB file, window {fraction:.0%} of the time range, {rows:,} rows)\n"
    )
    print("| store | read | bytes | vs file | requests | wall s | rows |")
    print("|---|---|---:|---:|---:|---:|---:|")

    def run(store: str, url: str, options: dict[str, object], count) -> None:  # type: ignore[no-untyped-def]
        def window() -> int:
            return len(ssfile.to_numpy(url, since=since, until=until, storage_options=options))

        def whole() -> int:  # what to_numpy(url, since, until) did before: copy, then scan
            with local_file(resolve(url, options).files[0]) as copy:  # type: ignore[union-attr]
                return len(ssfile.to_numpy(copy, since=since, until=until))

        for name, fn in (("whole-file copy", whole), ("window (ranged)", window)):
            (b0, q0), t0 = count(), time.perf_counter()
            n = fn()
            wall, (b1, q1) = time.perf_counter() - t0, count()
            sent = b1 - b0
            assert n == rows, (n, rows)
            print(
                f"| {store} | {name} | {sent / 1e6:.2f} MB | {sent / size:.4f} | {q1 - q0} "
                f"| {wall:.2f} | {n:,} |"
            )

    server = RangeServer(pathlib.Path(os.path.dirname(path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run(
        "http://",
        f"{server.url}/{os.path.basename(path)}",
        {},
        lambda: (server.bytes_sent, server.requests),
    )
    server.shutdown()
    if s3:
        options, key = s3_put(s3, path)
        run("s3:// (moto)", f"s3://{key}", options, counted_s3(options))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--big-mb", type=int, default=1024, help="size of the convert/seek file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seeks", type=int, default=50)
    ap.add_argument("--s3", help="S3 endpoint (moto), e.g. http://127.0.0.1:19000")
    ap.add_argument("--window", type=float, default=0.01, help="time window, share of the file")
    ap.add_argument("--window-only", action="store_true", help="only the remote time window")
    args = ap.parse_args()
    os.makedirs(os.path.join(HERE, "data"), exist_ok=True)
    small = os.path.join(HERE, "data", f"arrow-{args.messages}.ss")
    record(small, args.messages)
    if args.window_only:
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, ", end="")
        print(f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
        bench_window(small, args.s3, args.window)
        return
    pad = 900
    big_n = args.big_mb * 1_000_000 // (pad + 60)
    big = os.path.join(HERE, "data", f"arrow-big-{args.big_mb}mb.ss")
    record(big, big_n, pad=pad)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, ", end="")
    print(f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    bench_to_arrow(small, args.messages, args.repeat)
    bench_convert(
        small, [".parquet", ".arrow", ".jsonl", ".csv"], f"{args.messages:,} small messages"
    )
    bench_convert(big, [".parquet"], f"{big_n:,} ~1 KB messages")
    bench_remote(big, args.seeks, None)
    if args.s3:  # moto keeps objects in memory and copies one whole for every range: a smaller file
        bench_remote(small, args.seeks, args.s3)
    bench_window(small, args.s3, args.window)


if __name__ == "__main__":
    main()
