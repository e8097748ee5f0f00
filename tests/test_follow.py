"""Following a growing file: appended messages arrive, torn frames are waited through,
EOS ends the iteration, truncation/replacement/removal are clear errors."""

from __future__ import annotations

import os
import queue
import threading

import pytest

import ssfile
from ssfile.codec.encoder import Encoder
from ssfile.file import follow as follow_mod
from ssfile.file.follow import Follower, FollowError
from ssfile.format.records import FileHeader

pytestmark = pytest.mark.timeout(60)


class Tail(threading.Thread):
    """Iterate a follow=True reader in a thread; messages and the final error go to a queue."""

    def __init__(self, path, **options) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.path, self.options = path, options
        self.out: queue.Queue = queue.Queue()
        self.reader = None
        self.start()

    def run(self) -> None:
        try:
            with ssfile.Reader(self.path, follow=True, **self.options) as r:
                self.reader = r
                for m in r:
                    self.out.put(m)
                self.out.put(("end", r.ended))
        except Exception as err:  # noqa: BLE001 - handed to the test
            self.out.put(("error", err))

    def take(self, n: int) -> list:
        return [self.out.get(timeout=30) for _ in range(n)]


def _encoder(interval: int = 1024) -> Encoder:
    enc = Encoder(FileHeader("f.ss", 1, interval))
    enc.start()
    return enc


def _append(path, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with open(path, "ab") as f:
        f.write(data)


def test_appended_messages_arrive_and_eos_ends(tmp_path):
    path = tmp_path / "live.ss"
    enc = _encoder()
    _append(path, enc.take())
    tail = Tail(path)
    for batch in range(5):
        for i in range(40):
            enc.encode("k", 0, batch * 40 + i, 1000 + i, b"m%d" % i)
        _append(path, enc.take())
        got = tail.take(40)
        assert [m.sequence for m in got] == list(range(batch * 40, batch * 40 + 40))
    enc.end_of_stream(5)
    _append(path, enc.take())
    assert tail.take(1) == [("end", True)]


def test_writer_in_this_process_is_followed(tmp_path):
    path = tmp_path / "w.ss"
    w = ssfile.open(path, "w", beacon_interval=1024)
    w.flush()
    tail = Tail(path)
    for i in range(100):
        w.write(b"x" * 30, stream_key="s", timestamp=i)
        if i % 10 == 9:
            w.flush()
            assert tail.take(10)[-1].sequence == i + 1
    w.close()
    assert tail.take(1) == [("end", True)]


def test_a_partly_written_frame_is_waited_through(tmp_path):
    path = tmp_path / "torn.ss"
    enc = _encoder(interval=256)
    _append(path, enc.take())
    tail = Tail(path)
    enc.encode("k", 0, 1, 1, bytes(600))  # spans two beacons
    data = enc.take()
    for cut in (1, 100, len(data) - 1):  # dribble it in
        _append(path, data[:cut])
        data = data[cut:]
    _append(path, data)
    (m,) = tail.take(1)  # the message, not an error about the torn frame
    assert m.sequence == 1 and m.payload == bytes(600)


def test_header_not_yet_written(tmp_path):
    path = tmp_path / "empty.ss"
    path.write_bytes(b"")
    tail = Tail(path)
    enc = _encoder()
    head = enc.take()
    _append(path, head[:50])
    _append(path, head[50:])
    enc.encode("k", 0, 7, 1, b"hi")
    _append(path, enc.take())
    assert tail.take(1)[0].sequence == 7


def _followed_file(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "x.ss"
    enc = _encoder()
    for i in range(30):
        enc.encode("k", 0, i, i, bytes(20))
    _append(path, enc.take())
    tail = Tail(path)
    tail.take(30)  # everything delivered: the reader is now at the end, waiting
    return path, tail


def test_truncation_is_reported(tmp_path):
    path, tail = _followed_file(tmp_path)
    os.truncate(path, 300)
    kind, err = tail.take(1)[0]
    assert kind == "error" and isinstance(err, FollowError) and "truncated" in str(err)


def test_replacement_is_reported(tmp_path):
    path, tail = _followed_file(tmp_path)
    other = tmp_path / "other.ss"
    other.write_bytes(path.read_bytes())
    os.replace(other, path)
    kind, err = tail.take(1)[0]
    assert kind == "error" and "replaced" in str(err)


def test_removal_is_reported(tmp_path):
    path, tail = _followed_file(tmp_path)
    os.remove(path)
    kind, err = tail.take(1)[0]
    assert kind == "error" and "removed" in str(err)


def test_follow_needs_a_real_file():
    import io

    with pytest.raises(ValueError, match="file descriptor"):
        ssfile.Reader(io.BytesIO(b""), follow=True)


def test_idle_follower_sleeps_with_backoff(tmp_path, monkeypatch):
    """No busy waiting: each idle check is followed by a sleep that doubles up to MAX_SLEEP."""
    path = tmp_path / "idle.ss"
    path.write_bytes(b"abc")
    with open(path, "rb") as f:
        f.read()
        follower = Follower(f, str(path))
        sleeps: list[float] = []

        def fake_wait(timeout: float) -> bool:
            sleeps.append(timeout)
            if len(sleeps) == 12:
                follower._closed.set()
            return follower._closed.is_set()

        monkeypatch.setattr(follower._closed, "wait", fake_wait)
        assert follower.wait() is False
    assert sleeps[0] == follow_mod.MIN_SLEEP
    assert all(b == min(a * 2, follow_mod.MAX_SLEEP) for a, b in zip(sleeps, sleeps[1:]))
    assert sleeps[-1] == follow_mod.MAX_SLEEP <= 0.05


def test_seek_end_then_follow_gets_only_new_messages(tmp_path):
    path = tmp_path / "end.ss"
    enc = _encoder()
    for i in range(50):
        enc.encode("k", 0, i, i, bytes(40))
    _append(path, enc.take())
    out: queue.Queue = queue.Queue()

    def run() -> None:
        with ssfile.Reader(path, follow=True) as r:
            r.seek_end()
            out.put("positioned")
            for m in r:
                out.put(m)
                return

    threading.Thread(target=run, daemon=True).start()
    assert out.get(timeout=30) == "positioned"
    enc.encode("k", 0, 99, 99, b"new")
    _append(path, enc.take())
    assert out.get(timeout=30).sequence == 99
