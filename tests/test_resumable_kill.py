"""Issue 12, item 6: Resumable file consumers are at-least-once.

A real consumer process is SIGKILLed at random moments while it processes batches, then
restarted, several rounds, then run to the end.  Every message must be in the union of what
the application acknowledged (written to a log after processing each message) across all
rounds: duplicates are allowed, gaps are not.  Before the fix the position was committed
when a batch was handed out, so a kill in the middle of a batch lost its rest.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import ssfile

N = 1500

CHILD = textwrap.dedent(
    """
    import asyncio, os, random, sys, time
    from ssfile.streamer import ConsumerMode, ConsumerOptions, StreamEnded, connect

    path, log, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rnd = random.Random(seed)

    async def main():
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        s = await connect(f"file://{path}")
        c = await s.create_consumer(
            ["k"],
            ConsumerOptions(
                mode=ConsumerMode.RESUMABLE, group="g", auto_stream_reset="earliest",
                follow=False,
            ),
        )
        while True:
            try:
                batch = await c.next_batch(rnd.randint(1, 60))
            except StreamEnded:
                break
            for m in batch:
                time.sleep(0.0004)  # the application's work
                os.write(fd, b"%d\\n" % m.sequence)  # acknowledged: processed
        os.write(fd, b"END\\n")
        await s.disconnect()

    asyncio.run(main())
    """
)


def acked(log) -> list[str]:
    try:
        with open(log) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def test_sigkilled_resumable_consumer_never_skips(tmp_path):
    path = tmp_path / "rec.ss"
    with ssfile.open(path, "w", beacon_interval=4096) as w:
        for i in range(1, N + 1):
            w.write(b"m%05d" % i + b"." * (i % 50), stream_key="k", sequence=i)
    log = tmp_path / "acked.log"
    rnd = random.Random(12)
    kills = 0
    for round_ in range(10):
        before = len(acked(log))
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(log), str(round_)],
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while len(acked(log)) == before and child.poll() is None:
            assert time.monotonic() < deadline, "the consumer never started"
            time.sleep(0.002)
        time.sleep(rnd.uniform(0.0, 0.12))
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        _, err = child.communicate(timeout=60)
        assert child.returncode in (0, -signal.SIGKILL), err.decode()
        if "END" in acked(log):
            break
    assert kills >= 5  # the rounds really killed the consumer mid-stream
    if "END" not in acked(log):  # a last run to the end, not killed
        got = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(log), "99"],
            capture_output=True,
            timeout=120,
        )
        assert got.returncode == 0, got.stderr.decode()
    seen = [int(x) for x in acked(log) if x != "END"]
    missing = sorted(set(range(1, N + 1)) - set(seen))
    assert not missing, f"{len(missing)} messages never processed, e.g. {missing[:10]}"
    assert len(seen) >= N  # duplicates are allowed (a killed batch is delivered again)
