"""Smoke test of an installed ssfile, on any platform: the test-command of every wheel that
cibuildwheel builds (pyproject.toml, [tool.cibuildwheel]); tests/test_platform.py runs it here.

Writes, refuses a second writer, appends, reads, seeks, follows, verifies, repairs, goes
through the file streamer and the CLI, in a temporary directory.  ``--require-accelerator``:
fail unless the C accelerator is loaded (a release wheel must carry it).  Prints one line per
step; exits 1 on the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"smoke: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"smoke: ok: {what}")


def write_and_read(ssfile, d: str) -> str:  # type: ignore[no-untyped-def]
    path = os.path.join(d, "smoke.ss")
    with ssfile.open(path, "w", beacon_interval=1024, created_at=1_700_000_000_000) as w:
        for i in range(2000):
            w.write(
                b"m%d\r\n\x1a" % i, stream_key=("a", "b")[i % 2], timestamp=1_700_000_000_000 + i
            )
        w.flush()
        try:
            ssfile.open(path, "a")
            refused = False
        except ssfile.SSError as err:
            refused = "another writer holds this file" in str(err)
        check(refused, "a second writer is refused")
    with ssfile.open(path, "a") as w:
        for i in range(2000, 2010):
            w.write(b"m%d\r\n\x1a" % i, stream_key="a", timestamp=1_700_000_000_000 + i)
    with ssfile.open(path) as r:
        got = list(r)
    check(len(got) == 2010, "2010 messages read back after an append")
    check(all(m.payload == b"m%d\r\n\x1a" % i for i, m in enumerate(got)), "payloads byte for byte")
    with ssfile.open(path) as r:
        m = r.seek_time(1_700_000_001_500)
        check(m is not None and m.payload == b"m1500\r\n\x1a", "seek by time")
        m = r.seek_sequence("b", 0, 700)
        check(m is not None and m.sequence == 700, "seek by sequence")
    return path


def follow(ssfile, d: str) -> None:  # type: ignore[no-untyped-def]
    path = os.path.join(d, "live.ss")
    w = ssfile.open(path, "w")
    w.write(b"first", stream_key="k")
    w.flush()
    seen: list[bytes] = []

    def read() -> None:
        with ssfile.open(path, follow=True) as r:
            seen.extend(m.payload for m in r)

    reader = threading.Thread(target=read)
    reader.start()
    w.write(b"second", stream_key="k")
    w.close()  # the EOS ends the follower
    reader.join(30)
    check(seen == [b"first", b"second"], "follow a growing file to its end")


def verify_and_repair(ssfile, path: str, d: str) -> None:  # type: ignore[no-untyped-def]
    check(ssfile.verify(path).clean, "verify: clean")
    cut = os.path.join(d, "cut.ss")
    with open(path, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read()[:-50])
    report = ssfile.repair(cut, os.path.join(d, "fixed.ss"))
    check(report.written and report.messages > 1990, "repair of a torn tail")


def streamer(ssfile, d: str) -> None:  # type: ignore[no-untyped-def]
    path = os.path.join(d, "stream.ss")

    async def run() -> list[bytes]:
        url = "file:///" + path.replace("\\", "/").lstrip("/")
        async with await ssfile.connect(url) as s:
            async with await s.create_producer("k") as p:
                for i in range(5):
                    await p.send(b"s%d" % i)
            await (await s.create_producer("k")).end()
            options = ssfile.ConsumerOptions(auto_stream_reset="earliest")
            async with await s.create_consumer(["k"], options) as c:
                return [(await c.next()).payload for _ in range(5)]

    check(asyncio.run(run()) == [b"s%d" % i for i in range(5)], "file streamer round trip")


def cli(path: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ssfile", "info", path], capture_output=True, timeout=120
    )
    check(proc.returncode == 0 and b"2010" in proc.stdout, "ssfile info")
    check(b"\r\n" not in proc.stdout, "CLI output has LF line ends")
    proc = subprocess.run([sys.executable, "-m", "ssfile", "--version"], capture_output=True)
    print("smoke:", proc.stdout.decode().strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--require-accelerator", action="store_true")
    args = parser.parse_args()
    import ssfile
    from ssfile.codec.accel import speedups

    if args.require_accelerator:
        check(speedups is not None, "the C accelerator is loaded")
    with tempfile.TemporaryDirectory() as d:
        path = write_and_read(ssfile, d)
        follow(ssfile, d)
        verify_and_repair(ssfile, path, d)
        streamer(ssfile, d)
        cli(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
