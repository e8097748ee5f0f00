"""Commands never write over their own input, write new files atomically, and turn hostile
small inputs into clear errors (issue 12, items 2 and 8)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import ssfile
from ssfile.adapters.stdio import StdioStreamer
from ssfile.cli import main
from ssfile.file.output import NewFile
from ssfile.lines import LineError
from ssfile.types import MAX_U64

SSFILE = [sys.executable, "-m", "ssfile"]


def record(path, n: int = 50, *, eos: bool = True) -> bytes:
    with ssfile.open(path, "w", beacon_interval=256, eos=eos, created_at=1_000) as w:
        for i in range(n):
            w.write(b"payload %d" % i, stream_key=("a", "b")[i % 2], timestamp=2_000 + i)
    return path.read_bytes()


def payloads(path) -> list[tuple[str, int, bytes]]:
    with ssfile.open(path) as r:
        return [(m.stream_key, m.sequence, m.payload) for m in r]


def cli(*args: str, **kw) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    kw.setdefault("timeout", 60)
    return subprocess.run([*SSFILE, *args], capture_output=True, **kw)


def temporaries(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def one_error_line(err: bytes | str) -> str:
    text = err.decode() if isinstance(err, bytes) else err
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


# ---- item 2: never over one's own input ------------------------------------------------------


@pytest.fixture()
def rec(tmp_path):
    path = tmp_path / "g.ss"
    before = record(path)
    os.symlink(path, tmp_path / "sym.ss")
    os.link(path, tmp_path / "hard.ss")
    return path, before


def test_encode_refuses_its_input_through_any_name(rec, capsys):
    path, before = rec
    d = path.parent
    for out, inp in [(path, path), (d / "sym.ss", path), (d / "hard.ss", d / "sym.ss")]:
        assert main(["encode", str(out), "--input", str(inp)]) == 2
        err = one_error_line(capsys.readouterr().err)
        assert f"refusing to write {out}" in err
    assert path.read_bytes() == before and temporaries(d) == []


def test_encode_refuses_stdin_that_is_the_output(rec):
    path, before = rec
    with open(path, "rb") as stdin:
        got = cli("encode", str(path.parent / "sym.ss"), stdin=stdin)
    assert got.returncode == 2 and b"<stdin>" in got.stderr
    one_error_line(got.stderr)
    assert path.read_bytes() == before


def late(args: list[str]) -> subprocess.Popen:  # type: ignore[type-arg]
    """The left side of a pipeline that starts reading after the right side has started
    (and, before the fix, had already truncated the file)."""
    return subprocess.Popen(
        ["bash", "-c", 'sleep 1; exec "$@"', "late", *args], stdout=subprocess.PIPE
    )


def test_decode_piped_into_encode_of_the_same_file_loses_nothing(tmp_path):
    # encode cannot see that its stdin pipe comes from the same file: the new file is written
    # beside it and renamed over it at the end, so decode reads the old file whole
    path = tmp_path / "g.ss"
    with ssfile.open(path, "w", beacon_interval=256, eos=False) as w:
        for i in range(3000):
            w.write(b"payload %d" % i, stream_key="k", timestamp=2_000 + i)
    before = payloads(path)
    decode = late([*SSFILE, "decode", str(path)])
    encode = subprocess.run(
        [*SSFILE, "encode", str(path), "--no-eos"],
        stdin=decode.stdout,
        capture_output=True,
        timeout=60,
    )
    decode.stdout.close()
    assert decode.wait(timeout=60) == 0 and encode.returncode == 0, encode.stderr
    # every message is still there (decode's header line became one more, raw-line message)
    assert [m for m in payloads(path) if m[0] == "k"] == before
    assert temporaries(tmp_path) == []


def test_cat_piped_into_encode_of_the_same_file_replaces_it_whole(tmp_path):
    path = tmp_path / "g.ss"
    record(path, 2000, eos=False)
    before = payloads(path)
    cat = late([*SSFILE, "cat", str(path), "--format", "raw"])
    encode = subprocess.run(
        [*SSFILE, "encode", str(path)], stdin=cat.stdout, capture_output=True, timeout=60
    )
    cat.stdout.close()
    assert cat.wait(timeout=60) == 0 and encode.returncode == 0, encode.stderr
    assert [p for _, _, p in payloads(path)] == [p for _, _, p in before]


def test_failed_encode_leaves_an_existing_file_unchanged(rec, capsys):
    path, before = rec
    bad = path.parent / "in.txt"
    bad.write_bytes(b"[k] one\n[k] two\n[k | x] bad\n")
    assert main(["encode", str(path), "--input", str(bad)]) == 1
    err = one_error_line(capsys.readouterr().err)
    assert "line 3" in err and "left unchanged" in err
    assert path.read_bytes() == before and temporaries(path.parent) == []


def test_encode_keeps_the_permissions_and_the_symlink(rec, capsys):
    path, _ = rec
    os.chmod(path, 0o640)
    src = path.parent / "in.txt"
    src.write_bytes(b"[k] new\n")
    link = path.parent / "sym.ss"
    assert main(["encode", str(link), "--input", str(src)]) == 0
    assert os.path.islink(link) and payloads(path) == [("k", 1, b"new")]
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o640)
    with ssfile.open(path) as r:
        assert r.header.file_name == "sym.ss"  # the name given, not the temporary's


def test_repair_refuses_its_input_through_any_name(rec):
    path, before = rec
    d = path.parent
    for out in (path, d / "sym.ss", d / "hard.ss"):
        got = cli("repair", str(path), "-o", str(out), "--force")
        assert got.returncode == 2 and b"refusing to write" in got.stderr, got.stderr
        one_error_line(got.stderr)
    assert path.read_bytes() == before and temporaries(d) == []


def test_repair_writes_atomically(tmp_path, monkeypatch, capsys):
    src = tmp_path / "src.ss"
    record(src, 200)
    out = tmp_path / "out.ss"
    out.write_bytes(b"precious")
    repair_module = importlib.import_module("ssfile.check.repair")  # the attribute: the function

    real = repair_module.Writer.write
    calls = []

    def failing(self, *a, **kw):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 100:
            raise OSError(28, "No space left on device")  # no file name, like os.write's
        return real(self, *a, **kw)

    monkeypatch.setattr(repair_module.Writer, "write", failing)
    assert main(["repair", str(src), "-o", str(out), "--force"]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert err == f"ssfile repair: error: {out}: No space left on device\n"
    assert out.read_bytes() == b"precious" and temporaries(tmp_path) == []


def test_readers_refuse_appending_to_their_input(rec):
    path, before = rec
    for command in (
        ["decode", str(path)],
        ["cat", str(path), "--format", "raw"],
        ["info", str(path)],
        ["verify", str(path)],
    ):
        with open(path.parent / "hard.ss", "ab") as out:
            got = subprocess.run(
                [*SSFILE, *command], stdout=out, stderr=subprocess.PIPE, timeout=60
            )
        assert got.returncode == 2 and b"refusing to write <stdout>" in got.stderr
        one_error_line(got.stderr)
    assert path.read_bytes() == before


def test_relay_refuses_its_input_file_whatever_the_keys(rec):
    path, before = rec
    d = path.parent
    got = cli("relay", "--input", f"file://{path}/a", "--output", f"file://{d}/hard.ss/other")
    assert got.returncode == 2 and b"same file as the input" in got.stderr
    with open(d / "sym.ss", "rb") as stdin:
        got = cli("relay", "--input", "stdio:///a", "--output", f"file://{path}/a", stdin=stdin)
    assert got.returncode == 2 and b"<stdin>" in got.stderr
    with open(path, "ab") as stdout:
        got = subprocess.run(
            [*SSFILE, "relay", "--input", f"file://{path}/a", "--output", "stdio:///x"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    assert got.returncode == 2 and b"refusing to write <stdout>" in got.stderr
    assert path.read_bytes() == before


def test_outputs_must_be_regular_files(tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    src = tmp_path / "in.txt"
    src.write_bytes(b"[k] x\n")
    assert main(["encode", str(fifo), "--input", str(src)]) == 2
    assert main(["dump", "redis://127.0.0.1:6390/k", "-o", str(fifo)]) == 2
    assert main(["relay", "--input", "stdio:///k", "--output", f"file://{fifo}/k"]) == 2
    err = capsys.readouterr().err
    assert err.count("not a regular file") == 3, err


def test_new_file_commit_if_new_never_replaces(tmp_path):
    target = tmp_path / "t.ss"
    out = NewFile(target)
    open(out.path, "wb").write(b"partial")
    assert out.commit_if_new() and target.read_bytes() == b"partial"
    target.write_bytes(b"old")
    out = NewFile(target)
    open(out.path, "wb").write(b"partial")
    assert not out.commit_if_new() and target.read_bytes() == b"old"
    assert temporaries(tmp_path) == []
    with pytest.raises(KeyboardInterrupt), NewFile(target) as out:
        open(out.path, "wb").write(b"new")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and temporaries(tmp_path) == []
    with NewFile(target) as out:
        open(out.path, "wb").write(b"new")
    assert target.read_bytes() == b"new" and temporaries(tmp_path) == []


def test_demo_replaces_its_file_atomically(tmp_path, capsys):
    assert main(["demo", str(tmp_path), "--messages", "300"]) == 0
    with ssfile.open(tmp_path / "demo.ss") as r:
        assert r.header.file_name == "demo.ss" and len(list(r)) == 300
    assert temporaries(tmp_path) == []


# ---- item 8: the smaller ones ----------------------------------------------------------------


def test_stdio_sequence_counter_past_max_is_an_invalid_line():
    stdin = io.BytesIO(b"[k | %d] max\n[k] next\n[k | 7] seven\n[k] eight\n" % MAX_U64)
    err = io.StringIO()

    async def go():  # type: ignore[no-untyped-def]
        s = StdioStreamer(stdin=stdin, stdout=io.BytesIO(), stderr=err)
        c = await s.create_consumer(["k"])
        return [(m.payload, m.sequence) async for m in c]

    got = asyncio.run(go())
    assert got == [(b"max", MAX_U64), (b"seven", 7), (b"eight", 8)]
    assert "line 2 skipped" in err.getvalue() and "give the sequence" in err.getvalue()

    async def fatal():  # type: ignore[no-untyped-def]
        s = StdioStreamer(
            stdin=io.BytesIO(b"[k | %d] max\n[k] next\n" % MAX_U64),
            stdout=io.BytesIO(),
            on_invalid="fatal",
        )
        c = await s.create_consumer(["k"])
        assert (await c.next()).sequence == MAX_U64
        with pytest.raises(LineError, match="line 2"):
            await c.next()

    asyncio.run(fatal())


def test_relay_keeps_going_after_a_line_with_the_largest_sequence(tmp_path):
    out = tmp_path / "r.ss"
    lines = b"[k | %d] max\n[k] next\n[j] other\n" % MAX_U64
    got = cli(
        "relay",
        "--keep-headers",
        "--input",
        "stdio:///k,j",
        "--output",
        f"file://{out}",
        input=lines,
    )
    # every valid line relayed; the skipped one reported, and the exit status says so
    assert got.returncode == 1, got.stderr
    assert b"line 2 skipped" in got.stderr
    assert b"ssfile relay: 1 invalid input line(s) skipped" in got.stderr
    assert [(k, s, p) for k, s, p in payloads(out)] == [("k", MAX_U64, b"max"), ("j", 0, b"other")]


def test_encode_names_the_line_with_no_sequence_left(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_bytes(b"[k | %d] max\n[k] next\n" % MAX_U64)
    assert main(["encode", str(tmp_path / "o.ss"), "--input", str(src)]) == 1
    err = one_error_line(capsys.readouterr().err)
    assert "line 2: no sequence number left" in err


def test_crlf_line_ends_are_not_payload():
    stdin = io.BytesIO(b"[k] one\r\n[k] two\n[k] three\r\r\nlast\r")

    async def go():  # type: ignore[no-untyped-def]
        s = StdioStreamer(stdin=stdin, stdout=io.BytesIO())
        return [m.payload async for m in await s.create_consumer(["k"])]

    assert asyncio.run(go()) == [b"one", b"two", b"three\r", b"last\r"]


def test_crlf_through_a_real_pipe(tmp_path):
    got = cli(
        "relay", "--input", "stdio:///k", "--output", "stdio:///o", input=b"[k] a\r\n[k] b\r\n"
    )
    assert got.returncode == 0
    lines = got.stdout.split(b"\n")
    assert [line.split(b"] ", 1)[1] for line in lines[:-1]] == [b"a", b"b"] and lines[-1] == b""


def test_verify_on_an_empty_or_cut_header_exits_2(tmp_path):
    for content in (b"", b"Ss\x01"):
        path = tmp_path / "e.ss"
        path.write_bytes(content)
        got = cli("verify", str(path))
        assert got.returncode == 2, got
        assert cli("verify", "--json", str(path)).returncode == 2


@pytest.mark.parametrize(
    "args",
    [
        ["clock", "--stream", "stdio:///c", "--count", "-1"],
        ["clock", "--stream", "stdio:///c", "--count", "0"],
        ["relay", "--input", "stdio:///a", "--output", "stdio:///b", "--count", "-1"],
        ["relay", "--input", "stdio:///a", "--output", "stdio:///b", "--count", "0"],
        ["demo", "--messages", "-5"],
        ["dump", "redis://127.0.0.1:6390/k", "-o", "x.ss", "--retry-for", "-1"],
        ["dump", "redis://127.0.0.1:6390/k", "-o", "x.ss", "--retry-for", "nan"],
        ["dump", "redis://127.0.0.1:6390/k", "-o", "x.ss", "--page-size", "-3"],
    ],
)
def test_negative_and_zero_counts_are_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert "argument --" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["info", "verify", "cat", "repair"])
def test_seekable_commands_refuse_a_fifo_at_once(tmp_path, command):
    fifo = tmp_path / "f.ss"
    os.mkfifo(fifo)
    args = [command, str(fifo)] + (["-o", str(tmp_path / "o.ss")] if command == "repair" else [])
    got = cli(*args, timeout=30)  # blocked forever in open() before
    assert got.returncode == 2 and b"is a FIFO" in got.stderr, got.stderr
    one_error_line(got.stderr)


def test_decode_reads_a_fifo_and_says_that_it_waits(tmp_path, golden_dir):
    fifo = tmp_path / "f.ss"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [*SSFILE, "decode", str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    notice = proc.stderr.readline()
    assert b"waiting for a writer" in notice
    with open(fifo, "wb") as w:
        w.write((golden_dir / "sample-1.ss").read_bytes())
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out == (golden_dir / "sample-1.decode.log").read_bytes()


def test_os_errors_always_name_the_file(tmp_path, capsys, monkeypatch):
    import ssfile.file.writer as writer_module

    class FullDisk:
        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(os, name)

        @staticmethod
        def write(fd, data):  # type: ignore[no-untyped-def]
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module, "os", FullDisk())
    src = tmp_path / "in.txt"
    src.write_bytes(b"[k] x\n" * 10)
    out = tmp_path / "o.ss"
    assert main(["encode", str(out), "--input", str(src)]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert err == f"ssfile encode: error: {out}: No space left on device\n"
    assert not out.exists() and temporaries(tmp_path) == []


def test_os_error_without_a_name_has_no_empty_name():
    from ssfile.cli import describe_os_error

    assert describe_os_error(OSError(28, "No space left on device")) == "No space left on device"
    assert describe_os_error(OSError(2, "No such file", "x.ss")) == "x.ss: No such file"


def test_decode_into_a_closed_pipe_exits_quietly(tmp_path):
    path = tmp_path / "big.ss"
    record(path, 20_000)
    got = subprocess.run(
        f"{sys.executable} -m ssfile decode {path} | head -1",
        shell=True,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": ""},
    )
    assert got.returncode == 0 and got.stdout.startswith(b"# {")
    assert got.stderr == b""
    rc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m ssfile decode {path} | head -1"],
        capture_output=True,
        timeout=60,
    )
    assert rc.returncode == 0 and rc.stderr == b"", rc.stderr


# ---- the viewer's idle connections -----------------------------------------------------------


@pytest.fixture()
def viewer(tmp_path):
    from ssfile.view.server import ViewServer

    path = tmp_path / "v.ss"
    record(path)
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<p>__TOKEN__</p>")
    server = ViewServer(str(path), 0, static_dir=static, idle_timeout=0.5)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_an_idle_connection_is_closed_and_others_are_served(viewer):
    idle = socket.create_connection(("127.0.0.1", viewer.port))
    idle.settimeout(30)  # a guard: the server closes it long before
    try:
        with urllib.request.urlopen(viewer.url, timeout=10) as page:
            assert page.status == 200 and viewer.token.encode() in page.read()
        started = time.monotonic()
        assert idle.recv(1024) == b""  # closed by the server, nothing sent
        print(f"idle connection closed after {time.monotonic() - started:.2f} s (timeout 0.5 s)")
        with urllib.request.urlopen(viewer.url, timeout=10) as page:
            assert page.status == 200
    finally:
        with contextlib.suppress(OSError):
            idle.close()


# ---- temporary files a SIGKILL left behind --------------------------------------------------


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """SIGKILL during `ssfile encode` leaves .NAME.HOST-PID.XXXXXXXX.tmp; the next command
    writing into that directory removes it (its process is dead), and leaves alone a running
    writer's temporary file, another machine's and any other name.  On Windows (simulated in
    tests/test_platform_sim.py) a process cannot be asked about safely: the leftover stays."""
    from ssfile.file.output import _host_tag
    from ssfile.platform import WINDOWS

    out = tmp_path / "out.ss"
    # a writer that never finishes: encode reads stdin until EOF
    killed = subprocess.Popen(
        [*SSFILE, "encode", str(out)], stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    live = subprocess.Popen([*SSFILE, "encode", str(tmp_path / "other.ss")], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(temporaries(tmp_path)) < 2:
            assert time.monotonic() < deadline, "no temporary files appeared"
            time.sleep(0.02)
        killed.kill()  # SIGKILL
        killed.wait(30)
        left = [n for n in temporaries(tmp_path) if n.startswith(".out.ss.")]
        assert left and f"{_host_tag()}-{killed.pid}." in left[0]
        others = [
            f".out.ss.elsewhere-{killed.pid}.0123abcd.tmp",  # another machine's
            ".out.ss.0123abcd.tmp",  # not the scheme
        ]
        for name in others:
            (tmp_path / name).write_bytes(b"")
        src = record(tmp_path / "in.ss")
        assert cli("repair", str(tmp_path / "in.ss"), "-o", str(out)).returncode == 0
        assert payloads(out) == payloads(tmp_path / "in.ss") and src
        rest = temporaries(tmp_path)
        assert (left[0] in rest) == WINDOWS
        kept = sorted([*others, left[0]] if WINDOWS else others)
        assert kept == sorted(n for n in rest if n.startswith(".out.ss."))
        assert [n for n in rest if n.startswith(".other.ss.")]  # the live writer's: kept
    finally:
        for p in (killed, live):
            if p.poll() is None:
                p.kill()
            p.wait(30)


def test_a_full_disk_at_a_new_piece_names_the_target(tmp_path, capsys, monkeypatch):
    """A piece whose very header cannot be written (split opens pieces as it goes): the
    error names the piece, not its discarded temporary file, and nothing is left."""
    import ssfile.file.writer as writer_module

    src = tmp_path / "in.ss"
    record(src, 20)

    class FullDisk:
        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(os, name)

        @staticmethod
        def write(fd, data):  # type: ignore[no-untyped-def]
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module, "os", FullDisk())
    out = tmp_path / "o-{stream}.ss"
    assert main(["split", str(src), "--by-stream", "-o", str(out)]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert err.startswith("ssfile split: error: ") and "No space left on device" in err
    assert ".tmp" not in err and str(tmp_path / "o-") in err
    assert temporaries(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["in.ss"]
