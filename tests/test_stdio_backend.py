"""The stdio backend (in process, over BytesIO) and pipes between real processes."""

import asyncio
import io
import subprocess
import sys

import pytest

import ssfile
from ssfile.adapters.stdio import StdioStreamer
from ssfile.errors import EncodeError, StreamError
from ssfile.lines import LineError
from ssfile.streamer import ConsumerMode, ConsumerOptions, StreamEnded

SSFILE = [sys.executable, "-m", "ssfile"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def drain(c):
    return [m async for m in c]


def test_keys_broadcast_and_sequences():
    stdin = io.BytesIO(
        b"[a] one\n[b | 7] two\n[b] three\nraw line\n[2024-01-01T00:00:00.5 | a | 3 | 2] four\n"
    )

    async def main():
        s = StdioStreamer(stdin=stdin, stdout=io.BytesIO())
        ca = await s.create_consumer(["a"])
        cb = await s.create_consumer(["b"])
        a, b = await drain(ca), await drain(cb)
        assert [(m.payload, m.sequence, m.shard_id) for m in a] == [
            (b"one", 0, 0),
            (b"raw line", 0, 0),
            (b"four", 3, 2),
        ]
        assert a[2].timestamp_ms == 1704067200500
        assert all(m.stream_key == "broadcast" for m in a if m.payload == b"raw line")
        # explicit sequence 7, then the counter continues at 8 (upstream would repeat 7)
        assert [(m.payload, m.sequence) for m in b] == [
            (b"two", 7),
            (b"three", 8),
            (b"raw line", 0),
        ]

    run(main())


def test_invalid_line_skip_reports_line_number():
    stdin = io.BytesIO(b"[a] ok\n[a||1] bad\n[a] \xff\xfe\n[a] after\n")
    err = io.StringIO()

    async def main():
        s = StdioStreamer(stdin=stdin, stdout=io.BytesIO(), stderr=err)
        got = await drain(await s.create_consumer(["a"]))
        assert [m.payload for m in got] == [b"ok", b"after"]
        assert s.invalid_lines == 2

    run(main())
    text = err.getvalue()
    assert "line 2" in text and "line 3" in text and "UTF-8" in text


def test_invalid_line_fatal_keeps_what_was_read():
    stdin = io.BytesIO(b"[a] ok\n[a] fine\n[1,2,3] bad\n[a] never\n")

    async def main():
        s = StdioStreamer(stdin=stdin, stdout=io.BytesIO(), on_invalid="fatal")
        c = await s.create_consumer(["a"])
        assert (await c.next()).payload == b"ok"
        assert (await c.next()).payload == b"fine"
        with pytest.raises(LineError, match="line 3"):
            await c.next()

    run(main())


def test_groups_split_by_sequence():
    stdin = io.BytesIO(b"".join(b"[k] %d\n" % i for i in range(10)))
    opts = ConsumerOptions(mode=ConsumerMode.LOAD_BALANCED, group="g", auto_stream_reset="earliest")

    async def main():
        s = StdioStreamer(stdin=stdin, stdout=io.BytesIO())
        c1 = await s.create_consumer(["k"], opts)
        c2 = await s.create_consumer(["k"], opts)
        solo = await s.create_consumer(["k"])
        got1, got2 = [], []
        while True:
            try:
                got1.extend(await c1.next_batch())
            except StreamEnded:
                break
        got2 = await drain(c2)
        assert [m.sequence for m in got1] == [0, 2, 4, 6, 8]
        assert [m.sequence for m in got2] == [1, 3, 5, 7, 9]
        assert len(await drain(solo)) == 10

    run(main())


def test_producer_lines_round_trip():
    out = io.BytesIO()

    async def main():
        s = StdioStreamer(stdin=io.BytesIO(), stdout=out)
        p = await s.create_producer("clock", shard_id=3)
        r = [p.send(b"tick %d" % i) for i in range(3)]
        assert not any(x.done() for x in r)  # issue 18: resolved once written, not at send
        with pytest.raises(EncodeError, match="UTF-8"):
            p.send(b"\xff")
        with pytest.raises(EncodeError, match="newline"):
            p.send(b"a\nb")
        await p.flush()
        assert [x.result().sequence for x in r] == [0, 1, 2]
        await s.disconnect()

    run(main())

    async def back():
        s = StdioStreamer(stdin=io.BytesIO(out.getvalue()), stdout=io.BytesIO())
        return await drain(await s.create_consumer(["clock"]))

    got = run(back())
    assert [(m.payload, m.sequence, m.shard_id) for m in got] == [
        (b"tick %d" % i, i, 3) for i in range(3)
    ]


def test_unsupported_modes():
    async def main():
        s = StdioStreamer(stdin=io.BytesIO(), stdout=io.BytesIO())
        with pytest.raises(StreamError, match="Resumable"):
            await s.create_consumer(["k"], ConsumerOptions(mode=ConsumerMode.RESUMABLE, group="g"))
        c = await s.create_consumer(["k"])
        with pytest.raises(StreamError, match="seek"):
            await c.seek(0)

    run(main())


def test_pipe_clock_into_relay_into_file(tmp_path):
    out = tmp_path / "c.ss"
    clock = subprocess.Popen(
        SSFILE + ["clock", "--stream", "stdio:///clock", "--count", "1000", "--interval", "0s"],
        stdout=subprocess.PIPE,
    )
    relay = subprocess.run(
        SSFILE + ["relay", "--input", "stdio:///clock", "--output", f"file://{out}/clock"],
        stdin=clock.stdout,
        capture_output=True,
        timeout=60,
    )
    clock.stdout.close()
    assert clock.wait(30) == 0
    assert relay.returncode == 0, relay.stderr
    with ssfile.open(out) as r:
        msgs = list(r)
        assert r.ended
    assert [m.payload for m in msgs] == [b'{"tick": %d}' % i for i in range(1000)]
    assert [m.sequence for m in msgs] == list(range(1, 1001))


def test_relay_file_to_stdio_closed_pipe(tmp_path):
    src = tmp_path / "s.ss"
    with ssfile.open(src, "w") as w:
        for i in range(20000):
            w.write(b"m%d" % i, stream_key="k")
    proc = subprocess.Popen(
        SSFILE + ["relay", "--input", f"file://{src}/k", "--output", "stdio:///"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(30) == 0
    assert b"Traceback" not in proc.stderr.read()
    assert head.endswith(b"| k | 0 | 0] m0\n")


def test_relay_bad_uris():
    for args, needle in [
        (["--input", "stdio://", "--output", "stdio:///"], "ending slash"),
        (["--input", "stdio:///", "--output", "stdio:///x"], "names no stream key"),
        (["--input", "nope:///a", "--output", "stdio:///x"], "unknown protocol"),
        (["--input", "stdio:///a", "--output", "stdio:///x,y"], "at most one"),
    ]:
        r = subprocess.run(SSFILE + ["relay", *args], capture_output=True, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert needle.encode() in r.stderr and b"Traceback" not in r.stderr


def test_relay_ctrl_c_keeps_everything_received(tmp_path):
    import signal
    import time

    out = tmp_path / "int.ss"
    proc = subprocess.Popen(
        SSFILE + ["relay", "--input", "stdio:///k", "--output", f"file://{out}/k"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdin.write(b"".join(b"[k] m%d\n" % i for i in range(50)))
    proc.stdin.flush()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait until the relay has written them (stdin stays open)
        if out.exists():
            with ssfile.open(out, tolerate_truncation=True) as r:
                if len(list(r)) == 50:
                    break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 130
    proc.stdin.close()
    assert b"Traceback" not in proc.stderr.read()
    with ssfile.open(out) as r:
        assert [m.payload for m in r] == [b"m%d" % i for i in range(50)]
        assert not r.ended  # interrupted: no EOS
