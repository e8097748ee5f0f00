"""CRC-16/CDMA2000 backends, measured in one run: which one ssfile.format.crc should use.

    .venv/bin/python bench/crc.py            # markdown table on stdout

Backends: fastcrc, anycrc, crcmod (its C extension) and our pure-Python table.  Inputs:
100 bytes (the workload's payload size, so per-call overhead dominates) and 1 MiB
(throughput).  A third row measures the running-checksum step (two bytes fed into a running
CRC): the table-based ``running_update`` against each library with an initial value.
"""

from __future__ import annotations

import os
import platform
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ssfile.format.crc import crc16_py, running_update  # noqa: E402

CHECK = b"123456789"
EXPECTED = 0x4C06


def backends() -> dict[str, object]:
    """name -> fn(data, initial) for every backend importable here (each checked on 0x4C06)."""
    found: dict[str, object] = {}
    try:
        from fastcrc import crc16 as fc

        found["fastcrc"] = fc.cdma2000
    except ImportError:
        pass
    try:
        import anycrc

        model = anycrc.Model("CRC16-CDMA2000")
        found["anycrc"] = model.calc
    except ImportError:
        pass
    try:
        import crcmod
        import crcmod._crcfunext  # noqa: F401 - the C extension must be there, not the fallback

        found["crcmod (C)"] = crcmod.mkCrcFun(0x1C867, initCrc=0xFFFF, rev=False, xorOut=0)
    except ImportError:
        pass
    found["pure Python"] = crc16_py
    for name, fn in found.items():
        if fn(CHECK) != EXPECTED or fn(CHECK[4:], fn(CHECK[:4])) != EXPECTED:  # type: ignore[operator]
            raise SystemExit(f"{name}: wrong CRC-16/CDMA2000")
    return found


def ns_per_call(stmt: str, env: dict[str, object], budget: float = 0.2) -> float:
    """Best of 5 runs of ~``budget`` seconds each, in ns per call (no lambda in the way)."""
    timer = timeit.Timer(stmt, globals=env)
    n, t = timer.autorange()
    n = max(1, int(n * budget / max(t, 1e-9)))
    return min(timer.repeat(5, n)) / n * 1e9


def main() -> None:
    small = bytes(range(100))
    big = os.urandom(1 << 20)
    rows = []
    for name, fn in backends().items():
        env = {
            "fn": fn,
            "small": small,
            "big": big,
            "two": bytes((0x4C, 0x06)),
            "running_update": running_update,
        }
        s = ns_per_call("fn(small)", env)
        b = ns_per_call("fn(big)", env, budget=0.05 if name == "pure Python" else 0.2)
        if name == "pure Python":
            r = ns_per_call("running_update(0xFFFF, 0x4C06)", env)
        else:
            r = ns_per_call("fn(two, 0xFFFF)", env)
        rows.append((name, s, len(small) / s * 1e3, b, len(big) / b * 1e3, r))
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus\n")
    print("| backend | 100 B ns/call | 100 B MB/s | 1 MiB µs/call | 1 MiB MB/s | running step ns |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s, smbs, b, bmbs, r in rows:
        label = "pure Python (table running_update)" if name == "pure Python" else name
        print(f"| {label} | {s:,.0f} | {smbs:,.0f} | {b / 1e3:,.0f} | {bmbs:,.0f} | {r:,.0f} |")


if __name__ == "__main__":
    main()
