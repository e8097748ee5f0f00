"""Issue-14 benchmark: start-up time of ``import ssfile`` and of a one-shot ``ssfile cat``.

Whole processes, timed from outside (repeated ``subprocess`` runs, interleaved, median and
best), next to ``python -c pass`` of the same interpreter in the same run; plus what
``python -X importtime`` attributes to ``import ssfile`` itself.

    .venv/bin/python bench/startup.py
    .venv/bin/python bench/startup.py --python /work/main/.venv/bin/python   # compare another
        # install (e.g. the main checkout before this change, or the wheel's venv)

The ``cat`` runs read the 1 GiB file of bench/seek.py (made once in bench/data/):
``ssfile cat FILE --since T --limit 1`` with T in the middle of the file.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from seek import T0, big_file  # noqa: E402


def run_times(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Every command ``repeats`` times, interleaved (drift hits all alike); seconds."""
    out: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(repeats):
        for label, cmd in commands.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd="/")
            out[label].append(time.perf_counter() - t)
    return out


def import_time_us(python: str, repeats: int) -> float:
    """Median cumulative microseconds ``-X importtime`` gives the ``ssfile`` package."""
    values = []
    for _ in range(repeats):
        err = subprocess.run(
            [python, "-X", "importtime", "-c", "import ssfile"],
            check=True,
            capture_output=True,
            text=True,
            cwd="/",
        ).stderr
        m = re.search(r"^import time:\s+\d+ \|\s+(\d+) \| ssfile$", err, re.M)
        assert m, err[-500:]
        values.append(float(m.group(1)))
    return statistics.median(values)


def section(python: str, path: str, since: int, repeats: int) -> list[str]:
    script = os.path.join(os.path.dirname(python), "ssfile")  # the console script users run
    ssfile_cmd = [script] if os.path.exists(script) else [python, "-m", "ssfile"]
    commands = {
        "`python -c pass` (reference)": [python, "-c", "pass"],
        "`python -c 'import ssfile'`": [python, "-c", "import ssfile"],
        "`ssfile cat FILE --since T --limit 1`": [
            *ssfile_cmd,
            "cat",
            path,
            "--since",
            str(since),
            "--limit",
            "1",
        ],
        "`ssfile --version`": [*ssfile_cmd, "--version"],
    }
    times = run_times(commands, repeats)
    base = statistics.median(times["`python -c pass` (reference)"])
    rows = [
        "",
        f"Interpreter: `{python}`; `-X importtime` of `import ssfile`: "
        f"**{import_time_us(python, repeats) / 1000:.1f} ms** (median of {repeats})",
        "",
        "| whole process | median ms | best ms | median - `pass` ms | ratio vs `pass` |",
        "|---|---|---|---|---|",
    ]
    for label, ts in times.items():
        med = statistics.median(ts)
        rows.append(
            f"| {label} | {med * 1000:.1f} | {min(ts) * 1000:.1f} | "
            f"{(med - base) * 1000:.1f} | {med / base:.2f} |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", action="append", default=[], help="more interpreters to time")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    path = big_file(1.0)
    size = os.path.getsize(path)
    since = T0 + (size // 1065) // 2
    print("## Start-up time (issue 14; `bench/startup.py`)")
    print()
    print(f"Command: `.venv/bin/python bench/startup.py {' '.join(sys.argv[1:])}`".rstrip())
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}; load average at start "
        f"{os.getloadavg()[0]:.2f}. File: {size / (1 << 30):.2f} GiB, T = its middle. "
        f"{args.repeats} interleaved runs each."
    )
    for python in [sys.executable, *args.python]:
        for line in section(python, path, since, args.repeats):
            print(line)


if __name__ == "__main__":
    main()
