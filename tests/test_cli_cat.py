"""``ssfile cat``: formats match ss-decode's message lines, filters, seeking, follow, errors."""

from __future__ import annotations

import io
import json
import os
import threading
import time

import pytest

import ssfile
from ssfile.cli import main
from ssfile.file import reader as reader_mod
from ssfile.timefmt import parse_time
from ssfile.types import format_timestamp

pytestmark = pytest.mark.timeout(120)
GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]


def cat(capsysbinary, *argv: str) -> tuple[int, bytes, bytes]:
    code = main(["cat", *argv])
    out, err = capsysbinary.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", GOLDEN)
def test_log_and_ndjson_are_ss_decode_message_lines(golden_dir, capsysbinary, name):
    path = str(golden_dir / f"{name}.ss")
    for fmt, suffix, comment in (("log", "decode.log", b"# "), ("ndjson", "decode.ndjson", b"/* ")):
        golden = (golden_dir / f"{name}.{suffix}").read_bytes().splitlines(keepends=True)
        # message lines only: no header/beacon comments, and the EOS frame is not a message
        want = [
            line
            for line in golden
            if not line.startswith(comment) and b"SEA_STREAMER_INTERNAL" not in line
        ]
        code, out, err = cat(capsysbinary, path, "--format", fmt)
        assert (code, err) == (0, b"")
        assert out.splitlines(keepends=True) == want


def _ndjson(out: bytes) -> list[tuple[str, int, int, str]]:
    rows = []
    for line in out.splitlines():
        h = json.loads(line)["header"]
        rows.append((h["stream_key"], h["shard_id"], h["sequence"], h["timestamp"]))
    return rows


def _rows(msgs) -> list[tuple[str, int, int, str]]:  # type: ignore[no-untyped-def]
    return [(m.stream_key, m.shard_id, m.sequence, format_timestamp(m.timestamp_ms)) for m in msgs]


def _messages(path) -> list[ssfile.Message]:  # type: ignore[no-untyped-def]
    with ssfile.open(path) as r:
        return list(r)


def test_filters_and_window(golden_dir, capsysbinary):
    path = golden_dir / "multi-stream.ss"
    msgs = _messages(path)
    times = sorted({m.timestamp_ms for m in msgs})
    since, until = times[1], times[-2]
    code, out, err = cat(
        capsysbinary,
        str(path),
        "--format",
        "ndjson",
        "--stream",
        "beta",
        "--stream",
        "gamma",
        "--shard",
        "2",
        "--since",
        str(since),
        "--until",
        format_timestamp(until),
    )
    assert (code, err) == (0, b"")
    want = [
        m
        for m in msgs
        if m.stream_key in ("beta", "gamma") and m.shard_id == 2 and since <= m.timestamp_ms < until
    ]
    assert _ndjson(out) == _rows(want) and want


def test_from_seq_and_limit(golden_dir, capsysbinary):
    path = golden_dir / "multi-stream.ss"
    msgs = _messages(path)
    code, out, _ = cat(
        capsysbinary,
        str(path),
        "--format",
        "ndjson",
        "--stream",
        "delta",
        "--shard",
        "1",
        "--from-seq",
        "120",
        "--limit",
        "7",
    )
    want = [m for m in msgs if (m.stream_key, m.shard_id) == ("delta", 1) and m.sequence >= 120][:7]
    assert code == 0 and _ndjson(out) == _rows(want) and len(want) == 7


def test_since_accepts_every_time_format(golden_dir, capsysbinary):
    path = str(golden_dir / "consumer.ss")
    msgs = _messages(path)
    t = msgs[40].timestamp_ms
    outs = set()
    for text in (
        str(t),
        format_timestamp(t),
        format_timestamp(t) + "Z",
        format_timestamp(t) + "+00:00",
    ):
        assert parse_time(text) == t
        code, out, _ = cat(capsysbinary, path, "--since", text, "--format", "ndjson")
        assert code == 0
        outs.add(out)
    assert len(outs) == 1
    assert _ndjson(outs.pop()) == _rows([m for m in msgs if m.timestamp_ms >= t])


def test_raw_format(golden_dir, capsysbinary):
    path = str(golden_dir / "consumer.ss")
    code, out, _ = cat(capsysbinary, path, "--format", "raw", "--limit", "3")
    assert (code, out) == (0, b"hello-0\nhello-1\nhello-2\n")


class CountingFile(io.BufferedReader):
    total = 0

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        data = super().read(n)
        CountingFile.total += len(data)
        return data


def test_since_seeks_instead_of_scanning(tmp_path, capsysbinary, monkeypatch):
    path = tmp_path / "big.ss"
    with ssfile.open(path, "w", beacon_interval=65536) as w:
        for i in range(120000):
            w.write(b"%060d" % i, stream_key="ab"[i % 2], timestamp=1_000_000 + i)
    size = path.stat().st_size
    monkeypatch.setattr(
        reader_mod, "open", lambda p, mode: CountingFile(io.FileIO(p, "r")), raising=False
    )
    CountingFile.total = 0
    code, out, _ = cat(
        capsysbinary, str(path), "--since", str(1_000_000 + 119990), "--format", "raw"
    )
    assert code == 0 and len(out.splitlines()) == 10
    # opening reads one 1 MiB chunk; the seek adds a few beacons and about an interval
    assert CountingFile.total < size / 8, (CountingFile.total, size)


def test_usage_errors(golden_dir, capsysbinary, tmp_path):
    path = str(golden_dir / "consumer.ss")
    code, _, err = cat(capsysbinary, path, "--from-seq", "3")
    assert code == 2 and b"exactly one stream" in err
    with pytest.raises(SystemExit) as exc:
        main(["cat", path, "--since", "yesterday"])
    assert exc.value.code == 2
    assert b"invalid time" in capsysbinary.readouterr()[1]
    bad = tmp_path / "bad.ss"
    bad.write_bytes(b"not a recording at all" * 10)
    code, _, err = cat(capsysbinary, str(bad))
    assert code == 2 and b"bad magic" in err and b"\n" == err[-1:] and err.count(b"\n") == 1


def test_torn_file_prints_what_it_can_then_fails(golden_dir, capsysbinary, tmp_path):
    data = (golden_dir / "consumer.ss").read_bytes()
    torn = tmp_path / "torn.ss"
    torn.write_bytes(data[:3000])
    code, out, err = cat(capsysbinary, str(torn), "--format", "raw")
    assert code == 1 and b"truncated" in err
    assert out.splitlines()[-1] == b"hello-61"


def test_follow_prints_appended_messages_until_eos(tmp_path, capsysbinary):
    path = tmp_path / "live.ss"
    w = ssfile.open(path, "w", beacon_interval=1024)
    w.write(b"first", stream_key="k", timestamp=1)
    w.flush()
    result = {}
    t = threading.Thread(
        target=lambda: result.setdefault(
            "code", main(["cat", str(path), "--follow", "--format", "raw"])
        )
    )
    t.start()
    for i in range(3):
        time.sleep(0.02)  # pacing only: the assertions do not depend on timing
        w.write(b"more-%d" % i, stream_key="k", timestamp=2)
        w.flush()
    w.close()  # writes the EOS: cat ends
    t.join(timeout=30)
    assert not t.is_alive()
    out, _ = capsysbinary.readouterr()
    assert result["code"] == 0
    assert out == b"first\nmore-0\nmore-1\nmore-2\n"


def test_follow_reports_a_truncated_file_in_one_line(tmp_path, capsysbinary):
    path = tmp_path / "cut.ss"
    with ssfile.open(path, "w", beacon_interval=1024, eos=False) as w:
        for i in range(20):
            w.write(b"m%d" % i, stream_key="k", timestamp=i)
    result = {}
    t = threading.Thread(
        target=lambda: result.setdefault(
            "code", main(["cat", str(path), "--follow", "--format", "raw"])
        )
    )
    t.start()
    printed = b""
    while printed.count(b"\n") < 20 and not result:
        printed += capsysbinary.readouterr().out
        time.sleep(0.01)  # until everything has been printed; then cat waits at the end
    os.truncate(path, 200)
    t.join(timeout=30)
    _, err = capsysbinary.readouterr()
    assert printed == b"".join(b"m%d\n" % i for i in range(20))
    assert result["code"] == 1
    assert err.count(b"\n") == 1 and b"truncated while following" in err
