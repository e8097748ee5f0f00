"""``ssfile filter|cut|merge|split|concat``: outputs that upstream's decoder reads as the
input's own messages, the report, exit codes, damaged inputs, refused outputs."""

from __future__ import annotations

import json
import os
import re

import pytest

import ssfile
from ssfile.cli import main
from ssfile.timefmt import parse_upstream

T0 = 1_700_000_000_000


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def message_lines(log: bytes) -> list[bytes]:
    """The data message lines of ``ss-decode`` output (no header, beacons or EOS)."""
    return [
        line
        for line in log.splitlines()
        if line.startswith(b"[") and b"| SEA_STREAMER_INTERNAL |" not in line
    ]


def decoded(capsysbinary, path) -> list[bytes]:
    assert main(["decode", str(path)]) == 0
    out, err = capsysbinary.readouterr()
    assert err == b""
    return message_lines(out)


def golden_lines(golden_dir, name) -> list[bytes]:
    return message_lines((golden_dir / f"{name}.decode.log").read_bytes())


def fields(line: bytes):
    head, _, payload = line.partition(b"] ")
    ts, key, seq, shard = (x.strip() for x in head[1:].split(b"|"))
    return ts.decode(), key.decode(), int(seq), int(shard), payload


# ---- against upstream's decoding of the golden files ------------------------------------------


def test_filter_golden_by_stream_and_json(golden_dir, tmp_path, capsysbinary):
    out = tmp_path / "alpha.ss"
    code = main(
        [
            "filter",
            str(golden_dir / "multi-stream.ss"),
            "-o",
            str(out),
            "--stream",
            "al*",
            "--shard",
            "1",
            "--json-filter",
            "i > 100 and i < 2000",
        ]
    )
    capsysbinary.readouterr()
    assert code == 0
    want = [
        line
        for line in golden_lines(golden_dir, "multi-stream")
        if fields(line)[1] == "alpha"
        and fields(line)[3] == 1
        and 100 < json.loads(fields(line)[4])["i"] < 2000
    ]
    assert 10 < len(want) < 750
    assert decoded(capsysbinary, out) == want
    assert ssfile.verify(out).clean


@pytest.mark.parametrize("name", ["multi-stream", "long-payloads", "no-eos", "consumer"])
def test_split_then_concat_golden_gives_upstreams_lines(golden_dir, tmp_path, capsysbinary, name):
    src = golden_dir / f"{name}.ss"
    assert main(["split", str(src), "-o", str(tmp_path / "p-{n:03}.ss"), "--count", "77"]) == 0
    capsysbinary.readouterr()
    pieces = sorted(str(p) for p in tmp_path.glob("p-*.ss"))
    want = golden_lines(golden_dir, name)
    assert len(pieces) == -(-len(want) // 77)
    for piece in pieces:
        assert ssfile.verify(piece).clean
    assert main(["concat", *pieces, "-o", str(tmp_path / "all.ss")]) == 0
    capsysbinary.readouterr()
    assert decoded(capsysbinary, tmp_path / "all.ss") == want


def test_cut_golden_by_time(golden_dir, tmp_path, capsysbinary):
    lines = golden_lines(golden_dir, "multi-stream")
    times = sorted({parse_upstream(fields(line)[0]) for line in lines})
    since, until = times[1], times[2]
    out = tmp_path / "cut.ss"
    code = main(
        ["cut", str(golden_dir / "multi-stream.ss"), "--since", str(since), "--until", str(until)]
        + ["-o", str(out)]
    )
    capsysbinary.readouterr()
    assert code == 0
    want = [line for line in lines if since <= parse_upstream(fields(line)[0]) < until]
    assert want and decoded(capsysbinary, out) == want


def test_merge_golden_by_stream_pieces(golden_dir, tmp_path, capsysbinary):
    """Split by stream, merge back: the same messages, each stream in its order, by time."""
    src = golden_dir / "multi-stream.ss"
    assert main(["split", str(src), "-o", str(tmp_path / "s-{stream}.ss"), "--by-stream"]) == 0
    capsysbinary.readouterr()
    pieces = [str(tmp_path / f"s-{k}.ss") for k in ("alpha", "beta", "gamma", "delta")]
    assert main(["merge", *pieces, "-o", str(tmp_path / "m.ss")]) == 0
    capsysbinary.readouterr()
    got = decoded(capsysbinary, tmp_path / "m.ss")
    want = golden_lines(golden_dir, "multi-stream")
    order = {"alpha": 0, "beta": 1, "gamma": 2, "delta": 3}
    indexed = sorted(
        enumerate(want),
        key=lambda t: (parse_upstream(fields(t[1])[0]), order[fields(t[1])[1]], t[0]),
    )
    assert got == [line for _, line in indexed]


# ---- reports and exit codes ---------------------------------------------------------------------


def write(path, msgs, interval=256):
    with ssfile.open(path, "w", beacon_interval=interval, created_at=T0) as w:
        for key, shard, seq, ts, payload in msgs:
            w.write(payload, stream_key=key, shard_id=shard, sequence=seq, timestamp=ts)
    return str(path)


def test_json_summary(tmp_path, capsys):
    src = write(tmp_path / "in.ss", [(k, 0, i, T0 + i, b"x") for i in range(4) for k in "ab"])
    code, out, err = run(
        capsys, "filter", src, "-o", str(tmp_path / "o.ss"), "--stream", "a", "--json"
    )
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report == {
        "command": "filter",
        "inputs": [src],
        "outputs": [{"path": str(tmp_path / "o.ss"), "messages": 4}],
        "messages_read": 8,
        "messages_written": 4,
        "streams": [
            {"stream": "a", "shard": 0, "read": 4, "written": 4},
            {"stream": "b", "shard": 0, "read": 4, "written": 0},
        ],
        "renumbered": 0,
        "deduplicated": 0,
        "damage": [],
        "warnings": [],
    }
    code, out, _ = run(capsys, "filter", src, "-o", str(tmp_path / "o.ss"), "--exclude-stream", "a")
    assert code == 0 and out.splitlines()[0] == (
        "filter: 8 messages read from 1 input(s), 4 written to 1 file"
    )


def test_merge_conflict_exit_codes_and_warnings(tmp_path, capsys):
    a = write(tmp_path / "a.ss", [("k", 0, 1, T0, b"1"), ("k", 0, 2, T0 + 2, b"2")])
    b = write(tmp_path / "b.ss", [("k", 0, 1, T0 + 1, b"1")])
    out = str(tmp_path / "m.ss")
    code, _, err = run(capsys, "merge", a, b, "-o", out)
    assert code == 2 and not os.path.exists(out)
    assert err == (
        f"ssfile merge: error: stream 'k' shard 0 is in both {a} and {b}: choose how to "
        "merge it with --on-conflict renumber, keep or dedupe\n"
    )
    code, stdout, err = run(capsys, "merge", a, b, "-o", out, "--on-conflict", "keep")
    assert code == 0 and err == (
        f"ssfile merge: warning: stream 'k' shard 0 is in both {a} and {b}: kept both "
        "(its sequences may repeat)\n"
    )
    code, stdout, err = run(capsys, "merge", a, b, "-o", out, "--on-conflict", "renumber")
    assert (code, err) == (0, "") and "renumbered 2 messages" in stdout
    with ssfile.open(out) as r:
        assert [(m.sequence, m.payload) for m in r] == [(1, b"1"), (2, b"1"), (3, b"2")]


@pytest.mark.parametrize(
    "argv, text",
    [
        (["filter", "{in}", "-o", "{in}"], "refusing to write {in}: it is the input"),
        (["cut", "{in}", "-o", "{dir}/o.ss"], "give --since, --until or both"),
        (["filter", "{dir}/nope.ss", "-o", "{dir}/o.ss"], "No such file or directory"),
        (["filter", "{dir}/junk", "-o", "{dir}/o.ss"], "not a .ss file"),
        (["filter", "{dir}", "-o", "{dir}/o.ss"], "is a directory"),
        (["filter", "{in}", "-o", "{dir}/o.ss", "--from-seq", "1"], "exactly one --stream"),
        (["filter", "{in}", "-o", "{dir}/o.ss", "--json-filter", "a =="], "column 5"),
        (["split", "{in}", "-o", "{dir}/p.ss", "--count", "1"], "must contain {n}"),
        (["split", "{in}", "-o", "{dir}/p{n}.ss"], "one of the arguments"),
        (["split", "{in}", "-o", "{dir}/p{n}.ss", "--every", "10"], "invalid duration"),
        (["split", "{in}", "-o", "{dir}/p{n}.ss", "--size", "lots"], "invalid size"),
        (["merge", "{in}", "-o", "{dir}/o.ss", "--beacon-interval", "12"], "between 128"),
        (["concat", "{in}", "-o", "{dir}/l.ss"], "refusing to write {dir}/l.ss: it is the same"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(tmp_path, capsys, argv, text):
    src = write(tmp_path / "in.ss", [("k", 0, 1, T0, b"x")])
    (tmp_path / "junk").write_bytes(b"this is not a recording at all" * 10)
    os.symlink(src, tmp_path / "l.ss")
    before = sorted(os.listdir(tmp_path))

    def fill(text):
        return text.replace("{in}", src).replace("{dir}", str(tmp_path))

    try:
        code = main([fill(a) for a in argv])
    except SystemExit as done:  # argparse: a bad option value
        code = done.code
    _, err = capsys.readouterr()
    assert code == 2
    assert fill(text) in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == before


def damaged(tmp_path):
    msgs = [(("a", "b")[i % 2], 0, i + 1, T0 + i, b"payload %d" % i) for i in range(300)]
    src = write(tmp_path / "in.ss", msgs, 1024)
    data = bytearray(open(src, "rb").read())
    data[3000:3040] = bytes(40)
    open(src, "wb").write(bytes(data))
    return src


@pytest.mark.parametrize("command", ["filter", "cut", "merge", "concat", "split"])
def test_on_damage_skip_reports_each_range_and_exits_1(tmp_path, capsys, command):
    src = damaged(tmp_path)
    out = str(tmp_path / ("o{n}.ss" if command == "split" else "o.ss"))
    extra = {"cut": ["--since", "0"], "split": ["--count", "1000"]}.get(command, [])
    code, _, err = run(capsys, command, src, "-o", out, *extra)
    assert code == 1 and re.fullmatch(
        rf"ssfile {command}: error: {re.escape(src)}: .* at offset \d+\n", err
    )
    assert sorted(os.listdir(tmp_path)) == ["in.ss"]
    code, stdout, err = run(
        capsys, command, src, "-o", out, *extra, "--on-damage", "skip", "--json"
    )
    assert code == 1
    (line,) = err.splitlines()
    assert re.fullmatch(
        rf"ssfile {command}: {re.escape(src)}: skipped damaged bytes at offset (\d+)\.\.(\d+) "
        r"\(\d+ bytes\): .+",
        line,
    )
    report = json.loads(stdout)
    (damage,) = report["damage"]
    assert f"offset {damage['offset']}..{damage['offset'] + damage['length']}" in line
    with ssfile.open(src, on_damage="skip") as r, pytest.warns(ssfile.DamageWarning):
        intact = list(r)
    written = report["outputs"][0]["path"]
    with ssfile.open(written) as r:
        assert list(r) == intact and report["messages_written"] == len(intact)
