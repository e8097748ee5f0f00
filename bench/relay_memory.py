"""Peak RSS and throughput of ``ssfile relay`` with a large input (issue 18).

    .venv/bin/python bench/relay_memory.py                          # 3,000,000 x 100 B
    .venv/bin/python bench/relay_memory.py --messages 300000        # a quick look
    .venv/bin/python bench/relay_memory.py --reference /tmp/old     # also an older tree

Each run is ``python -m ssfile relay --no-follow`` in a child process; its peak RSS is the
child's ``ru_maxrss`` (``os.wait4``).  Pairs: file -> redis (a private redis-server on a free
port, emptied between runs) and file -> file.  ``--reference DIR`` runs the same relays with
the ssfile package found in DIR (e.g. ``git archive <commit> | tar -x -C DIR``, plus the
built ``_speedups`` module copied in), measured in the same run as the current tree.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ssfile  # noqa: E402


def make_input(path: str, n: int) -> None:
    payload = b"x" * 100
    with ssfile.open(path, "w") as w:
        for _ in range(n):
            w.write(payload, stream_key="k")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def relay(src_tree: str, inp: str, out: str) -> tuple[float, int, int]:
    """(seconds, peak RSS in bytes, exit code) of one relay run with the package in src_tree."""
    env = {**os.environ, "PYTHONPATH": src_tree}
    args = [sys.executable, "-m", "ssfile", "relay", "--input", inp, "--output", out]
    t0 = time.perf_counter()
    proc = subprocess.Popen([*args, "--no-follow"], env=env, cwd=src_tree)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss * 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=3_000_000)
    ap.add_argument("--reference", metavar="DIR", help="an older source tree to compare")
    ap.add_argument("--dir", default=None, help="where the input file goes (default: a temp dir)")
    ap.add_argument("--pairs", default="redis,file", help="outputs: redis,file")
    args = ap.parse_args()
    import redis

    work = args.dir or tempfile.mkdtemp(prefix="relay-mem-")
    os.makedirs(work, exist_ok=True)
    inp = os.path.join(work, f"in-{args.messages}.ss")
    if not os.path.exists(inp):
        make_input(inp, args.messages)
    size = os.path.getsize(inp)
    server, port = start_redis(work)
    client = redis.Redis(port=port)
    trees = [("current", ROOT)] + ([("reference", args.reference)] if args.reference else [])
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"input: {args.messages:,} messages x 100 B, {size / 1e6:.0f} MB")
    print(f"{'tree':10} {'output':7} {'seconds':>8} {'msg/s':>10} {'peak RSS MB':>12}")
    try:
        for output in args.pairs.split(","):
            for name, tree in trees:
                if output == "redis":
                    client.delete("k")
                    out = f"redis://127.0.0.1:{port}/k"
                else:
                    dst = os.path.join(work, "out.ss")
                    for stale in (dst, dst + ".offsets.sqlite"):
                        if os.path.exists(stale):
                            os.remove(stale)
                    out = f"file://{dst}/k"
                seconds, peak, code = relay(tree, f"file://{inp}/k", out)
                if output == "redis":
                    got = client.xlen("k")
                else:
                    with ssfile.open(dst) as r:
                        got = sum(1 for _ in r)
                ok = "" if code == 0 and got == args.messages else f"  (exit {code}, {got} msgs)"
                rate = args.messages / seconds
                print(f"{name:10} {output:7} {seconds:8.1f} {rate:10,.0f} {peak / 1e6:12.0f}{ok}")
                sys.stdout.flush()
    finally:
        client.delete("k")
        server.kill()
        server.wait()
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
