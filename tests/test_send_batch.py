"""``Producer.send_batch`` (issue 17 items 4 and 7a): one receipt for a batch of messages.

The file and stdio backends have their own fast paths, every other backend the default (a
loop over ``send``); each is checked against per-message ``send``: the same bytes in the
file, the same lines on stdout.  The bound (issue 18) counts a batch's messages; a batch is
taken whole or not at all; a failed write fails the batch receipt and the next send (issue
12)."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import subprocess
import sys
from typing import Any

import pytest

import ssfile
from ssfile import BufferFull, EncodeError, ProducerOptions, WriteFailed
from ssfile.adapters.stdio import StdioStreamer
from ssfile.file import writer as writer_module
from ssfile.format.constants import HEADER_SIZE
from ssfile.streamer import BatchReceipt, connect
from ssfile.streamer.api import Producer

T = 1_767_225_600_000
# sizes crossing the beacon interval (1 KiB below) and the writer's 1 MiB buffer
PAYLOADS = [b"p%d-" % i + b"x" * ((i * 37) % 700) for i in range(3000)]


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def file_body(path: Any) -> bytes:
    """The file after its header (the header holds the creation time)."""
    with open(path, "rb") as f:
        return f.read()[HEADER_SIZE:]


@pytest.mark.parametrize("chunk", [1, 7, 1000, 3000])
def test_file_batch_writes_the_bytes_of_single_sends(tmp_path: Any, chunk: int) -> None:
    one, many = tmp_path / "one.ss", tmp_path / "many.ss"

    async def main() -> None:
        for path, batched in ((one, False), (many, True)):
            s = await connect(f"file://{path}", beacon_interval=1024)
            p = await s.create_producer("k", shard_id=2)
            p.send(b"before", timestamp=T)  # type: ignore[call-arg]
            receipts: list[Any] = []
            for start in range(0, len(PAYLOADS), chunk):
                part = PAYLOADS[start : start + chunk]
                if batched:
                    receipts.append(p.send_batch(part, timestamp=T))  # type: ignore[call-arg]
                else:
                    receipts += [p.send(x, timestamp=T) for x in part]  # type: ignore[call-arg]
            await p.flush()  # no end(): the EOS frame holds the time it was written
            got = [await r for r in receipts]
            if batched:
                assert sum(got) == len(PAYLOADS) and all(
                    isinstance(r, BatchReceipt) for r in receipts
                )
            await s.disconnect()

    run(main())
    assert file_body(one) == file_body(many)
    with ssfile.open(many) as r:
        msgs = list(r)
    assert [m.payload for m in msgs] == [b"before", *PAYLOADS]
    assert [m.sequence for m in msgs] == list(range(1, len(PAYLOADS) + 2))


def test_stdio_batch_prints_the_lines_of_single_sends() -> None:
    outs = {}

    async def main(batched: bool) -> None:
        out = io.BytesIO()
        s = StdioStreamer(stdin=io.BytesIO(), stdout=out)
        p = await s.create_producer("clock", shard_id=3)
        q = await s.create_producer("other")
        p.send(b"first")
        receipts: list[Any] = []
        for start in range(0, 2500, 300):
            part = [b'{"tick": %d}' % i for i in range(start, min(start + 300, 2500))]
            receipts.append(p.send_batch(part) if batched else [p.send(x) for x in part])
            q.send(b"between")
        await p.flush()
        if batched:
            assert [await r for r in receipts] == [300] * 8 + [100]
        await s.disconnect()
        outs[batched] = [line.split(b" | ", 1)[1] for line in out.getvalue().splitlines()]

    run(main(False))
    run(main(True))
    assert outs[True] == outs[False] and len(outs[True]) == 1 + 2500 + 9
    assert outs[True][1] == b'clock | 1 | 3] {"tick": 0}'


def test_stdio_batch_refuses_a_bad_payload_before_taking_anything() -> None:
    async def main() -> None:
        out = io.BytesIO()
        s = StdioStreamer(stdin=io.BytesIO(), stdout=out)
        p = await s.create_producer("clock")
        with pytest.raises(EncodeError, match="newline"):
            p.send_batch([b"a", b"b\nc"])
        assert p.window.messages == 0
        assert await p.send_batch([b"ok"]) == 1
        await s.disconnect()
        assert out.getvalue().endswith(b"| clock | 0 | 0] ok\n")

    run(main())


@pytest.mark.parametrize("default", [False, True], ids=["stdio", "default"])
def test_a_batch_is_taken_whole_or_not_at_all(default: bool) -> None:
    """Below the bound a batch that does not fit raises BufferFull and nothing is taken; a
    producer holding nothing takes a whole batch even beyond the bound."""

    async def main() -> None:
        s = StdioStreamer(stdin=io.BytesIO(), stdout=io.BytesIO())
        p = await s.create_producer("k", options=ProducerOptions(max_messages=10, max_bytes=100))

        def send(payloads: list[bytes]) -> BatchReceipt:
            return Producer.send_batch(p, payloads) if default else p.send_batch(payloads)

        send([b"a"] * 6)
        with pytest.raises(BufferFull):
            send([b"b"] * 5)
        assert (p.window.messages, p.window.bytes) == (6, 6)
        with pytest.raises(BufferFull):  # the bytes bound
            send([b"c" * 95])
        last = send([b"d"] * 4)
        assert (p.window.messages, p.window.bytes) == (10, 10)
        with pytest.raises(BufferFull):
            p.send(b"e")
        await p.drain()
        await last
        assert p.window.messages == 0
        big = send([b"f"] * 25)  # alone: taken whole
        assert (p.window.messages, p.window.bytes) == (25, 25)
        with pytest.raises(BufferFull):
            send([b"g"])
        assert await big == 25
        assert p.window.grace == 0
        await s.disconnect()

    run(main())


def test_file_batch_at_the_bound_writes_instead_of_refusing(tmp_path: Any) -> None:
    path = tmp_path / "b.ss"

    async def main() -> int:
        s = await connect(f"file://{path}")
        p = await s.create_producer("k", options=ProducerOptions(max_messages=50))
        peak = 0
        receipts = []
        for i in range(100):
            receipts.append(p.send_batch([b"m%d" % i] * 20))
            peak = max(peak, p.window.messages)
        await p.end()
        assert all(r.done() for r in receipts)
        await s.disconnect()
        return peak

    assert run(main()) == 40
    with ssfile.open(path) as r:
        assert sum(1 for _ in r) == 2000


def failing_write(monkeypatch: Any) -> dict[str, Any]:
    real_write = os.write
    state: dict[str, Any] = {"fail": False, "fd": None}

    def write(fd: int, data: Any) -> int:
        if state["fail"] and fd == state["fd"]:
            state["fail"] = False
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(writer_module.os, "write", write)
    return state


def test_file_batch_fails_with_the_flush_and_so_does_the_next_send(
    monkeypatch: Any, tmp_path: Any
) -> None:
    path = tmp_path / "f.ss"
    state = failing_write(monkeypatch)

    async def main() -> None:
        s = await connect(f"file://{path}")
        p = await s.create_producer("k")
        state["fd"] = p._shared.writer._fd  # type: ignore[attr-defined]
        first = p.send_batch([b"a%d" % i for i in range(10)])
        assert not first.done()
        with pytest.raises(asyncio.InvalidStateError):
            first.result()
        assert await first == 10
        state["fail"] = True
        second = p.send_batch([b"b%d" % i for i in range(10)])
        await asyncio.sleep(0.1)  # the flusher runs and fails
        assert second.done()
        with pytest.raises(WriteFailed, match="No space left"):
            await second
        assert first.result() == 10  # resolved before: stays resolved
        with pytest.raises(WriteFailed):
            p.send_batch([b"c"])
        assert p.window.failed == 10 and p.window.messages == 0  # the batch that raised: not
        with pytest.raises(WriteFailed):
            p.send(b"c")
        with pytest.raises(WriteFailed):
            await p.flush()
        with pytest.raises(WriteFailed):
            await s.disconnect()

    asyncio.run(main())
    with ssfile.open(path, "a", eos=False):
        pass
    with ssfile.open(path) as r:
        assert [m.payload for m in r] == [b"a%d" % i for i in range(10)]


def test_file_batch_failing_during_the_call(monkeypatch: Any, tmp_path: Any) -> None:
    """A batch that fills the writer's buffer writes it during the call: that write fails,
    the call raises WriteFailed, the receipts waiting fail, the next send raises."""
    path = tmp_path / "f.ss"
    state = failing_write(monkeypatch)

    async def main() -> None:
        s = await connect(f"file://{path}")
        p = await s.create_producer("k")
        state["fd"] = p._shared.writer._fd  # type: ignore[attr-defined]
        waiting = p.send_batch([b"a"] * 5)
        state["fail"] = True
        with pytest.raises(WriteFailed, match="No space left"):
            p.send_batch([b"x" * 1000] * 2000)  # 2 MB: over the 1 MiB buffer
        with pytest.raises(WriteFailed):
            await waiting
        assert p.window.messages == 0 and p.window.failed == 5
        with pytest.raises(WriteFailed):
            p.send_batch([b"c"])
        with pytest.raises(WriteFailed):
            await s.disconnect()

    asyncio.run(main())


class FullStdout(io.RawIOBase):
    """A stdout that takes ``room`` bytes, then fails with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.data = b""

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if len(self.data) + len(b) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.data += bytes(b)
        return len(b)


def test_stdio_batch_fails_with_the_write_and_so_does_the_next_send() -> None:
    async def main() -> None:
        out = FullStdout(room=2000)
        s = StdioStreamer(stdin=io.BytesIO(), stdout=out)  # type: ignore[arg-type]
        p = await s.create_producer("k")
        assert await p.send_batch([b"a%d" % i for i in range(10)]) == 10
        batch = p.send_batch([b"b" * 100] * 50)
        with pytest.raises(WriteFailed, match="No space left"):
            await batch
        with pytest.raises(WriteFailed):
            p.send_batch([b"c"])
        with pytest.raises(WriteFailed):
            p.send(b"c")
        assert p.window.failed == 50 and p.window.messages == 0
        with pytest.raises(WriteFailed):
            await s.disconnect()
        assert out.data.count(b"\n") == 10

    run(main())


def test_relay_count_is_exact_with_batches(tmp_path: Any) -> None:
    out = tmp_path / "out.ss"
    lines = b"".join(b'{"tick": %d}\n' % i for i in range(5000))
    args = ["relay", "--input", "stdio:///clock", "--output", f"file://{out}/relayed"]
    got = subprocess.run(
        [sys.executable, "-m", "ssfile", *args, "--count", "2345"],
        input=lines,
        capture_output=True,
        timeout=120,
    )
    assert got.returncode == 0, got.stderr
    with ssfile.open(out) as r:
        msgs = list(r)
    assert [m.payload for m in msgs] == [b'{"tick": %d}' % i for i in range(2345)]
    assert {m.stream_key for m in msgs} == {"relayed"}
