"""Issue 18: relay reads its input only as fast as its output accepts, and stdin is read
ahead only a bounded amount.

Real faults: the output redis-server is SIGSTOPped (the relay's input stalls, its memory
stays bounded: sampled from /proc), a stdout pipe nobody reads; then everything arrives."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import ssfile
from ssfile.adapters.stdio import StdioStreamer
from ssfile.streamer import ConsumerOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = b"x" * 100 + b"\n"


class Feeder(threading.Thread):
    """Writes ``n`` lines into ``fd``, counting the bytes written so far."""

    def __init__(self, fd: int, n: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.n, self.written = fd, n, 0

    def run(self) -> None:
        chunk = LINE * 1000
        try:
            for _ in range(self.n // 1000):
                view = memoryview(chunk)
                while view:
                    k = os.write(self.fd, view)
                    self.written += k
                    view = view[k:]
        except OSError:
            pass
        finally:
            os.close(self.fd)


def wait_stalled(progress: Any, quiet: float = 1.0, within: float = 20.0) -> int:
    """Poll ``progress()`` until it has not moved for ``quiet`` seconds; its value then."""
    deadline = time.monotonic() + within
    last, since = progress(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return int(now)
    raise AssertionError(f"still progressing after {within} s (at {last})")


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def read_chars(pid: int) -> int:
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar")


def test_stdin_is_read_ahead_a_bounded_amount() -> None:
    """A consumer that stops asking leaves the rest of stdin unread (in the pipe)."""
    r, w = os.pipe()
    feeder = Feeder(w, 200_000)  # 20 MB
    feeder.start()
    stdin = os.fdopen(r, "rb")

    async def main() -> tuple[int, int]:
        s = StdioStreamer(stdin=stdin)
        c = await s.create_consumer(["k"], ConsumerOptions(auto_stream_reset="earliest"))
        first = await c.next()
        assert first.payload == LINE[:-1]
        stalled = await asyncio.to_thread(wait_stalled, lambda: feeder.written)
        n = 1
        while True:  # then everything arrives, in order
            try:
                n += len(await c.next_batch())
            except ssfile.streamer.StreamEnded:
                break
        await s.disconnect()
        return stalled, n

    stalled, n = asyncio.run(main())
    feeder.join(10)
    assert stalled < 4_000_000  # prefetch (16 x 64 KiB) + a pipe + the consumer's batch
    assert n == 200_000


def _relay(inp: str, out: str, *extra: str, **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ssfile", "relay", "--input", inp, "--output", out, *extra],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        **kw,
    )


@pytest.mark.parametrize("source", ["stdio", "file"])
def test_relay_into_a_stopped_redis_stalls_its_input_then_delivers_all(
    source: str, private_redis: Any, tmp_path: Any
) -> None:
    n = 1_000_000  # 100 MB of payload
    out = f"redis://127.0.0.1:{private_redis.port}/k"
    if source == "file":
        path = tmp_path / "in.ss"
        with ssfile.open(path, "w") as wr:
            for _ in range(n):
                wr.write(LINE[:-1], stream_key="k")
        relay = _relay(f"file://{path}/k", out, "--no-follow", "-X", "timeout=60")
        progress = lambda: read_chars(relay.pid)  # noqa: E731
        size = path.stat().st_size
    else:
        r, w = os.pipe()
        relay = _relay("stdio:///k", out, "-X", "timeout=60", stdin=r)
        os.close(r)
        feeder = Feeder(w, n)
        progress = lambda: feeder.written  # noqa: E731
        size = n * len(LINE)
    peak = 0
    try:
        time.sleep(0.5)
        if source == "stdio":
            feeder.start()
        deadline = time.monotonic() + 30
        while not private_redis.client().xlen("k"):  # the relay is running
            assert time.monotonic() < deadline and relay.poll() is None
            time.sleep(0.05)
        os.kill(private_redis.proc.pid, signal.SIGSTOP)
        try:
            stalled = wait_stalled(progress)
            peak = rss(relay.pid)
        finally:
            os.kill(private_redis.proc.pid, signal.SIGCONT)
        _, err = relay.communicate(timeout=120)
    finally:
        relay.kill()
    assert relay.returncode == 0, err.decode()
    assert stalled < size // 2, (stalled, size)  # read only as fast as the output accepts
    assert peak < 128 * 1024 * 1024, peak
    assert private_redis.client().xlen("k") == n  # nothing lost


def test_relay_into_a_blocked_pipe_stalls_its_input(tmp_path: Any) -> None:
    n = 300_000
    path = tmp_path / "in.ss"
    with ssfile.open(path, "w") as wr:
        for _ in range(n):
            wr.write(LINE[:-1], stream_key="k")
    r, w = os.pipe()
    relay = _relay(f"file://{path}/k", "stdio:///k", "--no-follow", stdout=w)
    os.close(w)
    try:
        stalled = wait_stalled(lambda: read_chars(relay.pid))
        got = []
        reader = threading.Thread(target=lambda: got.append(_read_all(r)), daemon=True)
        reader.start()
        _, err = relay.communicate(timeout=120)
        reader.join(30)
    finally:
        relay.kill()
    assert relay.returncode == 0, err.decode()
    assert stalled < path.stat().st_size // 2
    assert len(got[0].splitlines()) == n


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
