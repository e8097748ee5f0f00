"""`ssfile convert`: .ss to Parquet/Arrow/JSON lines/CSV and back, message for message; bad
input named by row or line; OUT never half-written, never the input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ssfile
from ssfile.cli import main

T0 = 1_767_225_600_000


def write(path, n=500, interval=1024):
    with ssfile.open(path, "w", beacon_interval=interval, created_at=T0) as w:
        for i in range(n):
            payload = bytes([i % 256, 0xFF]) if i % 5 == 0 else b"text %d \xc3\xa9" % i
            w.write(payload, stream_key=("a", "b")[i % 2], shard_id=i % 3, timestamp=T0 + i)
    return path


def messages(path):
    with ssfile.open(path) as r:
        return [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]


def convert(*args):
    return main(["convert", *map(str, args)])


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "jsonl"])
def test_round_trip_message_for_message(tmp_path, fmt):
    src = write(tmp_path / "in.ss")
    assert convert(src, tmp_path / f"t.{fmt}") == 0
    assert convert(tmp_path / f"t.{fmt}", tmp_path / "back.ss") == 0
    assert messages(tmp_path / "back.ss") == messages(src)
    with ssfile.open(tmp_path / "back.ss") as r:
        list(r)
        assert r.ended
        if fmt != "jsonl":  # the header travels in the table's metadata
            assert (r.header.file_name, r.header.created_at_ms) == ("in.ss", T0)
            assert r.header.beacon_interval == 1024


def test_golden_files_come_back_byte_for_byte(golden_dir, tmp_path):
    """Upstream's files through Parquet and back: the same bytes (upstream's reader reads
    them), except the EOS frame's timestamp, which is the time of the conversion."""
    for src in sorted(golden_dir.glob("*.ss")):
        out = tmp_path / f"{src.stem}.parquet"
        assert convert(src, out) == 0
        assert convert(out, tmp_path / src.name) == 0
        original, back = src.read_bytes(), (tmp_path / src.name).read_bytes()
        assert len(back) == len(original), src
        differ = [i for i, (x, y) in enumerate(zip(original, back)) if x != y]
        with ssfile.open(src) as r:
            list(r)
            ended = r.ended
        if ended:
            assert all(i >= len(original) - 64 for i in differ), (src, differ[:5])
        else:
            assert differ == [], src  # no EOS (no-eos.ss): identical


def test_csv_and_jsonl_fields(tmp_path):
    src = write(tmp_path / "in.ss", n=10)
    assert convert(src, tmp_path / "o.csv") == 0
    rows = list(csv.DictReader(open(tmp_path / "o.csv", newline="", encoding="utf-8")))
    assert len(rows) == 10
    assert rows[1]["payload"] == "text 1 é" and rows[1]["payload_base64"] == ""
    assert rows[0]["payload"] == "" and rows[0]["payload_base64"] == "AP8="
    assert rows[1]["timestamp"] == "2026-01-01T00:00:00.001Z"
    assert convert(src, tmp_path / "o.jsonl") == 0
    lines = [json.loads(x) for x in open(tmp_path / "o.jsonl", encoding="utf-8")]
    assert lines[1] == {
        "stream_key": "b",
        "shard_id": 1,
        "sequence": 1,
        "timestamp": "2026-01-01T00:00:00.001Z",
        "offset": lines[1]["offset"],
        "payload": "text 1 é",
    }
    assert lines[0]["payload_base64"] == "AP8="


def test_selection_options(tmp_path):
    src = write(tmp_path / "in.ss", n=600)
    out = tmp_path / "o.parquet"
    since, until = "2026-01-01T00:00:00.100Z", str(T0 + 400)
    assert (
        convert(src, out, "--stream", "a", "--shard", "0", "--since", since, "--until", until) == 0
    )
    t = pq.read_table(out)
    want = [m for m in messages(src) if m[0] == "a" and m[1] == 0 and T0 + 100 <= m[3] < T0 + 400]
    assert t.column("sequence").to_pylist() == [m[2] for m in want]
    assert convert(out, tmp_path / "x.ss", "--streams", "b") == 0
    assert messages(tmp_path / "x.ss") == []


def test_defaults_when_columns_are_missing(tmp_path):
    table = pa.table({"stream_key": ["k", "k", "j"], "payload": ["x", "y", "z"]})
    pq.write_table(table, tmp_path / "t.parquet")
    assert convert(tmp_path / "t.parquet", tmp_path / "o.ss") == 0
    got = messages(tmp_path / "o.ss")
    assert [(k, sh, seq, p) for k, sh, seq, _ts, p in got] == [
        ("k", 0, 1, b"x"),
        ("k", 0, 2, b"y"),
        ("j", 0, 1, b"z"),
    ]
    with ssfile.open(tmp_path / "o.ss") as r:
        assert r.header.file_name == "o.ss"


def _old(tmp_path):
    old = tmp_path / "out.ss"
    old.write_bytes(b"precious")
    return old


@pytest.mark.parametrize(
    "name, content, where",
    [
        ("bad.jsonl", b'{"stream_key": "a", "payload": "x"}\n\nnot json\n', "line 3: not JSON"),
        (
            "bad.jsonl",
            b'{"stream_key": "a", "payload": "x", "sequence": "7"}\n',
            "line 1: sequence",
        ),
        ("bad.jsonl", b'{"stream_key": "a", "payload": "\\ud800"}\n', "line 1: payload"),
        ("bad.jsonl", b'{"stream_key": "a"}\n', "line 1: no payload"),
        ("bad.jsonl", b"[1, 2]\n", "line 1: not a JSON object"),
        ("bad.jsonl", b'{"stream_key": "a", "payload": "\xff"}\n', "line 1: not valid UTF-8"),
        (
            "bad.jsonl",
            b'{"stream_key": "SEA_STREAMER_INTERNAL", "payload": "EOS"}\n',
            "line 1: the stream key SEA_STREAMER_INTERNAL is reserved",
        ),
        ("bad.jsonl", b'{"stream_key": "' + b"k" * 300 + b'", "payload": "x"}\n', "line 1:"),
    ],
)
def test_bad_lines_are_named_and_out_is_untouched(tmp_path, capsys, name, content, where):
    (tmp_path / name).write_bytes(content)
    old = _old(tmp_path)
    assert convert(tmp_path / name, old) == 1
    err = capsys.readouterr().err
    assert where in err and err.count("\n") == 1, err
    assert old.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == sorted([name, "out.ss"])  # no temporary left


@pytest.mark.parametrize(
    "table, where",
    [
        (pa.table({"stream_key": ["a"], "data": [b"x"]}), "no 'payload' column"),
        (pa.table({"payload": [b"x"]}), "no 'stream_key' column"),
        (
            pa.table({"stream_key": ["a", "b"], "payload": [b"x", b"y"], "sequence": ["1", "x"]}),
            "row 1: sequence '1' is not an integer",
        ),
        (
            pa.table({"stream_key": [b"ok", b"\xff"], "payload": [b"x", b"y"]}),
            "row 2: stream_key is not UTF-8",
        ),
        (pa.table({"stream_key": ["a", None], "payload": [b"x", b"y"]}), "row 2: stream_key None"),
        (
            pa.table({"stream_key": ["a"], "payload": [b"x"], "sequence": [-1]}),
            "row 1: sequence -1",
        ),
    ],
)
def test_bad_tables_are_named_and_out_is_untouched(tmp_path, capsys, table, where):
    pq.write_table(table, tmp_path / "t.parquet")
    old = _old(tmp_path)
    assert convert(tmp_path / "t.parquet", old) == 1
    err = capsys.readouterr().err
    assert where in err and err.count("\n") == 1, err
    assert old.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["out.ss", "t.parquet"]


def test_damaged_ss_input_leaves_out_untouched(tmp_path, capsys):
    src = write(tmp_path / "in.ss")
    data = bytearray(src.read_bytes())
    data[data.index(b"text 101")] ^= 0x20
    src.write_bytes(bytes(data))
    old = tmp_path / "out.parquet"
    old.write_bytes(b"precious")
    assert convert(src, old) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert old.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["in.ss", "out.parquet"]


def test_same_file_is_refused(tmp_path, capsys):
    src = write(tmp_path / "in.ss")
    pq.write_table(pa.table({"stream_key": ["a"], "payload": [b"x"]}), tmp_path / "t.parquet")
    os.link(tmp_path / "t.parquet", tmp_path / "hard.ss")
    before = (tmp_path / "t.parquet").read_bytes()
    assert convert(tmp_path / "t.parquet", tmp_path / "hard.ss") == 2
    assert "it is the same file as the input" in capsys.readouterr().err
    assert (tmp_path / "t.parquet").read_bytes() == before
    os.symlink(src, tmp_path / "link.jsonl")
    size = src.stat().st_size
    assert convert(src, tmp_path / "link.jsonl") == 2
    assert src.stat().st_size == size


def test_output_through_a_symlink_replaces_its_target(tmp_path):
    src = write(tmp_path / "in.ss", n=5)
    (tmp_path / "real.jsonl").write_text("old")
    os.chmod(tmp_path / "real.jsonl", 0o640)
    os.symlink("real.jsonl", tmp_path / "link.jsonl")
    assert convert(src, tmp_path / "link.jsonl") == 0
    assert os.path.islink(tmp_path / "link.jsonl")
    assert len((tmp_path / "real.jsonl").read_text().splitlines()) == 5
    assert os.stat(tmp_path / "real.jsonl").st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    "inp, out",
    [("a.ss", "b.ss"), ("a.ss", "b.txt"), ("a.csv", "b.ss"), ("a.parquet", "b.jsonl")],
)
def test_unsupported_directions_are_usage_errors(tmp_path, capsys, inp, out):
    assert convert(tmp_path / inp, tmp_path / out) == 2
    assert "cannot convert" in capsys.readouterr().err


def test_missing_input_is_a_usage_error(tmp_path, capsys):
    assert convert(tmp_path / "none.ss", tmp_path / "o.parquet") == 2
    assert "none.ss" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_interrupted_run_leaves_the_old_file(tmp_path):
    """SIGINT in the middle of a conversion: exit 130, OUT as it was, no temporary file."""
    src = write(tmp_path / "in.ss", n=200_000, interval=65536)
    old = tmp_path / "out.jsonl"
    old.write_text("precious")
    code = (
        "import os, signal, sys, threading\n"
        "from ssfile.export import outputs\n"
        "real = outputs._TextSink.write_batch\n"
        "def slow(self, batch):\n"
        "    real(self, batch)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "outputs._TextSink.write_batch = slow\n"
        "from ssfile.cli import main\n"
        f"sys.exit(main(['convert', {str(src)!r}, {str(old)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert old.read_text() == "precious"
    assert sorted(os.listdir(tmp_path)) == ["in.ss", "out.jsonl"]


def test_progress_bar_only_on_a_terminal(tmp_path, capsys):
    src = write(tmp_path / "in.ss", n=10)
    assert convert(src, tmp_path / "o.arrow") == 0
    assert capsys.readouterr().err == ""
