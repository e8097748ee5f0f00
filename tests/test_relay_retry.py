"""Issue 18: ``relay --retry-for``: a Redis output that stalls (SIGSTOP) or restarts in the
middle is waited for and retried, and the relay finishes with nothing lost; past the window
the relay fails with one line saying how many messages were delivered and how to go on."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from typing import Any

import ssfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_input(path: Any, n: int) -> None:
    with ssfile.open(path, "w") as w:
        for i in range(n):
            w.write(b"m%09d" % i + b"." * 90, stream_key="k")


def start_relay(path: Any, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ssfile", "relay", "--input", f"file://{path}/k"]
        + ["--output", f"redis://127.0.0.1:{port}/k", "--no-follow", *extra],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_entries(server: Any, relay: subprocess.Popen[str], at_least: int = 1) -> None:
    deadline = time.monotonic() + 60
    while server.client().xlen("k") < at_least:
        assert relay.poll() is None, relay.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)


def payloads(server: Any) -> collections.Counter[bytes]:
    client = server.client()
    got: collections.Counter[bytes] = collections.Counter()
    last = "-"
    while True:
        page = client.xrange("k", min=last, count=10_000)
        if last != "-":
            page = page[1:]
        if not page:
            return got
        for _, fields in page:
            got[fields[b"msg"][:10]] += 1
        last = page[-1][0]


def test_a_stall_longer_than_the_timeout_is_waited_for(private_redis: Any, tmp_path: Any) -> None:
    n = 300_000
    make_input(tmp_path / "in.ss", n)
    relay = start_relay(tmp_path / "in.ss", private_redis.port, "--retry-for", "60")
    try:
        wait_entries(private_redis, relay)
        os.kill(private_redis.proc.pid, signal.SIGSTOP)
        time.sleep(7)  # longer than the 5 s command timeout
        os.kill(private_redis.proc.pid, signal.SIGCONT)
        _, err = relay.communicate(timeout=120)
    finally:
        relay.kill()
    assert relay.returncode == 0, err
    got = payloads(private_redis)
    assert len(got) == n and max(got.values()) == 1  # each once: no loss, no duplicate


def test_a_restart_is_retried_and_nothing_is_lost(private_redis: Any, tmp_path: Any) -> None:
    n = 300_000
    make_input(tmp_path / "in.ss", n)
    relay = start_relay(tmp_path / "in.ss", private_redis.port, "--retry-for", "60")
    try:
        wait_entries(private_redis, relay, 1000)
        try:
            private_redis.client().shutdown(save=True)  # keeps what it stored (dump.rdb)
        except Exception:
            pass  # the connection closes as the server exits
        private_redis.proc.wait(10)
        time.sleep(1)
        private_redis.start()  # same port, same directory: loads dump.rdb
        _, err = relay.communicate(timeout=120)
    finally:
        relay.kill()
    assert relay.returncode == 0, err
    got = payloads(private_redis)
    assert len(got) == n  # every message arrived
    # at least once: an XADD stored just before the shutdown whose reply was lost is resent
    assert sum(got.values()) - n <= 1000


def test_past_the_window_one_line_says_what_was_delivered(
    private_redis: Any, tmp_path: Any
) -> None:
    n = 300_000
    make_input(tmp_path / "in.ss", n)
    relay = start_relay(tmp_path / "in.ss", private_redis.port, "--retry-for", "1")
    try:
        wait_entries(private_redis, relay, 1000)
        private_redis.kill()
        _, err = relay.communicate(timeout=120)
    finally:
        relay.kill()
    assert relay.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"ssfile relay: error: redis://127.0.0.1:{private_redis.port}")
    assert " messages delivered, " in lines[0] and "a later --offset time" in lines[0]
    delivered, sent = (
        int(x) for x in lines[0].split(" -- ")[1].split(" messages")[0].split(" of ")
    )
    assert 1000 <= delivered < sent <= n


def test_producer_retries_a_batch_across_a_restart(private_redis: Any) -> None:
    """The streamer API: a lost connection is retried for retry_for (the entries without a
    reply are sent again) instead of failing the receipts."""
    import asyncio

    from ssfile.streamer import connect

    async def main() -> list[Any]:
        s = await connect(f"redis://127.0.0.1:{private_redis.port}/", timeout=2, retry_for=30)
        p = await s.create_producer("k")
        await p.send(b"before")
        private_redis.kill()
        receipts = [p.send(b"while down %d" % i) for i in range(10)]
        await asyncio.sleep(1)
        await asyncio.to_thread(private_redis.start)  # a fresh server on the same port
        heads = [await r for r in receipts]
        await p.flush()
        await s.disconnect()
        return heads

    heads = asyncio.run(asyncio.wait_for(main(), 60))
    assert [h.payload for h in heads] == [b"while down %d" % i for i in range(10)]
    stored = [f[b"msg"] for _, f in private_redis.client().xrange("k")]
    assert stored == [b"while down %d" % i for i in range(10)]
