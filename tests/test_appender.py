"""Writer.appender (the streamer's per-message path) writes what Writer.write writes."""

from __future__ import annotations

import pytest

import ssfile
from ssfile.errors import EncodeError, SSError
from ssfile.file.writer import Writer


def _write_both(tmp_path, messages, *, interval=None):
    a, b = tmp_path / "write.ss", tmp_path / "append.ss"
    with Writer(str(a), "w", beacon_interval=interval, file_name="x", created_at=1) as w:
        for key, payload, ts in messages:
            w.write(payload, stream_key=key, timestamp=ts)
    with Writer(str(b), "w", beacon_interval=interval, file_name="x", created_at=1) as w:
        appenders = {}
        for key, payload, ts in messages:
            if key not in appenders:
                appenders[key] = w.appender(key)
            appenders[key](payload, ts)
    return a, b


@pytest.mark.parametrize("interval", [None, 256])
def test_same_bytes_as_write(tmp_path, interval):
    messages = [(f"k{i % 3}", bytes([65 + i % 26]) * (i % 50), 1000 + i // 4) for i in range(3000)]
    messages.append(("k0", bytearray(b"a bytearray"), 5000))  # not bytes: write() takes it
    a, b = _write_both(tmp_path, messages, interval=interval)
    assert a.read_bytes()[:-40] == b.read_bytes()[:-40]  # all but the EOS frame's stamp
    with ssfile.open(str(b)) as r:
        got = [(m.stream_key, m.sequence) for m in r]
    assert got[:3] == [("k0", 1), ("k1", 1), ("k2", 1)] and got[-1] == ("k0", 1001)


def test_sequences_continue_an_appended_file(tmp_path):
    path = str(tmp_path / "a.ss")
    with Writer(path, "w") as w:
        w.write(b"x", stream_key="s", sequence=41, timestamp=1)
    with Writer(path, "a") as w:
        assert w.appender("s")(b"y", 2) == 42


def test_same_errors_as_write(tmp_path):
    with Writer(str(tmp_path / "a.ss"), "w") as w:
        put = w.appender("s")
        with pytest.raises(EncodeError, match="timestamp"):
            put(b"x", -1)
        with pytest.raises(EncodeError, match="payload must be bytes"):
            put("text", 1)  # type: ignore[arg-type]
        with pytest.raises(EncodeError, match="reserved"):
            w.appender("SEA_STREAMER_INTERNAL")(b"x", 1)
        assert put(b"ok", 1) == 1  # nothing was written by the refusals
    with pytest.raises(SSError, match="closed"):
        put(b"late", 2)
