"""Issue 17 item 5: writing payloads of each size, ssfile's writer (C and pure) vs orjson lines.

    .venv/bin/python bench/write_sizes.py                 # every size, markdown on stdout
    .venv/bin/python bench/write_sizes.py --sizes 4096    # one size
    .venv/bin/python bench/write_sizes.py --quick         # 1/10 of the messages, for a look

Needs orjson (``pip install orjson``): it is the reference, not a dependency of ssfile.

Per payload size, three writers produce a file in --dir (default bench/data, gitignored)
from the same messages: 4 stream keys round-robin, printable-ASCII payloads (64 distinct
ones, made before timing), timestamps +1 ms per 4 messages, default beacon interval:

* ``C``: ``ssfile.open(path, "w")`` + ``Writer.write`` with the C accelerator;
* ``pure``: the same with the accelerator switched off (the encoder's C function set to
  None, which is what ``SSFILE_PURE=1`` does at import);
* ``orjson``: one JSON line per message, ``orjson.dumps({"key": k, "payload": s}) + b"\\n"``
  written to a file opened with ``open(path, "wb")`` (the payload as a str, decoded before
  timing); ``orjson+nl`` is the same with ``OPT_APPEND_NEWLINE`` instead of the concatenation.

Each timed run opens, writes every message and closes the file (no fsync: the bytes land in
the page cache).  The output of the previous run is deleted before (untimed).  The variants
run interleaved, round after round, in one process, and each keeps its best wall time (and
the CPU time of that run), so the ratios compare runs made under the same load.  The C and
pure outputs are checked equal byte for byte (closing stamps the EOS frame with the time, so
the last frame is left out of the comparison).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import ssfile  # noqa: E402
from ssfile.codec import encoder as _encoder  # noqa: E402
from ssfile.format import constants as K  # noqa: E402

T0 = 1_767_225_600_000
KEYS = [f"stream-{i}" for i in range(4)]
SIZES = [0, 16, 100, 1024, 4096, 65536]
#: messages per size: the issue's shapes (1,000,000 x 100 B; 200,000 x 4 KiB), ~800 MB above
COUNTS = {0: 1_000_000, 16: 1_000_000, 100: 1_000_000, 1024: 500_000, 4096: 200_000}
COUNTS_BIG = 800 << 20  # bytes of payload for larger sizes
C_ENCODE = _encoder._ENCODE_FRAME


def payloads(size: int) -> list[bytes]:
    return [bytes(32 + (i + j) % 95 for j in range(size)) for i in range(64)]


def write_ss(path: str, n: int, pool: list[bytes], use_c: bool) -> None:
    _encoder._ENCODE_FRAME = C_ENCODE if use_c else None
    try:
        with ssfile.open(path, "w", file_name="bench.ss", created_at=T0) as w:
            write = w.write
            for i in range(n):
                write(pool[i & 63], stream_key=KEYS[i & 3], timestamp=T0 + (i >> 2))
    finally:
        _encoder._ENCODE_FRAME = C_ENCODE


def write_orjson(path: str, n: int, pool: list[str], append_newline: bool) -> None:
    import orjson

    dumps = orjson.dumps
    with open(path, "wb") as f:
        write = f.write
        if append_newline:
            opt = orjson.OPT_APPEND_NEWLINE
            for i in range(n):
                write(dumps({"key": KEYS[i & 3], "payload": pool[i & 63]}, option=opt))
        else:
            for i in range(n):
                write(dumps({"key": KEYS[i & 3], "payload": pool[i & 63]}) + b"\n")


def same_but_eos(a: str, b: str) -> bool:
    """Equal files but for the EOS frame at the end (its timestamp is the closing time)."""
    eos = K.FRAME_FIXED + len(K.INTERNAL_KEY) + len(K.EOS_PAYLOAD)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        da, db = fa.read(), fb.read()
    return len(da) == len(db) and da[: len(da) - eos] == db[: len(db) - eos]


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f'{os.cpu_count()} cpus (nproc), "{model}", Python {platform.python_version()}, '
        f"{platform.system()} {platform.release()}; load average {load}"
    )


def measure(fn: Callable[..., None], path: str, *args: object) -> tuple[float, float]:
    if os.path.exists(path):
        os.unlink(path)
    t0, c0 = time.perf_counter(), time.process_time()
    fn(path, *args)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=SIZES)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best of)")
    ap.add_argument("--quick", action="store_true", help="1/10 of the messages")
    ap.add_argument("--dir", default=os.path.join(HERE, "data"))
    args = ap.parse_args()
    try:
        import orjson  # noqa: F401
    except ImportError:
        raise SystemExit("bench/write_sizes.py needs orjson: .venv/bin/pip install orjson")
    if C_ENCODE is None:
        raise SystemExit("the C accelerator is not built (or SSFILE_PURE is set)")
    os.makedirs(args.dir, exist_ok=True)
    print(f"{machine()}  \nrounds: {args.rounds} (interleaved, best wall time each)\n")
    print(
        "| payload | messages | file MB | C s (wall / CPU) | pure s (wall / CPU) "
        "| orjson lines s (wall / CPU) | orjson+nl s (wall / CPU) "
        "| C / orjson (wall / CPU) | C / pure (wall / CPU) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        n = COUNTS.get(size) or max(1, COUNTS_BIG // max(size, 1))
        if args.quick:
            n = max(1, n // 10)
        pool = payloads(size)
        spool = [p.decode("ascii") for p in pool]
        paths = {v: os.path.join(args.dir, f"write-{size}-{v}.out") for v in ("C", "pure", "oj")}
        variants: dict[str, tuple[Callable[..., None], str, tuple[object, ...]]] = {
            "C": (write_ss, paths["C"], (pool, True)),
            "pure": (write_ss, paths["pure"], (pool, False)),
            "orjson": (write_orjson, paths["oj"], (spool, False)),
            "orjson+nl": (write_orjson, paths["oj"], (spool, True)),
        }
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.rounds):
            for name, (fn, path, rest) in variants.items():
                got = measure(fn, path, n, *rest)
                if name not in best or got[0] < best[name][0]:
                    best[name] = got
        if not same_but_eos(paths["C"], paths["pure"]):
            raise SystemExit(f"size {size}: the C and pure writers wrote different bytes")
        mb = os.path.getsize(paths["C"]) / 1e6
        for p in paths.values():
            os.unlink(p)
        c, pure, oj, ojn = best["C"], best["pure"], best["orjson"], best["orjson+nl"]
        print(
            f"| {size} | {n:,} | {mb:,.0f} | {c[0]:.3f} / {c[1]:.3f} | {pure[0]:.3f} / {pure[1]:.3f}"
            f" | {oj[0]:.3f} / {oj[1]:.3f} | {ojn[0]:.3f} / {ojn[1]:.3f}"
            f" | **{c[0] / oj[0]:.2f} / {c[1] / oj[1]:.2f}**"
            f" | **{c[0] / pure[0]:.2f} / {c[1] / pure[1]:.2f}** |",
            flush=True,
        )
    print(f"\nafter: load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
