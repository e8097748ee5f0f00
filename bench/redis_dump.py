"""Redis -> .ss dump throughput against plain redis-py read loops, measured in one run.

    scripts/services start redis
    .venv/bin/python bench/redis_dump.py                    # 200,000 entries, best of 3
    .venv/bin/python bench/redis_dump.py --messages 50000   # a quick look

The stream is filled with pipelined XADD (1000 per execute; its rate is reported too) with
100-byte payloads in field ``msg``.  Then, each best of ``--repeat``:

* ``redis-py XRANGE loop``: ``client.xrange(key, start, "+", count=5000)`` pages, nothing written;
* ``redis-py XREAD loop``: ``client.xread({key: last}, count=5000)`` pages, nothing written;
* ``ssfile dump engine``: ``redis_dump.dump`` in-process (pages of 5000) into a fresh .ss file;
* ``ssfile dump engine, 4 shards``: the same entries spread over ``KEY:0..3``, merged by id;
* ``ssfile dump CLI``: the ``ssfile dump`` command end to end, interpreter start-up included.

``--no-hiredis`` hides hiredis (redis-py then parses replies in pure Python), in this process
and in the CLI subprocess, to show what the ``hiredis`` dependency of the ``redis`` extra buys.
Output files go to bench/data/ (gitignored).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
NO_HIREDIS = "--no-hiredis" in sys.argv
if NO_HIREDIS:
    sys.modules["hiredis"] = None  # type: ignore[assignment]  # redis-py falls back to Python

import redis  # noqa: E402

from ssfile.adapters.redis import dumper as redis_dump  # noqa: E402
from ssfile.adapters.redis import source as redis_source  # noqa: E402

DATA = os.path.join(HERE, "data")
PAGE = 5000


def fill(client: redis.Redis, keys: list[str], n: int, payload: bytes) -> float:
    """XADD ``n`` entries round-robin over ``keys``; returns entries/s."""
    for key in keys:
        client.delete(key)
    pipe = client.pipeline(transaction=False)
    t0 = time.perf_counter()
    for i in range(n):
        pipe.xadd(keys[i % len(keys)], {"msg": payload})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return n / (time.perf_counter() - t0)


def xrange_loop(client: redis.Redis, key: str) -> int:
    n, start = 0, "-"
    while True:
        page = client.xrange(key, start, "+", count=PAGE)
        n += len(page)
        if len(page) < PAGE:
            return n
        start = "(" + page[-1][0].decode()


def xread_loop(client: redis.Redis, key: str) -> int:
    n, last = 0, "0-0"
    while True:
        reply = client.xread({key: last}, count=PAGE)
        if not reply:
            return n
        entries = reply[0][1]
        n += len(entries)
        last = entries[-1][0]


def engine(port: int, key: str, out: str) -> int:
    if os.path.exists(out):
        os.remove(out)
    source = redis_source.open_source(f"redis://127.0.0.1:{port}/{key}")
    try:
        return redis_dump.dump(source, [key], out, redis_dump.DumpOptions(page_size=PAGE)).messages
    finally:
        source.close()


def cli(port: int, key: str, out: str) -> int:
    if os.path.exists(out):
        os.remove(out)
    hide = "import sys; sys.modules['hiredis'] = None; " if NO_HIREDIS else "import sys; "
    code = hide + "from ssfile.cli import entry; sys.argv[0] = 'ssfile'; entry()"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "dump",
            f"redis://127.0.0.1:{port}/{key}",
            "-o",
            out,
            "--no-progress",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.split()[1])


def best(repeat: int, expect: int, run: Callable[[], int]) -> float:
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = run()
        rates.append(n / (time.perf_counter() - t0))
        if n != expect:
            raise SystemExit(f"expected {expect} messages, got {n}")
    return max(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--port", type=int, default=6390)
    ap.add_argument("--no-hiredis", action="store_true", help="parse replies without hiredis")
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    client = redis.Redis(port=args.port)
    n, payload = args.messages, b"x" * 100
    key, sharded = "bench-dump", "bench-dump-sharded"
    xadd_rate = fill(client, [key], n, payload)
    fill(client, [f"{sharded}:{s}" for s in range(4)], n, payload)
    out = os.path.join(DATA, "redis-dump.ss")
    rows = [
        (
            "redis-py XRANGE loop (no output)",
            best(args.repeat, n, lambda: xrange_loop(client, key)),
        ),
        ("redis-py XREAD loop (no output)", best(args.repeat, n, lambda: xread_loop(client, key))),
        ("ssfile dump engine -> .ss", best(args.repeat, n, lambda: engine(args.port, key, out))),
        (
            "ssfile dump engine -> .ss, 4 shards merged",
            best(args.repeat, n, lambda: engine(args.port, sharded, out)),
        ),
        ("`ssfile dump` CLI end to end", best(args.repeat, n, lambda: cli(args.port, key, out))),
    ]
    for k in [key] + [f"{sharded}:{s}" for s in range(4)]:
        client.delete(k)
    server = client.info("server")["redis_version"]
    try:
        import hiredis

        parser = f"hiredis {hiredis.__version__}"
    except ImportError:
        parser = "pure-Python parser"
    print(
        f"{n:,} entries of 100 bytes, pages of {PAGE}, best of {args.repeat}; Redis {server}, "
        f"redis-py {redis.__version__} ({parser}), Python {platform.python_version()}, "
        f"{os.cpu_count()} cores\n"
    )
    print(f"Pipelined XADD fill (1000 per execute): {xadd_rate:,.0f} entries/s\n")
    print("| reader | msg/s |\n|---|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
