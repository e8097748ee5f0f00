"""A command line that fits people's habits: ``-`` for stdin/stdout, several files, progress
bars on a terminal only, shell completion, ``--help`` with a description and exit codes,
``relay`` of every stream of a file, ``--until`` with ``--since``."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios

import pytest

import ssfile
from ssfile.cli import COMMANDS, build_parser
from ssfile.cli.demo import START_MS, record

pytestmark = pytest.mark.timeout(120)
SSFILE = [sys.executable, "-m", "ssfile"]


def run(*argv: str, stdin: bytes | None = None, **kw) -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
    return subprocess.run([*SSFILE, *argv], input=stdin, capture_output=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("habits")
    a, b, bad, damaged = d / "a.ss", d / "b.ss", d / "bad.ss", d / "damaged.ss"
    with ssfile.open(a, "w") as w:
        for i in range(0, 10, 2):  # even ms
            w.write(f"a{i}".encode(), stream_key="k", timestamp=START_MS + i)
    with ssfile.open(b, "w") as w:
        for i in range(1, 10, 2):  # odd ms
            w.write(f"b{i}".encode(), stream_key="k", timestamp=START_MS + i)
    bad.write_bytes(b"not a recording at all")
    record(str(d / "clean.ss"), 3000)
    record(str(damaged), 3000)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    return {
        "a": str(a),
        "b": str(b),
        "bad": str(bad),
        "damaged": str(damaged),
        "clean": str(d / "clean.ss"),
        "dir": str(d),
    }


def payloads(out: bytes) -> list[str]:
    return [line.decode("utf-8", "replace") for line in out.splitlines()]


# ---- - means stdin (and stdout for encode) ---------------------------------------------------


def test_cat_reads_stdin_as_a_stream(files):
    got = run("cat", "-", "--format", "raw", stdin=open(files["a"], "rb").read())
    assert got.returncode == 0 and payloads(got.stdout) == ["a0", "a2", "a4", "a6", "a8"]


def test_cat_reads_stdin_through_a_copy_when_it_seeks(files):
    data = open(files["a"], "rb").read()
    got = run("cat", "-", "--format", "raw", "--since", str(START_MS + 4), stdin=data)
    assert got.returncode == 0 and payloads(got.stdout) == ["a4", "a6", "a8"]
    got = run(
        "cat",
        "-",
        "--on-damage",
        "skip",
        "--format",
        "raw",
        stdin=open(files["damaged"], "rb").read(),
    )
    assert got.returncode == 1 and b"<stdin>: skipped damaged bytes" in got.stderr
    assert b"ssfile-stdin" not in got.stderr  # the copy's name never shows


def test_view_says_it_needs_a_file():
    got = run("view", "-", "--no-browser", stdin=b"")
    assert got.returncode == 2 and b"cannot read stdin" in got.stderr


def test_cat_follow_on_stdin_is_refused(files):
    got = run("cat", "-", "--follow", stdin=b"")
    assert got.returncode == 2 and b"--follow needs a file" in got.stderr


def test_info_and_verify_read_stdin(files):
    data = open(files["a"], "rb").read()
    info = run("info", "-", "--json", stdin=data)
    assert info.returncode == 0
    doc = json.loads(info.stdout)
    assert doc["file"] == "<stdin>" and doc["messages"] == 5
    ver = run("verify", "-", stdin=data)
    assert ver.returncode == 0 and ver.stdout.startswith(b"<stdin>:\n")
    ver = run("verify", "-", stdin=open(files["damaged"], "rb").read())
    assert ver.returncode == 1


def test_stdin_that_is_not_a_recording_is_exit_2_with_one_line(files):
    for command in ("info", "verify", "cat"):
        got = run(command, "-", stdin=b"garbage bytes")
        assert got.returncode == 2, command
        assert got.stderr.count(b"\n") == 1 and b"Traceback" not in got.stderr


def test_repair_and_convert_read_stdin(files, tmp_path):
    out = tmp_path / "fixed.ss"
    got = run("repair", "-", "-o", str(out), stdin=open(files["damaged"], "rb").read())
    assert got.returncode == 3 and out.is_file()
    assert run("verify", str(out)).returncode == 0
    parquet = tmp_path / "a.parquet"
    got = run("convert", "-", str(parquet), stdin=open(files["a"], "rb").read())
    assert got.returncode == 0, got.stderr
    import pandas as pd

    assert list(pd.read_parquet(parquet)["payload"]) == [b"a0", b"a2", b"a4", b"a6", b"a8"]


def test_encode_dash_writes_to_stdout_and_pipes_into_cat(tmp_path):
    lines = b"[2026-01-01T00:00:00.001 | k] one\n[2026-01-01T00:00:00.002 | k] two\n"
    lines += b"[2026-01-01T00:00:00.003 | SEA_STREAMER_INTERNAL] EOS\n"
    enc = run("encode", "-", "--created-at", "2026-01-01T00:00:00Z", stdin=lines)
    assert enc.returncode == 0 and enc.stdout[:2] == b"Ss"
    assert not (tmp_path / "-").exists() and not os.path.exists("-")
    cat = run("cat", "-", "--format", "raw", stdin=enc.stdout)
    assert payloads(cat.stdout) == ["one", "two"]
    # the same bytes as a file written by encode
    target = tmp_path / "same.ss"
    ok = run(
        "encode",
        str(target),
        "--file-name",
        "stdout",
        "--created-at",
        "2026-01-01T00:00:00Z",
        stdin=lines,
    )
    assert ok.returncode == 0 and target.read_bytes() == enc.stdout


def test_encode_dash_stops_at_a_bad_line_keeping_what_came_before():
    enc = run("encode", "-", stdin=b"[k] one\n[k | notanumber] two\n")
    assert enc.returncode == 1 and b"line 2" in enc.stderr
    cat = run("cat", "-", "--format", "raw", stdin=enc.stdout)
    assert payloads(cat.stdout) == ["one"]  # no EOS, not torn
    assert cat.returncode == 0


def test_encode_dash_refuses_a_terminal(tmp_path):
    leader, follower = pty.openpty()
    try:
        got = subprocess.run(
            [*SSFILE, "encode", "-"],
            input=b"[k] x\n",
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert got.returncode == 2 and b"terminal" in got.stderr


# ---- several files ---------------------------------------------------------------------------


def test_cat_several_files_in_order_and_merged(files):
    got = run("cat", files["a"], files["b"], "--format", "raw")
    assert payloads(got.stdout) == ["a0", "a2", "a4", "a6", "a8", "b1", "b3", "b5", "b7", "b9"]
    got = run("cat", files["a"], files["b"], "--format", "raw", "--merge")
    assert payloads(got.stdout) == ["a0", "b1", "a2", "b3", "a4", "b5", "a6", "b7", "a8", "b9"]
    got = run("cat", files["a"], files["b"], "--format", "raw", "--merge", "--limit", "3")
    assert payloads(got.stdout) == ["a0", "b1", "a2"]
    got = run("cat", files["a"], files["b"], "--format", "raw", "--limit", "7")
    assert payloads(got.stdout) == ["a0", "a2", "a4", "a6", "a8", "b1", "b3"]
    # each file's own window: --until in the merge too
    got = run(
        "cat", files["b"], files["a"], "--format", "raw", "--merge", "--until", str(START_MS + 4)
    )
    assert payloads(got.stdout) == ["a0", "b1", "a2", "b3"]


def test_cat_merge_ties_keep_the_order_of_the_files(files):
    got = run("cat", files["a"], files["a"], "--format", "raw", "--merge", "--limit", "4")
    assert payloads(got.stdout) == ["a0", "a0", "a2", "a2"]


def test_cat_several_files_worst_exit_wins_and_goes_on(files):
    got = run("cat", files["bad"], files["a"], "--format", "raw")
    assert got.returncode == 2 and payloads(got.stdout) == ["a0", "a2", "a4", "a6", "a8"]
    assert files["bad"].encode() in got.stderr
    got = run("cat", files["damaged"], files["a"], "--on-damage", "skip", "--format", "raw")
    assert got.returncode == 1 and payloads(got.stdout)[-5:] == ["a0", "a2", "a4", "a6", "a8"]
    got = run("cat", files["a"], files["a"], "--follow")
    assert got.returncode == 2 and b"--follow takes one FILE" in got.stderr


def test_info_several_files(files):
    got = run("info", files["a"], files["b"], "--json")
    docs = [json.loads(line) for line in got.stdout.splitlines()]
    assert got.returncode == 0 and [d["messages"] for d in docs] == [5, 5]
    got = run("info", files["a"], files["damaged"], files["bad"], files["b"])
    assert got.returncode == 2  # bad: not a .ss file (2) beats damaged (1)
    assert got.stdout.count(b"file:  ") == 3 and b"\n\nfile:" in got.stdout
    assert files["bad"].encode() in got.stderr and got.stderr.count(b"\n") == 1
    got = run("info", files["a"], files["damaged"])
    assert got.returncode == 1


def test_verify_several_files(files):
    got = run("verify", files["a"], files["b"])
    assert got.returncode == 0
    assert f"{files['a']}:\n".encode() in got.stdout and f"{files['b']}:\n".encode() in got.stdout
    got = run("verify", files["a"], files["damaged"], "--json")
    docs = [json.loads(line) for line in got.stdout.splitlines()]
    assert got.returncode == 1 and [d["path"] for d in docs] == [files["a"], files["damaged"]]
    got = run("verify", files["damaged"], files["bad"], files["a"])
    assert got.returncode == 2
    got = run("verify", files["a"], os.path.join(files["dir"], "missing.ss"))
    assert got.returncode == 2 and b"missing.ss" in got.stderr


# ---- progress bars only on a terminal ---------------------------------------------------------


def on_terminal(argv: list[str]) -> tuple[int, bytes]:
    """Run with stderr on a pseudo-terminal; (exit code, what the terminal received)."""
    leader, follower = pty.openpty()
    # a terminal 80 columns wide (a new pty has 0: tqdm would draw nothing)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([*SSFILE, *argv], stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return proc.wait(timeout=60), seen


@pytest.mark.parametrize("command", ["verify", "repair", "convert", "relay", "info"], ids=str)
def test_progress_bar_on_a_terminal_only(files, tmp_path, command):
    src = files["damaged"] if command in ("verify", "repair", "info") else files["clean"]
    argv = {
        "verify": ["verify", src],
        "repair": ["repair", src, "-o", str(tmp_path / "r.ss"), "--force"],
        "convert": ["convert", src, str(tmp_path / "c.parquet")],
        "relay": [
            "relay",
            "--input",
            f"file://{src}",
            "--output",
            f"file://{tmp_path}/o.ss",
            "--no-follow",
        ],
        "info": ["info", src, "--progress"],  # info waits 0.5 s before showing: force it
    }[command]
    code, seen = on_terminal(argv)
    assert code in (0, 1, 3), seen
    assert b"\r" in seen and (b"B/s" in seen or b"msgs/s" in seen or b"it/s" in seen), seen
    code, seen = on_terminal(
        [*argv, "--no-progress"] if command != "info" else [*argv[:-1], "--no-progress"]
    )
    assert code in (0, 1, 3)
    assert b"/s" not in seen and b"\r" not in seen, seen
    # not a terminal: no bar, stderr stays clean for errors
    got = run(*[a for a in argv if a != "--progress"])
    assert b"/s]" not in got.stderr and b"\r" not in got.stderr


# ---- completion -------------------------------------------------------------------------------


def complete(script: str, *words: str, cwd: str) -> list[str]:
    bash = shutil.which("bash")
    assert bash, "bash is needed to test the completion script"
    words_q = " ".join(f"'{w}'" for w in words)
    prog = (
        f"{script}\nCOMP_WORDS=({words_q}); COMP_CWORD={len(words) - 1}; COMPREPLY=(); _ssfile; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run([bash, "-c", prog], capture_output=True, text=True, cwd=cwd, check=True)
    return [w for w in out.stdout.splitlines() if w]


def test_bash_completion(files):
    got = run("completion", "bash")
    assert got.returncode == 0
    script = got.stdout.decode()
    assert "complete -o filenames -F _ssfile ssfile" in script
    cwd = files["dir"]
    assert complete(script, "ssfile", "ve", cwd=cwd) == ["verify"]
    assert set(complete(script, "ssfile", "", cwd=cwd)) >= set(COMMANDS)
    assert complete(script, "ssfile", "cat", "--fo", cwd=cwd) == ["--format", "--follow"]
    assert complete(script, "ssfile", "cat", "--format", "", cwd=cwd) == ["log", "ndjson", "raw"]
    assert complete(script, "ssfile", "info", "a", cwd=cwd) == ["a.ss"]  # files
    assert complete(script, "ssfile", "cat", "--since", "", cwd=cwd) == []  # a time: nothing
    assert complete(script, "ssfile", "completion", "", cwd=cwd) == ["bash", "zsh"]
    assert complete(script, "ssfile", "verify", "--no-p", cwd=cwd) == ["--no-progress"]


def test_zsh_completion_uses_the_same_function():
    got = run("completion", "zsh")
    assert got.returncode == 0
    script = got.stdout.decode()
    assert script.startswith("#compdef ssfile\nautoload -U +X bashcompinit && bashcompinit\n")
    assert "_ssfile()" in script and "complete -o filenames -F _ssfile ssfile" in script


def test_completion_needs_a_known_shell():
    got = run("completion", "fish")
    assert got.returncode == 2 and b"invalid choice" in got.stderr


# ---- --help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_has_a_description_and_exit_codes(name):
    parser = build_parser([name])
    sub = next(a for a in parser._actions if a.choices and name in a.choices).choices[name]
    assert sub.description, f"{name} --help has no description"
    text = sub.format_help()
    assert "exit status:" in text, f"{name} --help does not give its exit codes"
    assert "130" in text or name == "completion", f"{name}: Ctrl-C's exit code"


def test_until_wherever_since_is():
    for name in COMMANDS:
        parser = build_parser([name])
        sub = next(a for a in parser._actions if a.choices and name in a.choices).choices[name]
        options = {o for a in sub._actions for o in a.option_strings}
        if "--since" in options or "--offset" in options:
            assert "--until" in options, name


# ---- relay every stream of a file ------------------------------------------------------------


def test_relay_a_file_without_a_key_relays_every_stream(tmp_path):
    src, dst = tmp_path / "src.ss", tmp_path / "dst.ss"
    record(str(src), 500)
    got = run(
        "relay",
        "--input",
        f"file://{src}",
        "--output",
        f"file://{dst}",
        "--no-follow",
        "--keep-headers",
    )
    assert got.returncode == 0, got.stderr
    with ssfile.open(src) as r:
        want = [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]
    with ssfile.open(dst) as r:
        have = [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]
        assert r.ended
    assert have == want and {k for k, *_ in have} == {"clock", "orders", "sensors"}


def test_relay_until_stops_before_t(tmp_path):
    src, dst = tmp_path / "src.ss", tmp_path / "dst.ss"
    record(str(src), 500)
    got = run(
        "relay",
        "--input",
        f"file://{src}",
        "--output",
        f"file://{dst}",
        "--no-follow",
        "--keep-headers",
        "--until",
        str(START_MS + 1000),
    )
    assert got.returncode == 0, got.stderr
    with ssfile.open(dst) as r:
        stamps = [m.timestamp_ms for m in r]
        assert not r.ended  # stopped early, like --count: no EOS
    assert stamps == list(range(START_MS, START_MS + 1000, 50))


def test_relay_from_stdio_still_needs_a_key():
    got = run("relay", "--input", "stdio:///", "--output", "stdio:///x", stdin=b"")
    assert got.returncode == 2 and b"names no stream key" in got.stderr


def test_python_warnings_are_one_line_like_every_other(tmp_path):
    """A Python warning in a command (e.g. a producer still holding messages at exit) is one
    line naming the command, not ``file:line: RuntimeWarning:`` and a source line."""
    path = tmp_path / "w.ss"
    with ssfile.open(path, "w") as w:
        w.write(b"x", stream_key="s")
    script = (
        "import atexit, sys, warnings\n"
        "atexit.register(lambda: warnings.warn('held 5 messages', RuntimeWarning))\n"
        f"sys.argv = ['ssfile', 'info', {str(path)!r}]\n"
        "from ssfile.cli import entry\n"
        "entry()\n"
    )
    got = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert got.returncode == 0
    assert got.stderr == "ssfile info: warning: held 5 messages\n", got.stderr
