"""``ssfile encode``: byte equality with upstream's writer, defaults, and every error path."""

from __future__ import annotations

import io
import sys
import time

import pytest

import ssfile
from ssfile.cli import main
from ssfile.codec.events import EndOfStream
from ssfile.lines import format_line
from ssfile.types import Message, format_timestamp

GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]


def encode(capsys, out, lines: bytes, *options: str) -> tuple[int, str]:
    source = out.parent / (out.name + ".in")
    source.write_bytes(lines)
    code = main(["encode", str(out), "--input", str(source), *options])
    return code, capsys.readouterr().err


def read(path):
    with ssfile.open(path) as r:
        return r.header, list(r), r.ended


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_reencoded_from_lines_byte_for_byte(golden_dir, tmp_path, capsys, name):
    # every golden payload is line-safe (UTF-8, no newline, no leading whitespace); the EOS,
    # when there is one, is an ordinary line carrying its original timestamp
    with ssfile.open(golden_dir / f"{name}.ss") as r:
        header = r.header
        msgs = [
            ev.message if isinstance(ev, EndOfStream) else ev
            for ev in r.events()
            if isinstance(ev, (Message, EndOfStream))
        ]
    text = "".join(
        format_line(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) + "\n"
        for m in msgs
    )
    out = tmp_path / "out.ss"
    code, err = encode(
        capsys,
        out,
        text.encode(),
        "--file-name",
        header.file_name,
        "--created-at",
        format_timestamp(header.created_at_ms),
        "--beacon-interval",
        str(header.beacon_interval),
        "--no-eos",
    )
    assert (code, err) == (0, "")
    assert out.read_bytes() == (golden_dir / f"{name}.ss").read_bytes()


def test_defaults_key_shard_sequence_time_and_eos(tmp_path, capsys):
    out = tmp_path / "d.ss"
    before = time.time_ns() // 1_000_000
    code, err = encode(
        capsys, out, b"raw one\n[a] x\n[a | 5] y\n[a] z\n[a | 2 | 1] w\n[a | 1] v\n[@1000 | b] u\n"
    )
    after = time.time_ns() // 1_000_000
    assert (code, err) == (0, "")
    header, msgs, ended = read(out)
    assert ended and header.file_name == "d.ss" and header.beacon_interval == 1_048_576
    got = [(m.stream_key, m.shard_id, m.sequence, m.payload) for m in msgs]
    assert got == [
        ("broadcast", 0, 1, b"raw one"),
        ("a", 0, 1, b"x"),
        ("a", 0, 5, b"y"),
        ("a", 0, 6, b"z"),
        ("a", 1, 2, b"w"),
        ("a", 0, 1, b"v"),
        ("b", 0, 1, b"u"),
    ]
    assert all(before <= m.timestamp_ms <= after for m in msgs[:-1])
    assert msgs[-1].timestamp_ms == 1000
    assert before <= header.created_at_ms <= after


def test_line_end_lf_or_crlf_stripped_other_carriage_returns_kept(tmp_path, capsys):
    out = tmp_path / "cr.ss"
    assert encode(capsys, out, b"[k] a\r\n[k]\r\n\n[k] b\r\r\n[k] c\rd\n[k] last\r")[0] == 0
    assert [m.payload for m in read(out)[1]] == [b"a", b"", b"", b"b\r", b"c\rd", b"last\r"]


def test_header_options_and_no_eos(tmp_path, capsys):
    out = tmp_path / "h.ss"
    code, _ = encode(
        capsys,
        out,
        b"[k] x\n",
        "--no-eos",
        "--file-name",
        "n\u00e9",
        "--created-at",
        "2024-05-01T10:00:00+02:00",
        "--beacon-interval",
        "128",
    )
    header, msgs, ended = read(out)
    assert code == 0 and not ended and len(msgs) == 1
    assert (header.file_name, header.beacon_interval) == ("n\u00e9", 128)
    assert format_timestamp(header.created_at_ms) == "2024-05-01T08:00:00.0"


def test_created_at_epoch_ms(tmp_path, capsys):
    out = tmp_path / "e.ss"
    assert encode(capsys, out, b"", "--created-at", "1691686154742")[0] == 0
    header, msgs, ended = read(out)
    assert header.created_at_ms == 1_691_686_154_742 and msgs == [] and ended


def test_stdin_is_the_default_input(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"[k | 3] from stdin\n")))
    out = tmp_path / "s.ss"
    assert main(["encode", str(out)]) == 0
    assert [(m.sequence, m.payload) for m in read(out)[1]] == [(3, b"from stdin")]


@pytest.mark.parametrize(
    "lines, line_no, reason",
    [
        (b"[k] a\n[k] b\n[k | x] c\n[k] d\n", 3, "expected a sequence number"),
        (b"[k] a\n[a||1] b\n", 2, "empty part 2"),
        (b"[k] a\n[k] \xff\n", 2, "not valid UTF-8"),
        (b"[k] a\n[1969-01-01T00:00:00] b\n", 2, "outside 1970-01-01"),
    ],
)
def test_invalid_line_keeps_earlier_messages_without_eos(tmp_path, capsys, lines, line_no, reason):
    out = tmp_path / "bad.ss"
    code, err = encode(capsys, out, lines)
    assert code == 1
    assert err.startswith(f"ssfile encode: error: {out}: line {line_no}: ") and reason in err
    assert err.count("\n") == 1 and "Traceback" not in err
    header, msgs, ended = read(out)
    assert len(msgs) == line_no - 1 and not ended


def test_eos_line_ends_the_file(tmp_path, capsys):
    out = tmp_path / "eos.ss"
    code, err = encode(capsys, out, b"[k] a\n[@5 | SEA_STREAMER_INTERNAL | 0 | 0] EOS\n")
    assert (code, err) == (0, "")
    header, msgs, ended = read(out)
    assert ended and [m.payload for m in msgs] == [b"a"]
    with open(out, "rb") as f:
        assert f.read()[-56:-34].endswith(b"SEA_STREAMER_INTERNAL")  # only one EOS frame (56 bytes)
    with ssfile.open(out) as r:
        assert len([ev for ev in r.events() if isinstance(ev, EndOfStream)]) == 1


def test_line_after_eos_is_an_error(tmp_path, capsys):
    out = tmp_path / "after.ss"
    code, err = encode(capsys, out, b"[SEA_STREAMER_INTERNAL] EOS\n[k] late\n")
    assert code == 1 and "line 2: input continues after the end-of-stream message on line 1" in err
    assert read(out)[2]


@pytest.mark.parametrize(
    "options, reason",
    [
        (["--beacon-interval", "127"], "--beacon-interval 127 must be between"),
        (["--file-name", "x" * 112], "longer than 111"),
        (["--created-at", "yesterday"], "invalid time"),
    ],
)
def test_bad_options_exit_2_before_writing(tmp_path, capsys, options, reason):
    out = tmp_path / "never.ss"
    code, err = encode(capsys, out, b"[k] a\n", *options)
    assert code == 2 and reason in err and err.count("\n") == 1
    assert not out.exists()


def test_missing_input_exits_2(tmp_path, capsys):
    out = tmp_path / "never.ss"
    code = main(["encode", str(out), "--input", str(tmp_path / "nope.txt")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.txt" in err and not out.exists()
