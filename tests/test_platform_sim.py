"""ssfile on Windows and macOS, tested here on Linux: the core suites and direct checks run in
Python processes where tests/platform_sim/{windows,macos}/sitecustomize.py has taken away
what that platform lacks (``fcntl``, ``os.pread``, POSIX signals...) and given what it does
differently (``msvcrt.locking``, text-mode descriptors, file sharing, ``F_FULLFSYNC``...), so
that the fallbacks in ssfile/platform.py run for real.  See README, "Platforms"."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import ssfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIM = ROOT / "tests" / "platform_sim"

WINDOWS_SUITES = [
    "tests/test_reader_writer.py",
    "tests/test_append.py",
    "tests/test_seek.py",
    "tests/test_follow.py",
    "tests/test_verify.py",
    "tests/test_repair.py",
    "tests/test_export.py",
    "tests/test_aio.py",
    "tests/test_streamer_file.py",
    "tests/test_streamer_uri.py",
    "tests/test_stdio_backend.py",
    "tests/test_cli_cat.py",
    "tests/test_cli_encode.py",
    "tests/test_cli_safety.py",
    "tests/test_write_faults.py",
    "tests/test_view_api.py",
]
#: tests of POSIX-only situations (Windows has no FIFOs)
POSIX_ONLY = [
    "tests/test_cli_safety.py::test_outputs_must_be_regular_files",
    "tests/test_cli_safety.py::test_seekable_commands_refuse_a_fifo_at_once",
    "tests/test_cli_safety.py::test_decode_reads_a_fifo_and_says_that_it_waits",
]
MACOS_SUITES = [
    "tests/test_reader_writer.py",
    "tests/test_append.py",
    "tests/test_follow.py",
    "tests/test_streamer_file.py",
    "tests/test_cli_encode.py",
    "tests/test_write_faults.py",
]


def sim_env(name):
    env = dict(os.environ)
    paths = [str(SIM / name), str(SIM)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("SSFILE_SIMULATED_PLATFORM", None)
    return env


def run_sim(name, code, cwd, *args):
    """Run ``code`` (a script) in the simulated platform; its JSON on stdout is returned."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=cwd,
        env=sim_env(name),
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return json.loads(proc.stdout)


def run_suites(name, files, deselect=()):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "sim_plugin"]
    cmd += files
    for test in deselect:
        cmd += ["--deselect", test]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=sim_env(name), capture_output=True, text=True, timeout=600
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:] + proc.stderr[-2000:]
    summary = out.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "error" not in summary, summary
    return out


# ---- Windows ----------------------------------------------------------------------------------


def test_core_suites_pass_without_what_windows_lacks():
    out = run_suites("windows", WINDOWS_SUITES, POSIX_ONLY)
    assert (
        "platform-sim: simulated=windows fcntl=absent os.pread=absent "
        "ssfile.platform.WINDOWS=True pread=_pread_by_seek" in out
    )


def test_windows_simulation_takes_away_what_windows_lacks(tmp_path):
    facts = run_sim(
        "windows",
        """
        import json, os, signal, mmap
        def importable(name):
            try:
                __import__(name)
            except ImportError:
                return False
            return True
        print(json.dumps({
            "fcntl": importable("fcntl"), "posix": importable("posix"),
            "msvcrt": importable("msvcrt"), "pread": hasattr(os, "pread"),
            "pwrite": hasattr(os, "pwrite"), "fchmod": hasattr(os, "fchmod"),
            "SIGKILL": hasattr(signal, "SIGKILL"), "SIGPIPE": hasattr(signal, "SIGPIPE"),
            "SIGINT": hasattr(signal, "SIGINT"), "madvise": hasattr(mmap, "MADV_DONTNEED"),
            "O_BINARY": hasattr(os, "O_BINARY"),
        }))
        """,
        tmp_path,
    )
    assert facts == {
        "fcntl": False,
        "posix": False,
        "msvcrt": True,
        "pread": False,
        "pwrite": False,
        "fchmod": False,
        "SIGKILL": False,
        "SIGPIPE": False,
        "SIGINT": True,
        "madvise": False,
        "O_BINARY": True,
    }


def test_two_writers_refused_on_windows(tmp_path):
    """The lock is msvcrt.locking of one byte at LOCK_OFFSET: a second writer, in this
    process or another, is refused; readers and followers read while it is held; closing
    releases it."""
    got = run_sim(
        "windows",
        """
        import json, subprocess, sys
        import ssfile, msvcrt
        from ssfile import platform
        path = sys.argv[1]
        second = [sys.executable, "-c",
                  "import sys, ssfile\\ntry:\\n ssfile.open(sys.argv[1], 'a')\\n"
                  "except ssfile.SSError as e:\\n print(e)", path]
        out = {}
        w = ssfile.open(path, "w", created_at=1, beacon_interval=256)
        for i in range(20):
            w.write(b"x%d" % i, stream_key="k", timestamp=1000 + i)
        w.flush()
        try:
            ssfile.open(path, "a")
        except ssfile.SSError as err:
            out["same process"] = str(err)
        out["other process"] = subprocess.run(
            second, capture_output=True, text=True).stdout.strip()
        with ssfile.open(path) as r:
            out["read while locked"] = len(list(r))
        w.close()
        with ssfile.open(path, "a") as w2:
            w2.write(b"after", stream_key="k", timestamp=2000)
        out["after"] = [m.payload.decode() for m in ssfile.open(path)][-1]
        out["calls"] = msvcrt.calls
        out["offset"] = platform.LOCK_OFFSET
        print(json.dumps(out))
        """,
        tmp_path,
        tmp_path / "w.ss",
    )
    refused = f"{tmp_path / 'w.ss'}: another writer holds this file"
    assert got["same process"] == refused
    assert got["other process"] == refused
    assert got["read while locked"] == 20
    assert got["after"] == "after"
    # every lock and unlock is one byte at LOCK_OFFSET: never on data a reader needs
    assert {(pos, n) for _, pos, n in got["calls"]} == {(got["offset"], 1)}
    assert got["offset"] > 1 << 40


def _messages():
    payloads = [b"plain", b"lf\n", b"crlf\r\n", b"\r\n\r\n", b"ctrl-z \x1a end", b"\n" * 300]
    return [(p, f"k{i % 2}", 1000 + i) for i, p in enumerate(payloads * 30)]


def test_files_are_binary_on_windows(tmp_path):
    """Written and read through the Windows paths (os.open text mode simulated), the file is
    byte for byte the one written here, and every reader gets the payloads back."""
    here = tmp_path / "here.ss"
    with ssfile.open(here, "w", created_at=5, beacon_interval=512, file_name="rec") as w:
        for payload, key, ts in _messages():
            w.write(payload, stream_key=key, timestamp=ts)
        w.write_eos(timestamp=9999)
    got = run_sim(
        "windows",
        """
        import asyncio, json, sys
        import ssfile
        from ssfile.streamer.file_tail import FileTail
        src, path = sys.argv[1], sys.argv[2]
        with ssfile.open(path, "w", created_at=5, beacon_interval=512, file_name="rec") as w:
            for m in list(ssfile.open(src))[:90]:
                w.write(m.payload, stream_key=m.stream_key, timestamp=m.timestamp_ms)
        with ssfile.open(path, "a") as w:  # append: scan, cut the EOS, continue
            for m in list(ssfile.open(src))[90:]:
                w.write(m.payload, stream_key=m.stream_key, timestamp=m.timestamp_ms)
            w.write_eos(timestamp=9999)
        async def tail():
            t = FileTail(path, follow=False)
            await t.start("earliest")
            got = []
            while batch := await t.read_batch():
                got += [m.payload.hex() for m in batch]
            t.close()
            return got
        print(json.dumps({
            "reader": [m.payload.hex() for m in ssfile.open(path)],
            "tail": asyncio.run(tail()),
        }))
        """,
        tmp_path,
        here,
        tmp_path / "sim.ss",
    )
    assert (tmp_path / "sim.ss").read_bytes() == here.read_bytes()
    expected = [p.hex() for p, _, _ in _messages()]
    assert got["reader"] == expected
    assert got["tail"] == expected


def test_cli_writes_lf_on_windows(tmp_path):
    """Windows text streams write "\\r\\n"; the CLI's output is the same bytes everywhere."""
    path = tmp_path / "c.ss"
    with ssfile.open(path, "w", created_at=5) as w:
        w.write(b"hello", stream_key="k", timestamp=1000)
    env = sim_env("windows")
    outputs = []
    for args in (["info", path], ["info", "--json", path], ["verify", path], ["decode", path]):
        proc = subprocess.run(
            [sys.executable, "-m", "ssfile", *map(str, args)], env=env, capture_output=True
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    bad = subprocess.run(
        [sys.executable, "-m", "ssfile", "info", str(tmp_path / "missing.ss")],
        env=env,
        capture_output=True,
    )
    assert bad.returncode != 0 and bad.stderr.endswith(b"\n")
    for out in [*outputs, bad.stderr]:
        assert out and b"\r\n" not in out
    # the simulation does turn a plain print into CRLF: the check above can fail
    plain = subprocess.run(
        [sys.executable, "-c", "print('x')"], env=env, capture_output=True
    ).stdout
    assert plain == b"x\r\n"


def test_windows_file_urls(tmp_path):
    got = run_sim(
        "windows",
        r"""
        import json
        from ssfile.streamer.uri import parse_stream_url
        urls = ["file:///C:/data/x.ss/key", "file:///C:/data/x.ss", "file://C:/data/x.ss/a,b",
                "file:///C:\\data\\x.ss/key", "file:///D:\\rec\\x.ss", "file://C:\\rec\\x.ss",
                "file:////server/share/x.ss/key", "file://./rel/x.ss/key"]
        print(json.dumps([[u.path, list(u.stream_keys)] for u in map(parse_stream_url, urls)]))
        """,
        tmp_path,
    )
    assert got == [
        ["C:/data/x.ss", ["key"]],
        ["C:/data/x.ss", []],
        ["C:/data/x.ss", ["a", "b"]],
        ["C:\\data\\x.ss", ["key"]],
        ["D:\\rec\\x.ss", []],
        ["C:\\rec\\x.ss", []],
        ["//server/share/x.ss", ["key"]],
        ["./rel/x.ss", ["key"]],
    ]


def test_truncating_a_mapped_file_is_a_clear_error_on_windows(tmp_path):
    """Windows cannot shrink a file that is memory-mapped (a verify or to_pandas running):
    opening it with "w" says so, and leaves it whole."""
    path = tmp_path / "m.ss"
    with ssfile.open(path, "w", created_at=5) as w:
        for i in range(50):
            w.write(b"m%d" % i, stream_key="k", timestamp=1000 + i)
    before = path.read_bytes()
    got = run_sim(
        "windows",
        """
        import json, sys
        import ssfile
        from ssfile.check.verify import mapped
        path = sys.argv[1]
        out = {}
        with mapped(path) as buf:
            try:
                ssfile.open(path, "w")
            except ssfile.SSError as err:
                out["error"] = str(err)
            out["size while mapped"] = len(open(path, "rb").read())
        with ssfile.open(path, "w", created_at=5) as w:  # unmapped: fine
            w.write(b"new", stream_key="k", timestamp=1)
        out["after"] = [m.payload.decode() for m in ssfile.open(path)]
        print(json.dumps(out))
        """,
        tmp_path,
        path,
    )
    assert "memory-mapped" in got["error"] and got["error"].startswith(str(path))
    assert got["size while mapped"] == len(before)
    assert got["after"] == ["new"]


def test_replacing_an_open_file_on_windows(tmp_path):
    """A new file is renamed over its target; Windows refuses while the target is open:
    retried (a scanner's brief hold passes), then a clear error with the target unchanged."""
    target = tmp_path / "t.ss"
    target.write_bytes(b"old")
    got = run_sim(
        "windows",
        """
        import json, sys, threading
        from ssfile import platform
        from ssfile.file.output import NewFile
        target = sys.argv[1]
        platform.REPLACE_PATIENCE = 0.3
        out = {}
        held = open(target, "rb")
        try:
            with NewFile(target) as new:
                open(new.path, "wb").write(b"new 1")
        except OSError as err:
            out["held"] = [err.filename, err.strerror]
        out["content"] = open(target, "rb").read().decode()
        threading.Timer(0.1, held.close).start()  # released while commit retries
        with NewFile(target) as new:
            open(new.path, "wb").write(b"new 2")
        out["released"] = open(target, "rb").read().decode()
        print(json.dumps(out))
        """,
        tmp_path,
        target,
    )
    assert got["held"][0] == str(target)
    assert "another program has the file open" in got["held"][1]
    assert got["content"] == "old"
    assert got["released"] == "new 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.ss"]  # no temporary file left


# ---- macOS --------------------------------------------------------------------------------------


def test_core_suites_pass_without_what_macos_lacks():
    out = run_suites("macos", MACOS_SUITES)
    assert "platform-sim: simulated=macos fcntl=present os.pread=present" in out


def test_fsync_is_full_on_macos(tmp_path):
    """macOS's fsync stops at the drive's cache: a writer with fsync=True and the commit of
    a new file (ssfile encode) use F_FULLFSYNC."""
    got = run_sim(
        "macos",
        """
        import fcntl, json, os, sys
        import ssfile
        from ssfile.file.output import NewFile
        path, new = sys.argv[1], sys.argv[2]
        with ssfile.open(path, "w", fsync=True) as w:
            w.write(b"x", stream_key="k")
            w.flush()
        writer_calls = fcntl.full_fsync_calls
        with NewFile(new) as out:
            open(out.path, "wb").write(b"data")
        try:
            open("/proc/self/status")
            proc = True
        except FileNotFoundError:
            proc = False
        print(json.dumps({"writer": writer_calls, "commit": fcntl.full_fsync_calls - writer_calls,
                          "proc": proc, "fadvise": hasattr(os, "posix_fadvise")}))
        """,
        tmp_path,
        tmp_path / "f.ss",
        tmp_path / "n.ss",
    )
    assert got["writer"] >= 2  # the flush and the close
    assert got["commit"] == 1
    assert got == {**got, "proc": False, "fadvise": False}


@pytest.mark.parametrize("name", ["windows", "macos"])
def test_each_simulation_loads_in_child_processes(tmp_path, name):
    """The CLI and viewer jobs run in new processes: they are simulated too."""
    got = run_sim(
        name,
        """
        import json, subprocess, sys
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(hasattr(os, 'posix_fadvise'))"],
            capture_output=True, text=True)
        print(json.dumps(child.stdout.strip()))
        """,
        tmp_path,
    )
    assert got == "False"  # both take it away; this Linux has it
    assert hasattr(os, "posix_fadvise")
