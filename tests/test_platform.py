"""ssfile/platform.py directly (each fallback forced here), the C accelerator's portability
(compiled as strict C99 by every compiler present, no GNU-only construct without a fallback),
the release wheel configuration and its smoke test.  The fallbacks in a whole simulated
Windows or macOS: tests/test_platform_sim.py."""

import errno
import io
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import tomllib
import types

import pytest

import ssfile
from ssfile import platform
from ssfile.errors import SSError, UsageError
from ssfile.streamer.uri import parse_stream_url

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEEDUPS = ROOT / "ssfile" / "_speedups.c"


# ---- positional reads ---------------------------------------------------------------------------


def test_pread_by_seek_equals_pread_from_many_threads(tmp_path):
    path = tmp_path / "data"
    data = os.urandom(1 << 16)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    errors = []

    def reader(seed):
        for i in range(300):
            offset = (seed * 7919 + i * 104729) % len(data)
            n = 1 + (i * 31) % 700
            got = platform._pread_by_seek(fd, n, offset)
            if got != os.pread(fd, n, offset) or got != data[offset : offset + n]:
                errors.append((offset, n))

    try:
        threads = [threading.Thread(target=reader, args=(s,)) for s in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert platform._pread_by_seek(fd, 10, len(data)) == b""
    finally:
        os.close(fd)
    assert errors == []


# ---- the writer lock ------------------------------------------------------------------------------


def test_lock_writer_refuses_a_second_open(tmp_path):
    path = str(tmp_path / "l.ss")
    a = os.open(path, os.O_RDWR | os.O_CREAT)
    b = os.open(path, os.O_RDWR)
    try:
        platform.lock_writer(a, path)
        with pytest.raises(SSError, match=r"l\.ss: another writer holds this file$"):
            platform.lock_writer(b, path)
    finally:
        platform.unlock_writer(a)
        os.close(a)
        os.close(b)


class FakeMsvcrt:
    """msvcrt.locking's contract: from the current position, EACCES when held elsewhere."""

    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2

    def __init__(self):
        self.held = {}  # position -> fd
        self.calls = []

    def locking(self, fd, mode, nbytes):
        position = os.lseek(fd, 0, os.SEEK_CUR)
        self.calls.append((mode, position, nbytes))
        if mode == self.LK_UNLCK:
            self.held.pop(position, None)
        elif self.held.setdefault(position, fd) != fd:
            raise PermissionError(errno.EACCES, "Permission denied")


def test_lock_writer_with_msvcrt(monkeypatch, tmp_path):
    fake = FakeMsvcrt()
    monkeypatch.setattr(platform, "_fcntl", None)
    monkeypatch.setattr(platform, "_msvcrt", fake)
    path = str(tmp_path / "w.ss")
    a = os.open(path, os.O_RDWR | os.O_CREAT)
    b = os.open(path, os.O_RDWR)
    try:
        os.lseek(a, 123, os.SEEK_SET)
        platform.lock_writer(a, path)
        assert os.lseek(a, 0, os.SEEK_CUR) == 123  # the position is given back
        with pytest.raises(SSError, match="another writer holds this file"):
            platform.lock_writer(b, path)
        platform.unlock_writer(a)
        platform.lock_writer(b, path)  # released
    finally:
        os.close(a)
        os.close(b)
    assert {(p, n) for _, p, n in fake.calls} == {(platform.LOCK_OFFSET, 1)}
    assert [m for m, _, _ in fake.calls] == [2, 2, 0, 2]


def test_a_lock_error_that_is_not_contention_is_not_disguised(monkeypatch, tmp_path):
    fake = FakeMsvcrt()

    def broken(fd, mode, nbytes):
        raise OSError(errno.EBADF, "Bad file descriptor")

    fake.locking = broken
    monkeypatch.setattr(platform, "_fcntl", None)
    monkeypatch.setattr(platform, "_msvcrt", fake)
    fd = os.open(tmp_path / "x", os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(OSError) as info:
            platform.lock_writer(fd, "x")
        assert not isinstance(info.value, SSError) and info.value.errno == errno.EBADF
    finally:
        os.close(fd)


# ---- fsync, truncate, replace, copy_mode ----------------------------------------------------------


def fake_fcntl(result):
    calls = []

    def fcntl(fd, cmd, arg=0):
        calls.append(cmd)
        if isinstance(result, OSError):
            raise result
        return 0

    return types.SimpleNamespace(F_FULLFSYNC=51, fcntl=fcntl), calls


@pytest.mark.parametrize(
    "result,plain_fsyncs,raises",
    [
        (0, 0, False),  # F_FULLFSYNC did it
        (OSError(errno.ENOTSUP, "not supported"), 1, False),  # a file system without it
        (OSError(errno.EIO, "I/O error"), 0, True),  # a failed fsync: never retried
    ],
)
def test_fsync_prefers_full_fsync(monkeypatch, tmp_path, result, plain_fsyncs, raises):
    module, calls = fake_fcntl(result)
    monkeypatch.setattr(platform, "_fcntl", module)
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        if raises:
            with pytest.raises(OSError, match="I/O error"):
                platform.fsync(fd)
        else:
            platform.fsync(fd)
    finally:
        os.close(fd)
    assert calls == [51] and len(synced) == plain_fsyncs


def test_fsync_path_opens_for_writing_on_windows(monkeypatch, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    flags = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, f, *a: flags.append(f) or real_open(p, f, *a))
    platform.fsync_path(str(path))
    monkeypatch.setattr(platform, "WINDOWS", True)
    platform.fsync_path(str(path))
    assert [f & os.O_ACCMODE for f in flags] == [os.O_RDONLY, os.O_RDWR]


def test_fsync_dir_never_fails(tmp_path):
    platform.fsync_dir(str(tmp_path))
    platform.fsync_dir(str(tmp_path / "missing"))
    platform.fsync_dir("")  # the current directory


def mapped_file_error(errno_value, winerror=None):
    err = OSError(errno_value, os.strerror(errno_value))
    if winerror is not None:
        err.winerror = winerror
    return err


@pytest.mark.parametrize(
    "windows,error,clear",
    [
        (True, mapped_file_error(errno.EINVAL), True),  # what _chsize_s reports
        (True, mapped_file_error(errno.EACCES), True),
        (False, mapped_file_error(errno.EACCES, winerror=1224), True),
        (False, mapped_file_error(errno.EINVAL), False),
        (True, mapped_file_error(errno.ENOSPC), False),
    ],
)
def test_truncate_of_a_mapped_file(monkeypatch, tmp_path, windows, error, clear):
    monkeypatch.setattr(platform, "WINDOWS", windows)

    def refuse(fd, size):
        raise error

    monkeypatch.setattr(os, "ftruncate", refuse)
    with pytest.raises(OSError if not clear else SSError) as info:
        platform.truncate(0, 10, "rec.ss")
    if clear:
        assert str(info.value).startswith("rec.ss: cannot cut the file to 10 bytes")
        assert "memory-mapped" in str(info.value)
    else:
        assert info.value is error


def test_replace_retries_a_brief_refusal_on_windows(monkeypatch):
    monkeypatch.setattr(platform, "WINDOWS", True)
    attempts = []

    def replace(src, dst):
        attempts.append((src, dst))
        if len(attempts) < 3:
            err = PermissionError(errno.EACCES, "Access is denied", dst)
            err.winerror = 32
            raise err

    monkeypatch.setattr(os, "replace", replace)
    platform.replace("a.tmp", "a.ss")
    assert attempts == [("a.tmp", "a.ss")] * 3


@pytest.mark.parametrize("windows", [True, False])
def test_replace_gives_up_with_the_cause(monkeypatch, windows):
    monkeypatch.setattr(platform, "WINDOWS", windows)
    monkeypatch.setattr(platform, "REPLACE_PATIENCE", 0.05)
    attempts = []

    def replace(src, dst):
        attempts.append(1)
        raise PermissionError(errno.EACCES, "Access is denied", dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError) as info:
        platform.replace("a.tmp", "a.ss")
    if windows:
        assert len(attempts) > 1 and "another program has the file open" in str(info.value)
    else:
        assert len(attempts) == 1 and str(info.value) == "[Errno 13] Access is denied: 'a.ss'"


def test_copy_mode_without_fchmod(monkeypatch, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        platform.copy_mode(fd, str(path), 0o640)
        assert path.stat().st_mode & 0o777 == 0o640
        monkeypatch.delattr(os, "fchmod")
        platform.copy_mode(fd, str(path), 0o604)
        assert path.stat().st_mode & 0o777 == 0o604
    finally:
        os.close(fd)


def test_use_lf_newlines(monkeypatch):
    raw = io.BytesIO()
    windows_like = io.TextIOWrapper(raw, encoding="utf-8", newline="\r\n")
    monkeypatch.setattr(sys, "stdout", windows_like)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a TextIOWrapper: left alone
    print("before")
    platform.use_lf_newlines()
    print("after")
    windows_like.flush()
    assert raw.getvalue() == b"before\r\nafter\n"


def test_binary_open_flag():
    assert platform.O_BINARY == getattr(os, "O_BINARY", 0)


# ---- file:// URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,windows_path,posix_path",
    [
        ("file:///C:/data/x.ss/key", "C:/data/x.ss", "/C:/data/x.ss"),
        ("file:///c:\\data\\x.ss/key", "c:\\data\\x.ss", "/c:\\data\\x.ss"),
        ("file:///data/x.ss/key", "/data/x.ss", "/data/x.ss"),
        ("file://rel/x.ss/key", "rel/x.ss", "rel/x.ss"),
    ],
)
def test_file_urls_by_platform(monkeypatch, url, windows_path, posix_path):
    monkeypatch.setattr(platform, "WINDOWS", True)
    assert parse_stream_url(url).path == windows_path
    monkeypatch.setattr(platform, "WINDOWS", False)
    assert parse_stream_url(url).path == posix_path


def test_windows_paths_without_a_key(monkeypatch):
    monkeypatch.setattr(platform, "WINDOWS", True)
    for url in ("file:///C:\\rec\\x.ss", "file://C:\\rec\\x.ss", "file:///C:\\rec\\x.ss/"):
        got = parse_stream_url(url)
        assert (got.path, got.stream_keys) == ("C:\\rec\\x.ss", ())


# ---- the C accelerator: portable C ----------------------------------------------------------------

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-Wvla", "-Wno-unused-parameter"]


def compilers():
    found = [c for c in ("clang", "gcc") if shutil.which(c)]
    cc = (sysconfig.get_config_var("CC") or "").split()[:1]
    if cc and shutil.which(cc[0]) and os.path.basename(cc[0]) not in found:
        found.append(cc[0])
    return found


def test_a_compiler_is_present():
    assert compilers(), "no C compiler: the accelerator could not be built either"


@pytest.mark.parametrize("compiler", compilers())
def test_speedups_compile_as_strict_c99(compiler):
    """No VLA, no statement expression, no other extension -pedantic names, no warning."""
    include = sysconfig.get_paths()["include"]
    proc = subprocess.run(
        [compiler, *STRICT, "-fsyntax-only", f"-I{include}", str(SPEEDUPS)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_strict_flags_catch_gnu_c(tmp_path):
    bad = tmp_path / "bad.c"
    bad.write_text("int f(int n) { int a[n]; return ({ int x = 1; x; }) + (int)sizeof a; }\n")
    for compiler in compilers():
        proc = subprocess.run([compiler, *STRICT, "-fsyntax-only", str(bad)], capture_output=True)
        assert proc.returncode != 0


#: what MSVC lacks and -pedantic does not catch (builtins are just functions to gcc and clang)
GNU_ONLY = re.compile(
    r"__builtin_\w+|__attribute__|\btypeof\b|__typeof__|__int128|\balloca\b|#\s*pragma\s+GCC"
    r"|__asm__|\basm\s*\(|\bcase\b[^:\n]*\.\.\."
)


def gnu_only_outside_guards(source):
    """GNU-only constructs not inside the first branch of an ``#if`` on ``__GNUC__`` or
    ``__clang__`` that has an ``#else`` (the fallback the other compilers take); returns
    [(line number, text)]."""
    lines = source.splitlines()
    has_else, open_ifs = {}, []  # line index of each #if -> whether it has an #else
    for i, line in enumerate(lines):
        d = line.strip()
        if re.match(r"#\s*if", d):
            open_ifs.append(i)
            has_else[i] = False
        elif re.match(r"#\s*(else|elif)", d) and open_ifs:
            has_else[open_ifs[-1]] = True
        elif re.match(r"#\s*endif", d) and open_ifs:
            open_ifs.pop()
    found, guarded = [], []  # one flag per open #if: this branch is a guarded GNU one
    for i, line in enumerate(lines):
        d = line.strip()
        if re.match(r"#\s*if", d):
            guarded.append(bool(re.search(r"__GNUC__|__clang__", d)) and has_else[i])
        elif re.match(r"#\s*(else|elif)", d) and guarded:
            guarded[-1] = False
        elif re.match(r"#\s*endif", d) and guarded:
            guarded.pop()
        elif GNU_ONLY.search(re.sub(r"/\*.*?\*/|//.*", "", line)) and not any(guarded):
            found.append((i + 1, d))
    return found


def test_speedups_use_no_gnu_only_construct_without_a_fallback():
    source = SPEEDUPS.read_text()
    # comments spanning lines are dropped first
    source = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), source, flags=re.S)
    assert gnu_only_outside_guards(source) == []


def test_the_gnu_check_can_fail():
    bad = "static int f(int x) { return __builtin_expect(x, 1); }\n"
    guarded = (
        "#if defined(__GNUC__) || defined(__clang__)\n#define LIKELY(x) __builtin_expect(x, 1)\n"
        "#else\n#define LIKELY(x) (x)\n#endif\n"
    )
    no_fallback = "#ifdef __GNUC__\n#define LIKELY(x) __builtin_expect(x, 1)\n#endif\n"
    assert gnu_only_outside_guards(bad) == [(1, bad.strip())]
    assert gnu_only_outside_guards(guarded) == []
    assert gnu_only_outside_guards(no_fallback) == [(2, "#define LIKELY(x) __builtin_expect(x, 1)")]


def test_setup_passes_no_compiler_specific_flags():
    """MSVC takes no gcc flags: the extension declares none (setuptools picks per compiler)."""
    setup = (ROOT / "setup.py").read_text()
    assert "extra_compile_args" not in setup and "extra_link_args" not in setup
    assert 'Extension("ssfile._speedups", ["ssfile/_speedups.c"], optional=True)' in setup


# ---- release wheels ---------------------------------------------------------------------------------


def test_cibuildwheel_builds_for_linux_macos_and_windows():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["cibuildwheel"]
    assert config["build"].split() == ["cp311-*", "cp312-*", "cp313-*"]
    assert config["linux"]["archs"] == ["x86_64", "aarch64"]
    assert config["macos"]["archs"] == ["x86_64", "arm64"]
    assert config["windows"]["archs"] == ["AMD64"]
    assert "*-musllinux_*" in config["skip"].split()
    assert config["test-command"] == "python {project}/scripts/smoke.py --require-accelerator"


def test_the_wheel_smoke_test_passes_here(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "smoke.py"), "--require-accelerator"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("smoke: ok:") == 12


# ---- Windows file names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,reason",
    [
        ("a:b.ss", "':'"),  # would write an alternate data stream of "a"
        ('q"uote.ss', "'\"'"),
        ("what?.ss", "'?'"),
        ("NUL.ss", "device name"),
        ("com1.ss", "device name"),
        ("rec.ss.", "trailing dot or space"),
        ("rec.ss ", "trailing dot or space"),
    ],
)
def test_names_windows_cannot_hold_are_refused_before_writing(monkeypatch, tmp_path, name, reason):
    from ssfile.file.output import NewFile

    monkeypatch.setattr(platform, "WINDOWS", True)
    path = str(tmp_path / name)
    for make in (lambda: ssfile.open(path, "w"), lambda: NewFile(path)):
        with pytest.raises(UsageError) as info:
            make()
        assert str(info.value).startswith(f"{path}: cannot create this file: ")
        assert reason in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing was created
    monkeypatch.setattr(platform, "WINDOWS", False)  # POSIX takes them all
    ssfile.open(path, "w").close()
    assert os.path.exists(path)


def test_windows_takes_ordinary_names(monkeypatch, tmp_path):
    monkeypatch.setattr(platform, "WINDOWS", True)
    for name in ("rec.ss", "console.ss", "nul-results.ss", "2024-05-01T10.ss", "a b.ss"):
        platform.check_file_name(str(tmp_path / name))
    platform.check_file_name("C:\\data\\rec.ss")  # the drive's ":" is not in the name
