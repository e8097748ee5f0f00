"""``ssfile decode``: golden conformance with upstream ss-decode, and every error path."""

from __future__ import annotations

import io
import sys

import pytest

import ssfile
from ssfile.cli import main

GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]
OUTPUTS = {  # golden suffix -> our arguments
    "decode.log": [],
    "decode.ndjson": ["--format", "ndjson"],
    "header-only.log": ["--header-only"],
}


def decode(capsysbinary, *argv: str) -> tuple[int, bytes, bytes]:
    code = main(["decode", *argv])
    out, err = capsysbinary.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", GOLDEN)
@pytest.mark.parametrize("suffix", sorted(OUTPUTS))
def test_golden_output_is_byte_identical(golden_dir, capsysbinary, name, suffix):
    expected = (golden_dir / f"{name}.{suffix}").read_bytes()
    code, out, err = decode(capsysbinary, str(golden_dir / f"{name}.ss"), *OUTPUTS[suffix])
    assert (code, err) == (0, b"")
    assert out == expected


def test_file_option_and_stdin_give_the_same_output(golden_dir, capsysbinary, monkeypatch):
    path = golden_dir / "consumer.ss"
    expected = (golden_dir / "consumer.decode.log").read_bytes()
    assert decode(capsysbinary, "--file", str(path)) == (0, expected, b"")
    fake_stdin = io.TextIOWrapper(io.BytesIO(path.read_bytes()))
    monkeypatch.setattr(sys, "stdin", fake_stdin)
    assert decode(capsysbinary, "-") == (0, expected, b"")


@pytest.mark.parametrize("name", GOLDEN)
def test_ndjson_header_only_prints_null_payloads(golden_dir, capsysbinary, name):
    # upstream serialises payload: Option<Value> = None as null; derive from the full output
    expected = []
    for line in (golden_dir / f"{name}.decode.ndjson").read_bytes().splitlines(keepends=True):
        if line.startswith(b"{"):
            line = line[: line.index(b'},"payload":')] + b'},"payload":null}\n'
        expected.append(line)
    code, out, err = decode(
        capsysbinary, str(golden_dir / f"{name}.ss"), "--format", "ndjson", "--header-only"
    )
    assert (code, out, err) == (0, b"".join(expected), b"")


def test_bytes_after_eos_are_ignored(golden_dir, tmp_path, capsysbinary):
    path = tmp_path / "tail.ss"
    path.write_bytes((golden_dir / "consumer.ss").read_bytes() + b"garbage after the end")
    code, out, err = decode(capsysbinary, str(path))
    assert (code, out, err) == (0, (golden_dir / "consumer.decode.log").read_bytes(), b"")


def test_interval_128_prints_the_empty_beacon_after_the_first_message(tmp_path, capsysbinary):
    # with I = 128 an empty beacon sits right after the header; upstream reads it while
    # reading the first frame, so "# []" follows the first message line
    path = tmp_path / "i128.ss"
    with ssfile.open(path, "w", beacon_interval=128, created_at=0) as w:
        w.write(b"one", stream_key="k", timestamp=0)
        w.write(b"two", stream_key="k", timestamp=0)
    code, out, _ = decode(capsysbinary, str(path))
    lines = out.decode().splitlines()
    assert code == 0
    assert lines[1:4] == [
        "[1970-01-01T00:00:00.0 | k | 1 | 0] one",
        "# []",
        "[1970-01-01T00:00:00.0 | k | 2 | 0] two",
    ]


# ---- errors ----------------------------------------------------------------------------------
# consumer.ss frames are 44 bytes for hello-0..9 and start at 128 (notes §13.2), so frame
# seq 2 is [216, 260): key length at 216, key at 217, timestamp at 238, payload at 250.

FRAME2 = 216


def damaged(golden_dir, tmp_path, edit) -> str:
    data = bytearray((golden_dir / "consumer.ss").read_bytes())
    result = edit(data)
    data = data if result is None else result
    path = tmp_path / "damaged.ss"
    path.write_bytes(bytes(data))
    return str(path)


def first_lines(golden_dir, n: int) -> bytes:
    lines = (golden_dir / "consumer.decode.log").read_bytes().splitlines(keepends=True)
    return b"".join(lines[:n])


def flip(at: int):
    def edit(data: bytearray) -> None:
        data[at] ^= 0x01

    return edit


@pytest.mark.parametrize(
    "edit, code, reason",
    [
        (flip(FRAME2 + 34), 1, "checksum mismatch"),
        (lambda d: d.__setitem__(FRAME2 + 1, ord("!")), 1, "invalid stream key '!ello'"),
        (
            lambda d: d.__setitem__(slice(FRAME2 + 22, FRAME2 + 30), b"\xff" * 8),
            1,
            "timestamp 18446744073709551615 out of range",
        ),
        (lambda d: d[: FRAME2 + 10], 1, "truncated message frame"),
    ],
)
def test_data_errors_exit_1_after_printing_what_came_before(
    golden_dir, tmp_path, capsysbinary, edit, code, reason
):
    path = damaged(golden_dir, tmp_path, edit)
    got, out, err = decode(capsysbinary, path)
    assert got == code
    assert out == first_lines(golden_dir, 3)  # header + seq 0 + seq 1
    assert err.startswith(f"ssfile decode: error: {path}: ".encode())
    assert err.endswith(f"at offset {FRAME2}\n".encode()) and reason.encode() in err
    assert err.count(b"\n") == 1


def test_clean_end_after_a_whole_frame_is_success(golden_dir, tmp_path, capsysbinary):
    path = damaged(golden_dir, tmp_path, lambda d: d[:FRAME2])
    assert decode(capsysbinary, path) == (0, first_lines(golden_dir, 3), b"")


@pytest.mark.parametrize(
    "edit, reason",
    [
        (
            lambda d: d.__setitem__(0, 0),
            "not a .ss file: bad magic b'\\x00s' (expected b'Ss') at offset 0",
        ),
        (lambda d: d.__setitem__(2, 2), "unsupported format version 2 (expected 1) at offset 2"),
        (lambda d: d[:50], "truncated header"),
        (lambda d: b"", "too short for a header"),
    ],
)
def test_not_an_ss_file_exits_2_printing_nothing(golden_dir, tmp_path, capsysbinary, edit, reason):
    path = damaged(golden_dir, tmp_path, edit)
    code, out, err = decode(capsysbinary, path)
    assert (code, out) == (2, b"")
    assert err.startswith(f"ssfile decode: error: {path}: ".encode()) and reason.encode() in err
    assert err.count(b"\n") == 1


@pytest.mark.parametrize(
    "argv, reason",
    [
        ([], b"a FILE to decode is required"),
        (["a.ss", "--file", "b.ss"], b"give FILE or --file FILE, not both"),
        (["/nonexistent/x.ss"], b"/nonexistent/x.ss: No such file or directory"),
    ],
)
def test_usage_errors_exit_2(capsysbinary, argv, reason):
    code, out, err = decode(capsysbinary, *argv)
    assert (code, out) == (2, b"")
    assert err == b"ssfile decode: error: " + reason + b"\n"


def test_unknown_format_is_a_usage_error(capsysbinary, golden_dir):
    with pytest.raises(SystemExit) as info:
        main(["decode", str(golden_dir / "consumer.ss"), "--format", "yaml"])
    assert info.value.code == 2
    assert b"invalid choice: 'yaml'" in capsysbinary.readouterr().err
