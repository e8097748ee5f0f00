"""Issue 17, item 6: a full read touching ``m.timestamp`` against one touching ``m.timestamp_ms``.

    .venv/bin/python bench/timestamp.py              # markdown on stdout
    .venv/bin/python bench/timestamp.py --messages 200000

Two files of 100-byte payloads over 4 streams, written once into --dir (bench/data): one
with 4 messages per millisecond (the shape of bench/core.py and of a busy recorder), one
with a new millisecond for every message (no two messages share a datetime).  The loops run
interleaved, round after round, in one process; each keeps its best time.  "Python" is the
same read with the C datetime constructor switched off (what SSFILE_PURE=1 builds).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import ssfile  # noqa: E402
from ssfile.codec import accel  # noqa: E402
from ssfile.types import Message  # noqa: E402

C_GETTER = Message.timestamp
PY_GETTER = property(Message._timestamp)

T0 = 1_767_225_600_000


def record(path: str, n: int, per_ms: int) -> None:
    if os.path.exists(path):
        return
    payload = bytes(32 + j % 95 for j in range(100))
    with ssfile.open(path + ".tmp", "w", created_at=T0) as w:
        for i in range(n):
            w.write(payload, stream_key=f"stream-{i & 3}", timestamp=T0 + i // per_ms)
    os.replace(path + ".tmp", path)


def read_ms(path: str) -> int:
    last = 0
    with ssfile.open(path) as r:
        for m in r:
            last = m.timestamp_ms
    return last


def read_datetime(path: str) -> object:
    last = None
    with ssfile.open(path) as r:
        for m in r:
            last = m.timestamp
    return last


def read_datetime_python(path: str) -> object:
    Message.timestamp = PY_GETTER  # type: ignore[method-assign]
    try:
        return read_datetime(path)
    finally:
        Message.timestamp = C_GETTER  # type: ignore[method-assign]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--dir", default=os.path.join(HERE, "data"))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    load = os.getloadavg()[0]
    print("### Message.timestamp in a full read (issue 17; `bench/timestamp.py`)\n")
    print(
        f"Python {platform.python_version()}, load {load:.1f}, C datetime "
        f"{'on' if accel.speedups else 'OFF'}; {args.messages:,} messages, "
        f"{args.rounds} interleaved rounds, best wall time of each.\n"
    )
    print(
        "| file | `m.timestamp_ms` s | `m.timestamp` s | ratio | `m.timestamp`, "
        "Python constructor s | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for per_ms, label in ((4, "4 messages per ms"), (1, "a new ms per message")):
        path = os.path.join(args.dir, f"timestamps-{args.messages}-{per_ms}.ss")
        record(path, args.messages, per_ms)
        fns = {"ms": read_ms, "dt": read_datetime, "py": read_datetime_python}
        best = dict.fromkeys(fns, float("inf"))
        for _ in range(args.rounds):
            for name, fn in fns.items():
                t = time.perf_counter()
                fn(path)
                best[name] = min(best[name], time.perf_counter() - t)
        print(
            f"| {label} | {best['ms']:.3f} | {best['dt']:.3f} | **{best['dt'] / best['ms']:.2f}x** "
            f"| {best['py']:.3f} | {best['py'] / best['ms']:.2f}x |"
        )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
