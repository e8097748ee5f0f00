"""Issue 12, item 1: a failed write never corrupts a file, and never passes for a success.

After a failed write (disk full, short write, I/O error) or fsync the writer raises
WriteFailed and refuses every further write: the file is then always a byte prefix of what a
fault-free run writes (no bytes at wrong offsets), so at most a torn tail is left, which
``ssfile.open(p, "a")`` and ``repair`` remove.  A receipt of the file streamer resolves only
once its message is handed to the OS; a failed write fails the waiting receipts and every
later send/flush, with no traceback and no "never retrieved" log.

The disk-full tests use a real 256 KiB tmpfs (the tests run as root); if it cannot be
mounted they fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import pathlib
import subprocess
import sys
import warnings

import pytest

import ssfile
from ssfile.errors import SSError, WriteFailed
from ssfile.file import writer as writer_module
from ssfile.streamer import connect
from ssfile.streamer.sync import connect_sync

T0 = 1_700_000_000_000
INTERVAL = 4096


def message(i: int) -> tuple[str, int, int, int, bytes]:
    """The i-th message of every test here: a few streams, payload sizes that vary."""
    key = f"s{i % 3}"
    return key, i % 2, i // 3 + 1, T0 + i, (b"%06d-" % i) * (1 + i % 40)


def write_messages(w: ssfile.Writer, start: int, stop: int) -> None:
    for i in range(start, stop):
        key, shard, seq, ts, payload = message(i)
        w.write(payload, stream_key=key, shard_id=shard, sequence=seq, timestamp=ts)


def open_like(path, mode="w", **kw) -> ssfile.Writer:
    return ssfile.open(
        path, mode, file_name="rec.ss", created_at=T0, beacon_interval=INTERVAL, eos=False, **kw
    )


def reference(tmp_path: pathlib.Path, n: int) -> bytes:
    """The bytes a fault-free writer gives for the first n messages."""
    path = tmp_path / "reference.ss"
    with open_like(path) as w:
        write_messages(w, 0, n)
    return path.read_bytes()


def recovered(path) -> list[tuple[str, int, int, int, bytes]]:
    """Every message left after appending to ``path`` (which cuts a torn tail)."""
    with ssfile.open(path, "a", eos=False):
        pass
    with ssfile.open(path) as r:
        return [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]


def assert_at_most_a_torn_tail(path) -> None:
    diag = ssfile.verify(path)
    assert {p.code for p in diag.errors} <= {"torn-tail"}, diag.summary_lines()
    assert len(diag.unreadable) <= 1
    if diag.unreadable:
        assert diag.unreadable[0][1] == os.path.getsize(path)


def repaired(path, out) -> list[tuple[str, int, int, int, bytes]]:
    report = ssfile.repair(path, out)
    assert report.written
    with ssfile.open(out) as r:
        return [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]


# ---- a real full disk ------------------------------------------------------------------------


@pytest.fixture()
def small_tmpfs(tmp_path):
    """A 256 KiB tmpfs, unmounted afterwards.  Not mountable: the test fails."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    got = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if got.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (these tests run as root): {got.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_writer_filling_a_disk_leaves_a_prefix(small_tmpfs, tmp_path):
    path = small_tmpfs / "rec.ss"
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * 65536)
    w = open_like(path, buffer_size=8192)
    flushed = 0  # messages before the last successful flush: on disk for sure
    i = 0
    with pytest.raises(WriteFailed) as info:
        while True:
            write_messages(w, i, i + 1)
            i += 1
            if i % 25 == 0:
                w.flush()
                flushed = i
    err = info.value
    size = os.path.getsize(path)
    assert err.errno == errno.ENOSPC and err.offset == size and err.path == str(path)
    assert str(err).startswith(f"{path}: No space left on device (errno 28) at offset {size};")
    assert isinstance(err, SSError) and isinstance(err, OSError)
    filler.unlink()  # space again: writing on now would put frames at wrong offsets
    # refused from now on, and close says so too (after releasing the file)
    for again in (lambda: write_messages(w, i, i + 1), w.flush, w.close):
        with pytest.raises(WriteFailed, match="No space left on device"):
            again()
    w.close()  # closed: a no-op now
    # the file is a prefix of what a fault-free writer writes: nothing at a wrong offset
    assert path.read_bytes() == reference(tmp_path, i)[:size]
    assert_at_most_a_torn_tail(path)
    repaired_msgs = repaired(path, tmp_path / "repaired.ss")
    msgs = recovered(path)
    assert_at_most_a_torn_tail(path)  # now clean
    assert msgs == repaired_msgs == [message(j) for j in range(len(msgs))]
    assert flushed <= err.messages == len(msgs) < i  # the error counts them exactly


def test_file_producer_filling_a_disk(small_tmpfs, caplog):
    """8000 sends into a 256 KiB disk: the receipts that resolve are exactly messages on
    disk, the others fail with WriteFailed; so do later send/flush; nothing is logged."""
    path = small_tmpfs / "p.ss"
    loop_errors: list[dict] = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: loop_errors.append(ctx))
        s = await connect(f"file://{path}")
        p = await s.create_producer("k")
        receipts = []
        failed_send = None
        for n in range(8000):
            try:
                receipts.append(p.send(b"%05d" % n + b"." * 120))
            except WriteFailed as err:
                failed_send = err
                break
            if n % 50 == 0:
                await asyncio.sleep(0.012)  # let the background flusher run
        await asyncio.sleep(0.05)
        outcomes = await asyncio.gather(*(_outcome(r) for r in receipts))
        with pytest.raises(WriteFailed):
            p.send(b"more")
        with pytest.raises(WriteFailed):
            await p.flush()
        with pytest.raises(WriteFailed):
            await s.disconnect()
        return outcomes, failed_send

    async def _outcome(r):
        try:
            return (await r).payload
        except WriteFailed as err:
            return err

    with caplog.at_level(logging.WARNING, logger="asyncio"), warnings.catch_warnings():
        warnings.simplefilter("error")
        outcomes, failed_send = asyncio.run(main())
        gc.collect()
    assert not loop_errors and not caplog.records  # e.g. "Task exception was never retrieved"
    stored = [o for o in outcomes if isinstance(o, bytes)]
    failures = [o for o in outcomes if isinstance(o, WriteFailed)]
    assert failures or failed_send is not None
    assert all(f.errno == errno.ENOSPC and str(path) in str(f) for f in failures)
    # receipts resolve in order: a prefix of the sends is stored, the rest failed
    assert outcomes[: len(stored)] == stored
    assert_at_most_a_torn_tail(path)
    with ssfile.open(path, "a", eos=False):
        pass
    with ssfile.open(path) as r:
        on_disk = [m.payload for m in r]
    assert on_disk[: len(stored)] == stored  # every resolved receipt is on disk
    assert len(on_disk) < len(outcomes)


def full_disk_lines() -> bytes:
    return b"".join(b"[k] payload-%05d-%s\n" % (i, b"." * 80) for i in range(8000))


def test_cli_relay_on_a_full_disk_says_what_is_safe(small_tmpfs, tmp_path):
    """A recording written in place (relay): one line on stderr naming the file, the error and
    how many messages are on disk; exit 1; the file has at most a torn tail and holds exactly
    that many messages."""
    out = small_tmpfs / "out.ss"
    args = ["relay", "--input", "stdio:///k", "--output", f"file://{out}/k"]
    got = subprocess.run(
        [sys.executable, "-m", "ssfile", *args],
        input=full_disk_lines(),
        capture_output=True,
        timeout=120,
    )
    err = got.stderr.decode()
    assert got.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and f"{out}: No space left on device (errno 28)" in err
    assert_at_most_a_torn_tail(out)
    intact = ssfile.verify(out).intact_messages
    assert f"before that offset ({intact})" in err and intact > 1000


def test_cli_encode_on_a_full_disk_leaves_no_partial_file(small_tmpfs):
    """A new file (encode) is whole or absent: on a full disk one line naming the target and
    the error, a non-zero exit, no output and no temporary file left behind."""
    out = small_tmpfs / "out.ss"
    got = subprocess.run(
        [sys.executable, "-m", "ssfile", "encode", str(out)],
        input=full_disk_lines(),
        capture_output=True,
        timeout=120,
    )
    err = got.stderr.decode()
    assert got.returncode != 0 and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and f"{out}: No space left on device" in err
    assert os.listdir(small_tmpfs) == []


def test_stdio_producer_on_a_full_disk(small_tmpfs):
    """`clock` to a stdout that fills a disk: one line naming how many lines are out, exit 1,
    no traceback and no "Exception ignored" at exit."""
    out = small_tmpfs / "clock.txt"
    with open(out, "wb") as f:
        got = subprocess.run(
            [sys.executable, "-m", "ssfile", "clock", "--stream", "stdio:///k"]
            + ["--interval", "0s", "--count", "30000"],
            stdout=f,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    err = got.stderr.decode()
    assert got.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert "No space left on device (errno 28)" in err and "Traceback" not in err
    lines = out.read_bytes().count(b"\n")
    assert f"the output holds the first {lines} lines" in err and lines > 1000


# ---- injected faults ---------------------------------------------------------------------------


class Faults:
    """os.write/os.fsync for one fd, failing as planned: each entry of ``plan`` applies to one
    os.write ("short": write half, "enospc": raise, "interrupt": raise KeyboardInterrupt;
    "hold-" before either: and keep the buffer it was given, as a wrapper that logs it might),
    each of ``sync_plan`` to one os.fsync ("eio": raise)."""

    def __init__(self, monkeypatch, plan, sync_plan=()):
        self.plan = list(plan)
        self.sync_plan = list(sync_plan)
        self.fd = None
        self.held = []
        self.real_write, self.real_fsync = os.write, os.fsync
        monkeypatch.setattr(writer_module.os, "write", self.write)
        monkeypatch.setattr(writer_module.os, "fsync", self.fsync)

    def write(self, fd, data):
        step = self.plan.pop(0) if fd == self.fd and self.plan else None
        if step and step.startswith("hold-"):
            self.held.append(data)
            step = step[len("hold-") :]
        if step == "short":
            return self.real_write(fd, bytes(data[: max(1, len(data) // 2)]))
        if step == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if step == "interrupt":
            raise KeyboardInterrupt
        return self.real_write(fd, data)

    def fsync(self, fd):
        if fd == self.fd and self.sync_plan and self.sync_plan.pop(0) == "eio":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return self.real_fsync(fd)


def faulty_writer(monkeypatch, path, plan, sync_plan=(), **kw):
    w = open_like(path, buffer_size=4096, **kw)
    faults = Faults(monkeypatch, plan, sync_plan)
    faults.fd = w._fd
    return w, faults


def test_short_write_then_enospc(monkeypatch, tmp_path):
    """A short write followed by ENOSPC: the written half stays, nothing lands after it."""
    path = tmp_path / "f.ss"
    w, _ = faulty_writer(monkeypatch, path, [None, "short", "enospc"])
    with pytest.raises(WriteFailed) as info:
        write_messages(w, 0, 400)
    size = os.path.getsize(path)
    assert info.value.offset == size
    with pytest.raises(WriteFailed):
        write_messages(w, 400, 401)
    with pytest.raises(WriteFailed):
        w.close()
    assert path.read_bytes() == reference(tmp_path, 400)[:size]
    assert_at_most_a_torn_tail(path)
    msgs = recovered(path)
    assert msgs == [message(j) for j in range(len(msgs))] and len(msgs) == info.value.messages


def test_a_failure_is_final_even_if_the_disk_recovers(monkeypatch, tmp_path):
    """One failed write, then every write would succeed: the writer still refuses, since
    continuing would need the lost bytes; reopening with mode 'a' continues the file."""
    path = tmp_path / "once.ss"
    w, faults = faulty_writer(monkeypatch, path, [None, "enospc"])
    with pytest.raises(WriteFailed):
        write_messages(w, 0, 300)
    assert not faults.plan  # from here on every os.write would work
    with pytest.raises(WriteFailed):
        w.flush()
    with pytest.raises(WriteFailed):
        w.close()
    size = os.path.getsize(path)
    assert path.read_bytes() == reference(tmp_path, 300)[:size]
    have = len(recovered(path))
    with open_like(path, "a") as w2:  # continue where the file ends
        write_messages(w2, have, 300)
    assert path.read_bytes() == reference(tmp_path, 300)


def test_interrupted_write_keeps_the_unwritten_bytes(monkeypatch, tmp_path):
    """Ctrl-C inside os.write: nothing is lost or skipped, the next flush continues."""
    path = tmp_path / "int.ss"
    w, _ = faulty_writer(monkeypatch, path, [None, "interrupt"])
    i = 0
    with pytest.raises(KeyboardInterrupt):
        while i < 300:
            write_messages(w, i, i + 1)
            i += 1
    # message i was encoded before its write-out was interrupted: carry on after it
    write_messages(w, i + 1, 300)
    w.close()
    assert w.failed is None
    assert path.read_bytes() == reference(tmp_path, 300)


@pytest.mark.parametrize("fault", ["hold-interrupt", "hold-enospc"])
def test_a_buffer_kept_after_a_failed_write_does_not_stop_the_writer(monkeypatch, tmp_path, fault):
    """The writer hands the OS a view of the encoder's buffer (no copy); a failed write whose
    traceback or caller keeps that view must neither lose bytes nor make the encoder unable to
    grow its buffer: Ctrl-C then carries on as usual, ENOSPC fails as usual."""
    path = tmp_path / "held.ss"
    w, faults = faulty_writer(monkeypatch, path, [None, "short", fault])
    i = 0
    with pytest.raises((KeyboardInterrupt, WriteFailed)) as info:
        while i < 300:
            write_messages(w, i, i + 1)
            i += 1
    assert faults.held  # the view is still exported
    if fault == "hold-interrupt":
        write_messages(w, i + 1, 300)
        big = [b"x" * 3000, b"y" * 70_000]  # the encoder's buffer must grow for these
        for payload in big:
            w.write(payload, stream_key="big", timestamp=T0)
        w.close()
        assert w.failed is None
        with open_like(tmp_path / "reference.ss") as ref:
            write_messages(ref, 0, 300)
            for payload in big:
                ref.write(payload, stream_key="big", timestamp=T0)
        assert path.read_bytes() == (tmp_path / "reference.ss").read_bytes()
    else:
        assert isinstance(info.value, WriteFailed)
        size = os.path.getsize(path)
        assert info.value.offset == size
        with pytest.raises(WriteFailed):
            w.close()
        assert path.read_bytes() == reference(tmp_path, 300)[:size]
        msgs = recovered(path)
        assert msgs == [message(j) for j in range(len(msgs))] and len(msgs) == info.value.messages


def test_fsync_failure_is_final(monkeypatch, tmp_path):
    path = tmp_path / "sync.ss"
    w, _ = faulty_writer(monkeypatch, path, [], [None, "eio"], fsync=True)
    write_messages(w, 0, 10)
    w.flush()  # write, then the first fsync: fine
    synced = os.path.getsize(path)
    write_messages(w, 10, 20)
    with pytest.raises(WriteFailed, match=r"fsync failed: Input/output error \(errno 5\)") as e:
        w.flush()
    assert e.value.offset == synced and e.value.messages == 10
    with pytest.raises(WriteFailed):
        write_messages(w, 20, 21)
    with pytest.raises(WriteFailed):
        w.close()


def test_with_block_keeps_the_original_exception(monkeypatch, tmp_path):
    """An exception in the block, then a close that fails: the block's exception is the one
    raised, with the write failure as a note."""
    path = tmp_path / "exit.ss"
    w, faults = faulty_writer(monkeypatch, path, [])
    with pytest.raises(KeyError) as info:
        with w:
            write_messages(w, 0, 5)  # buffered
            faults.plan = ["enospc"]
            raise KeyError("mine")
    assert any("No space left on device" in n for n in info.value.__notes__)
    # a WriteFailed from the block itself is not repeated by close
    path2 = tmp_path / "exit2.ss"
    w2, _ = faulty_writer(monkeypatch, path2, [None, "enospc"])
    with pytest.raises(WriteFailed) as info2:
        with w2:
            write_messages(w2, 0, 300)
    assert not getattr(info2.value, "__notes__", None)
    assert type(info2.value.__context__) is OSError  # the first failure, not close's repeat


def test_file_producer_with_injected_faults(monkeypatch, tmp_path):
    """The flusher's write fails once: the waiting receipts fail, the earlier ones stay
    resolved, the next send and flush fail; no traceback or log."""
    path = tmp_path / "inj.ss"
    loop_errors: list[dict] = []
    real_write = os.write
    state = {"fail": False, "fd": None}

    def write(fd, data):
        if state["fail"] and fd == state["fd"]:
            state["fail"] = False
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(writer_module.os, "write", write)

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: loop_errors.append(ctx))
        s = await connect(f"file://{path}")
        p = await s.create_producer("k")
        state["fd"] = p._shared.writer._fd
        first = [p.send(b"a%d" % n) for n in range(10)]
        assert not any(r.done() for r in first)  # not written yet: not resolved
        with pytest.raises(asyncio.InvalidStateError):
            first[0].result()
        assert [(await r).payload for r in first] == [b"a%d" % n for n in range(10)]
        state["fail"] = True
        second = [p.send(b"b%d" % n) for n in range(10)]
        await asyncio.sleep(0.1)  # the flusher runs and fails
        for r in second:
            assert r.done()
            with pytest.raises(WriteFailed, match="No space left"):
                await r
        with pytest.raises(WriteFailed):
            p.send(b"c")
        with pytest.raises(WriteFailed):
            await p.flush()
        with pytest.raises(WriteFailed):
            await p.end()
        await s.disconnect()  # ended: nothing more to report

    asyncio.run(main())
    gc.collect()
    assert not loop_errors
    with ssfile.open(path, "a", eos=False):
        pass
    with ssfile.open(path) as r:
        assert [m.payload for m in r] == [b"a%d" % n for n in range(10)]


def test_sync_facade_receipt_waits_for_the_write(tmp_path):
    path = tmp_path / "sync.ss"
    with connect_sync(f"file://{path}") as s:
        p = s.create_producer("k")
        got = p.send(b"x").result()  # waits for the flusher, does not raise "not done"
        assert got.payload == b"x" and got.sequence == 1
        with ssfile.open(path, tolerate_truncation=True) as r:
            assert [m.payload for m in r] == [b"x"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_a_dropped_writer_hands_its_messages_to_the_file(tmp_path):
    """A writer never closed (no ``with``) still writes its buffered messages when it is
    collected, as a Python file does, leaves no EOS and releases the lock; before, all of
    them were lost without a word (the buffer holds up to 1 MiB)."""
    path = tmp_path / "dropped.ss"
    w = open_like(path)
    write_messages(w, 0, 100)
    with pytest.warns(ResourceWarning, match="unclosed ssfile.Writer"):
        del w
        gc.collect()
    assert recovered(path) == [message(i) for i in range(100)]
    with open_like(path, "a") as w:  # not locked any more; appending goes on
        write_messages(w, 100, 110)
    assert path.read_bytes() == reference(tmp_path, 110)


def test_a_writer_left_open_at_the_end_of_the_program(tmp_path):
    path = tmp_path / "exit.ss"
    script = (
        "import ssfile\n"
        f"w = ssfile.open({str(path)!r}, 'w')\n"
        "for i in range(1000):\n"
        "    w.write(b'%d' % i, stream_key='s', timestamp=1000 + i)\n"
    )
    got = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert got.returncode == 0 and got.stderr == ""  # ResourceWarning: shown only if asked
    with ssfile.open(path) as r:
        assert [m.payload for m in r] == [b"%d" % i for i in range(1000)]
        assert not r.ended  # no EOS: nothing said the recording was complete


def test_a_dropped_writer_that_cannot_write_warns(small_tmpfs):
    """The write at collection fails (disk full): a RuntimeWarning, shown by default, says
    what the file holds."""
    path = small_tmpfs / "dropped.ss"
    w = open_like(path)
    (small_tmpfs / "filler").write_bytes(b"\0" * (256 * 1024 - 8192))
    write_messages(w, 0, 500)  # ~100 KiB, all in the buffer
    with pytest.warns(RuntimeWarning, match="No space left on device.*dropped without close"):
        del w
        gc.collect()
    assert_at_most_a_torn_tail(path)
