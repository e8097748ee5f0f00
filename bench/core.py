"""The issue-2 workload: read, write and decode 1,000,000 messages, with baselines, in one run.

    .venv/bin/python bench/core.py                  # everything, markdown table on stdout
    .venv/bin/python bench/core.py --messages 200000 --no-big   # a quick look

The workload file (1,000,000 frames of 100-byte payloads over 4 streams, default beacon
interval, ~133 MiB) is generated deterministically into bench/data/ (gitignored) once and
reused.  Each measurement runs in its own subprocess, so that its peak RSS (ru_maxrss /
VmHWM) is its own.  Every read starts with the file in the page cache (it was just
written or read), so these are CPU numbers, not disk numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import ssfile  # noqa: E402
from ssfile.codec.fast import FRAME_FIXED, beacon_size_at  # noqa: E402
from ssfile.format import constants as K  # noqa: E402

DATA = os.path.join(HERE, "data")
STREAMS = ["stream-0", "stream-1", "stream-2", "stream-3"]
# printable ASCII, so that `decode --format log` prints the payloads (binary ones would all
# print as <BINARY BLOB>, a different and much shorter output)
PAYLOADS = [bytes(32 + (i + j) % 95 for j in range(100)) for i in range(256)]
CREATED = 1_700_000_000_000
CHUNK = 1 << 20

# ---- the workload ---------------------------------------------------------------------------


def write_workload(path: str, n: int) -> None:
    """``n`` messages round-robin over 4 streams; timestamps advance 1 ms per 4 messages.

    Deterministic except for the EOS frame's timestamp (closing stamps it with the time)."""
    with ssfile.open(path, "w", file_name="bench.ss", created_at=CREATED) as w:
        write = w.write
        for i in range(n):
            write(
                PAYLOADS[i & 255],
                stream_key=STREAMS[i & 3],
                sequence=(i >> 2) + 1,
                timestamp=CREATED + (i >> 2),
            )


def ensure(path: str, n: int) -> None:
    if not os.path.exists(path):
        tmp = path + ".tmp"
        write_workload(tmp, n)
        os.replace(tmp, path)


# ---- one measurement each (run in a subprocess) ----------------------------------------------


def plain_read(path: str) -> tuple[int, int]:
    """Read the file in 1 MiB chunks and do nothing with them."""
    total = 0
    with open(path, "rb", buffering=0) as f:
        while data := f.read(CHUNK):
            total += len(data)
    return 0, total


def struct_loop(path: str) -> tuple[int, int]:
    """The least a Python reader can do: strip beacons, unpack each frame's fixed part, slice
    the payload.  No key decoding, no CRC, no objects per message."""
    unpack = FRAME_FIXED.unpack_from
    with open(path, "rb", buffering=0) as f:
        head = f.read(K.HEADER_SIZE)
        interval = _interval(head)
        offset = K.HEADER_SIZE
        carry = b""
        frames = 0
        # chunks aligned to the beacon interval: each one but the first starts with a beacon
        while data := f.read(interval - offset % interval):
            pos = beacon_size_at(data, 0) or 0 if offset % interval == 0 else 0
            offset += len(data)
            buf = carry + data[pos:] if carry else data[pos:]
            p = 0
            end = len(buf)
            while p < end:
                fixed = p + 1 + buf[p]
                if fixed + 28 > end:
                    break
                _shard, _seq, _ts, length = unpack(buf, fixed)
                q = fixed + 28 + length + 3
                if q > end:
                    break
                buf[fixed + 28 : q - 3]
                frames += 1
                p = q
            carry = buf[p:]
    return frames - 1, offset  # minus the EOS frame


def _interval(head: bytes) -> int:
    from ssfile.format.schema import parse_file_header

    return parse_file_header(head).beacon_interval


def api_read(path: str) -> tuple[int, int]:
    """Every message through ``ssfile.open`` with CRCs checked."""
    n = 0
    with ssfile.open(path) as r:
        for _m in r:
            n += 1
        assert r.ended
    return n, os.path.getsize(path)


def api_read_fields(path: str) -> tuple[int, int]:
    """As api_read, touching every field a consumer would (not the datetime)."""
    n = 0
    with ssfile.open(path) as r:
        for m in r:
            m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload  # noqa: B018
            n += 1
    return n, os.path.getsize(path)


def api_write(path: str, n: int) -> tuple[int, int]:
    """Write the workload again through ``ssfile.open(..., "w")``; it must equal the file."""
    global _write_times
    out = os.path.join(DATA, "write-test.ss")
    t0, c0 = time.perf_counter(), time.process_time()
    write_workload(out, n)
    _write_times = time.perf_counter() - t0, time.process_time() - c0
    size = os.path.getsize(out)
    same = size == os.path.getsize(path) and _same_bytes(out, path)
    os.unlink(out)
    if not same:
        raise SystemExit("api_write: output differs from the workload file")
    return n, size


EOS_FRAME = 1 + len(K.INTERNAL_KEY) + 28 + len(K.EOS_PAYLOAD) + 3


def _same_bytes(a: str, b: str) -> bool:
    """Equal but for the EOS frame at the end (the writer stamps it with the current time)."""
    left = os.path.getsize(a) - EOS_FRAME
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while left > 0:
            x, y = fa.read(min(CHUNK, left)), fb.read(min(CHUNK, left))
            if x != y:
                return False
            left -= len(x)
    return True


def hwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


_write_times = (0.0, 0.0)


def run_one(name: str, path: str, n: int) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    if name == "api_write":
        msgs, size = api_write(path, n)
        dt, cpu = _write_times  # without the comparison afterwards
    else:
        fn = {
            "plain_read": plain_read,
            "struct_loop": struct_loop,
            "api_read": api_read,
            "api_read_fields": api_read_fields,
        }[name]
        msgs, size = fn(path)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        json.dumps({"seconds": dt, "cpu": cpu, "messages": msgs, "bytes": size, "rss_kb": hwm_kb()})
    )


# ---- the driver ------------------------------------------------------------------------------


REPEAT = 3


def measure(name: str, path: str, n: int) -> dict[str, float]:
    """Best time of REPEAT fresh subprocesses (the machine is shared), and the largest RSS."""
    runs = []
    for _ in range(REPEAT):
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--messages", str(n), path],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "rss_kb": max(r["rss_kb"] for r in runs)}


def measure_cli(path: str) -> dict[str, float] | None:
    cmd = [sys.executable, "-m", "ssfile", "decode", "--format", "log", path]
    probe = subprocess.run(cmd[:4] + ["--help"], capture_output=True, cwd=ROOT)
    if probe.returncode != 0:
        return None
    script = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "dt = time.perf_counter() - t\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'seconds': dt, 'cpu': ru.ru_utime + ru.ru_stime, 'rc': rc,\n"
        "                  'rss_kb': ru.ru_maxrss}))\n"
    )
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", script, *cmd],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout
        )
        for _ in range(REPEAT)
    ]
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "rss_kb": max(r["rss_kb"] for r in runs)}


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f'{os.cpu_count()} cpus (nproc), CPU model "{model}", Python '
        f"{platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}"
    )


def row(label: str, r: dict[str, float], base_s: float | None) -> str:
    msgs = r.get("messages") or 0
    rate = f"{msgs / r['seconds']:,.0f}" if msgs else "–"
    mbs = r["bytes"] / r["seconds"] / 1e6
    ratio = f"{r['seconds'] / base_s:.1f}x" if base_s else "–"
    return (
        f"| {label} | {r['seconds']:.3f} | {r['cpu']:.3f} | {rate} | {mbs:,.0f} | "
        f"{r['rss_kb'] / 1024:.1f} | {ratio} |"
    )


def main() -> None:
    global REPEAT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--no-big", action="store_true", help="skip the >= 1 GB RSS check")
    ap.add_argument("--big-messages", type=int, default=7_700_000, help="~1.0 GiB")
    ap.add_argument("--keep-big", action="store_true")
    ap.add_argument("--repeat", type=int, default=REPEAT, help="runs per measurement (best)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_one(args.one, args.path, args.messages)
        return
    REPEAT = args.repeat
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"workload-ascii-{args.messages}.ss")
    ensure(path, args.messages)
    size = os.path.getsize(path)
    print(f"workload: {path} ({size:,} bytes, {args.messages:,} messages)  \n{machine()}\n")
    results = {
        name: measure(name, path, args.messages)
        for name in ("plain_read", "struct_loop", "api_read", "api_read_fields", "api_write")
    }
    base = results["struct_loop"]["seconds"]
    print("| measurement | wall s | CPU s | msg/s | MB/s | peak RSS MiB | wall vs struct loop |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {
        "plain_read": "baseline: plain file read, 1 MiB chunks",
        "struct_loop": "baseline: minimal struct loop over frames",
        "api_read": "ssfile.open read, CRCs checked",
        "api_read_fields": "ssfile.open read, CRCs checked, fields touched",
        "api_write": "ssfile.open write",
    }
    for name, label in labels.items():
        print(row(label, results[name], base))
    cli = measure_cli(path)
    if cli is None:
        print("| `ssfile decode --format log F > /dev/null` | not available yet | | | | | |")
    else:
        cli["bytes"] = size
        cli["messages"] = args.messages
        print(row(f"`ssfile decode --format log` > /dev/null (exit {cli['rc']})", cli, base))
    if not args.no_big:
        big_rss(args.big_messages, args.keep_big)


def big_rss(n: int, keep: bool) -> None:
    path = os.path.join(DATA, f"big-ascii-{n}.ss")
    need = n * 141
    free = shutil.disk_usage(DATA).free
    if not os.path.exists(path) and free < need * 2:
        print(f"\nbig file skipped: {free:,} bytes free, need {need * 2:,}")
        return
    t0 = time.perf_counter()
    ensure(path, n)
    gen = time.perf_counter() - t0
    r = measure("api_read", path, n)
    print(
        f"\n| big file ({os.path.getsize(path) / 2**30:.2f} GiB, {n:,} messages) | seconds | "
        "msg/s | MB/s | peak RSS MiB |\n|---|---:|---:|---:|---:|"
    )
    print(
        f"| ssfile.open read, CRCs checked | {r['seconds']:.2f} | "
        f"{r['messages'] / r['seconds']:,.0f} | {r['bytes'] / r['seconds'] / 1e6:,.0f} | "
        f"{r['rss_kb'] / 1024:.1f} |"
    )
    print(f"\n(generating it through ssfile.open(..., 'w') took {gen:.1f} s)")
    if not keep:
        os.unlink(path)


if __name__ == "__main__":
    main()
