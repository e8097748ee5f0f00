"""Make this Linux Python look like Windows to ssfile (see tests/test_platform_sim.py).

With this directory first on ``PYTHONPATH``, ``site`` imports this module when the interpreter
starts: in the test process and in every Python process it starts (CLI runs, viewer jobs).
It does not pretend to be Windows by name (``os.name``, ``sys.platform`` and ``os.path`` stay
POSIX; the standard library would break); it takes away what Windows lacks and adds what
Windows does differently, each built on something real here, so that the fallbacks in
ssfile/platform.py run for real and a wrong one fails a test.

Taken away, as on Windows:
  * ``fcntl`` and ``posix`` cannot be imported (``nt`` can, with ``_exit``);
  * ``os.pread``, ``os.pwrite``, ``preadv``/``pwritev``, ``fchmod``, ``mkfifo``,
    ``posix_fadvise``/``posix_fallocate``, ``fdatasync``, ``sync`` and the POSIX-only
    ``os.O_*`` flags; directory file descriptors (``dir_fd``);
  * the POSIX-only signals (SIGKILL, SIGSTOP, SIGPIPE, SIGHUP, SIGUSR1...) and signal
    functions (alarm, setitimer, pthread_kill...); ``Popen.kill`` still works (Windows has
    TerminateProcess);
  * ``mmap``'s ``madvise``, ``MADV_*``, ``MAP_*`` and ``PROT_*``; ``mmap.mmap`` takes
    Windows' arguments ``(fileno, length, tagname=None, access=..., offset=0)``.

Added, as on Windows:
  * ``msvcrt.locking``: byte-range locks owned by the open file (Linux OFD locks, so two
    opens in one process conflict, as two handles do on Windows), refused with EACCES;
    ``LK_*`` constants and ``msvcrt.setmode``;
  * text mode: ``os.O_BINARY``; a regular file opened by ``os.open`` without it is in text
    mode, so ``os.write`` writes ``\\n`` as ``\\r\\n`` and ``os.read`` reads ``\\r\\n`` as
    ``\\n`` and stops at byte 0x1A (what the C runtime does);
  * file sharing, within this process: replacing, renaming or removing a file that is open
    fails (WinError 32), ``os.ftruncate`` cannot shrink a file that is memory-mapped
    (EINVAL), ``os.fsync`` needs a descriptor open for writing (EBADF), and ``os.open``
    cannot open a directory (EACCES).

  Text mode and file sharing apply to the calls made by ssfile's own code (the caller's module
  is ``ssfile`` or below): the standard library here takes its POSIX paths by platform name
  (``TemporaryFile`` removes a file it has open), and the tests' own file handling is not
  what is under test;
  * ``sys.stdout`` and ``sys.stderr`` write ``\\n`` as ``\\r\\n``.

Not simulated: another process's open files and maps (Windows refuses those too), the
Proactor event loop, console code pages, ``FileIO`` on a text-mode descriptor.
"""

import errno
import fcntl as _fcntl  # the real one, kept before `import fcntl` is made to fail
import mmap
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
import types

os.environ["SSFILE_SIMULATED_PLATFORM"] = "windows"

# ---- modules that do not exist on Windows ----------------------------------------------------

sys.modules["fcntl"] = None  # type: ignore[assignment]  # `import fcntl` raises ImportError
sys.modules["posix"] = None  # type: ignore[assignment]  # os is loaded already
_nt = types.ModuleType("nt", "Windows' os primitives (the few ssfile may import directly)")
_nt._exit = os._exit  # type: ignore[attr-defined]
sys.modules["nt"] = _nt

# ---- os ----------------------------------------------------------------------------------------

_real = types.SimpleNamespace(
    open=os.open,
    read=os.read,
    write=os.write,
    close=os.close,
    fsync=os.fsync,
    ftruncate=os.ftruncate,
    replace=os.replace,
    rename=os.rename,
    unlink=os.unlink,
    lseek=os.lseek,
)

for _name in (
    "pread",
    "pwrite",
    "preadv",
    "pwritev",
    "fchmod",
    "mkfifo",
    "mknod",
    "posix_fadvise",
    "posix_fallocate",
    "fdatasync",
    "sync",
    "O_NOFOLLOW",
    "O_CLOEXEC",
    "O_NONBLOCK",
    "O_NDELAY",
    "O_DIRECTORY",
    "O_SYNC",
    "O_DSYNC",
    "O_RSYNC",
    "O_NOCTTY",
    "O_ASYNC",
    "O_DIRECT",
    "O_NOATIME",
    "O_PATH",
    "O_TMPFILE",
    "O_LARGEFILE",
):
    if hasattr(os, _name):
        delattr(os, _name)

# Windows values do not fit Linux's flag bits: high bits that Linux does not use, removed
# before the real open
os.O_BINARY = 1 << 30  # type: ignore[attr-defined]
os.O_TEXT = 1 << 29  # type: ignore[attr-defined]
os.O_NOINHERIT = 1 << 28  # type: ignore[attr-defined]
_WINDOWS_ONLY = os.O_BINARY | os.O_TEXT | os.O_NOINHERIT  # type: ignore[attr-defined]

os.supports_dir_fd = set()
shutil._use_fd_functions = False  # type: ignore[attr-defined]  # as on Windows


def _from_ssfile():
    """Whether the wrapped call comes from ssfile's code (the wrapper's caller's module)."""
    name = sys._getframe(2).f_globals.get("__name__", "")
    return name == "ssfile" or name.startswith("ssfile.")


#: fd -> (st_dev, st_ino) of the regular files open in text mode
_text_fds: dict[int, tuple[int, int]] = {}


def _identity(fd):
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def _is_text(fd):
    ident = _text_fds.get(fd)
    if ident is None:
        return False
    try:
        if _identity(fd) == ident:
            return True
    except OSError:
        pass
    del _text_fds[fd]  # closed and reused behind our back (FileIO.close)
    return False


def _open(path, flags, mode=0o777, *, dir_fd=None):
    binary = flags & os.O_BINARY  # type: ignore[attr-defined]
    fd = _real.open(path, flags & ~_WINDOWS_ONLY, mode, dir_fd=dir_fd)
    if not _from_ssfile():
        _text_fds.pop(fd, None)
        return fd
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        _real.close(fd)
        raise PermissionError(errno.EACCES, "Permission denied", path)
    _text_fds.pop(fd, None)
    if not binary and stat.S_ISREG(st.st_mode):
        _text_fds[fd] = (st.st_dev, st.st_ino)
    return fd


def _read(fd, n):
    data = _real.read(fd, n)
    if not _is_text(fd):
        return data
    cut = data.find(b"\x1a")  # Ctrl-Z: the end of a text file
    if cut >= 0:
        data = data[:cut]
        _real.lseek(fd, 0, os.SEEK_END)
    return data.replace(b"\r\n", b"\n")


def _write(fd, data):
    if not _is_text(fd):
        return _real.write(fd, data)
    data = bytes(data)
    _real.write(fd, data.replace(b"\n", b"\r\n"))
    return len(data)


def _close(fd):
    _text_fds.pop(fd, None)
    _real.close(fd)


def _fsync(fd):
    fd = fd if isinstance(fd, int) else fd.fileno()
    if _from_ssfile() and _fcntl.fcntl(fd, _fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        raise OSError(errno.EBADF, "Bad file descriptor")  # FlushFileBuffers needs write access
    _real.fsync(fd)


def _open_here():
    """Real paths of the files this process has open (maps included: mmap keeps a dup)."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:
            pass
    return found


def _mapped_here():
    with open("/proc/self/maps", "rb") as f:
        lines = f.read().decode("utf-8", "replace").splitlines()
    return {line.split(None, 5)[5] for line in lines if len(line.split(None, 5)) == 6}


def _real_path(path, dir_fd=None):
    path = os.fsdecode(path)
    if dir_fd is not None and not os.path.isabs(path):
        path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
    return os.path.realpath(path)


def _sharing_violation(path):
    err = PermissionError(
        errno.EACCES,
        "The process cannot access the file because it is being used by another process",
        path,
    )
    err.winerror = 32  # type: ignore[attr-defined]
    return err


def _check_not_open(*paths):
    held = _open_here()
    for path, real in paths:
        if real in held:
            raise _sharing_violation(path)


def _replace(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
    if _from_ssfile():
        _check_not_open((src, _real_path(src, src_dir_fd)), (dst, _real_path(dst, dst_dir_fd)))
    _real.replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)


def _rename(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
    if _from_ssfile():
        if os.path.exists(dst):
            raise FileExistsError(
                errno.EEXIST, "Cannot create a file when that file already exists"
            )
        _check_not_open((src, _real_path(src, src_dir_fd)))
    _real.rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)


def _unlink(path, *, dir_fd=None):
    if _from_ssfile():
        _check_not_open((path, _real_path(path, dir_fd)))
    _real.unlink(path, dir_fd=dir_fd)


def _ftruncate(fd, length):
    if _from_ssfile() and length < os.fstat(fd).st_size:
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            real = None
        if real is not None and real in _mapped_here():
            # SetEndOfFile: ERROR_USER_MAPPED_FILE, which _chsize_s turns into EINVAL
            raise OSError(errno.EINVAL, "Invalid argument")
    _real.ftruncate(fd, length)


os.open = _open
os.read = _read
os.write = _write
os.close = _close
os.fsync = _fsync
os.replace = _replace
os.rename = _rename
os.unlink = os.remove = _unlink
os.ftruncate = _ftruncate

# ---- msvcrt ------------------------------------------------------------------------------------

_msvcrt = types.ModuleType("msvcrt", "Simulated: locking() on Linux OFD locks, setmode()")
_msvcrt.LK_UNLCK, _msvcrt.LK_LOCK, _msvcrt.LK_NBLCK, _msvcrt.LK_RLCK, _msvcrt.LK_NBRLCK = range(5)
_FLOCK = "=hh4xqqi4x"  # struct flock on 64-bit Linux: type, whence, start, len, pid
_msvcrt.calls = []  # (mode, position, nbytes) of every locking() call, for the tests


def _locking(fd, mode, nbytes):
    """UCRT's _locking: lock/unlock ``nbytes`` from the current position; a refused lock is
    EACCES at once (LK_NB*) or after 10 tries a second apart (LK_LOCK: EDEADLOCK)."""
    position = _real.lseek(fd, 0, os.SEEK_CUR)
    _msvcrt.calls.append((mode, position, nbytes))
    kind = _fcntl.F_UNLCK if mode == _msvcrt.LK_UNLCK else _fcntl.F_WRLCK
    request = struct.pack(_FLOCK, kind, os.SEEK_SET, position, nbytes, 0)
    tries = 10 if mode in (_msvcrt.LK_LOCK, _msvcrt.LK_RLCK) else 1
    for attempt in range(tries):
        try:
            _fcntl.fcntl(fd, _fcntl.F_OFD_SETLK, request)
            return
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if attempt + 1 < tries:
            time.sleep(0.1)
    if tries > 1:
        raise OSError(errno.EDEADLK, "Resource deadlock avoided")
    raise PermissionError(errno.EACCES, "Permission denied")


def _setmode(fd, flags):
    was_text = _is_text(fd)
    if flags & os.O_BINARY:  # type: ignore[attr-defined]
        _text_fds.pop(fd, None)
    elif flags & os.O_TEXT:  # type: ignore[attr-defined]
        _text_fds[fd] = _identity(fd)
    return os.O_TEXT if was_text else os.O_BINARY  # type: ignore[attr-defined]


_msvcrt.locking = _locking
_msvcrt.setmode = _setmode
sys.modules["msvcrt"] = _msvcrt

# ---- signals -----------------------------------------------------------------------------------

_KILL = signal.SIGKILL
for _name in [n for n in dir(signal) if n.startswith(("SIG", "ITIMER_"))]:
    if _name.startswith("SIG_") or _name in (
        "SIGABRT",
        "SIGFPE",
        "SIGILL",
        "SIGINT",
        "SIGSEGV",
        "SIGTERM",
    ):
        continue
    delattr(signal, _name)
for _name in (
    "alarm",
    "pause",
    "setitimer",
    "getitimer",
    "siginterrupt",
    "pthread_kill",
    "pthread_sigmask",
    "sigpending",
    "sigwait",
    "sigwaitinfo",
    "sigtimedwait",
    "SIG_BLOCK",
    "SIG_UNBLOCK",
    "SIG_SETMASK",
):
    if hasattr(signal, _name):
        delattr(signal, _name)
signal.SIGBREAK = 21  # type: ignore[attr-defined]
signal.CTRL_C_EVENT = 0  # type: ignore[attr-defined]
signal.CTRL_BREAK_EVENT = 1  # type: ignore[attr-defined]
subprocess.Popen.kill = lambda self: self.send_signal(_KILL)  # TerminateProcess on Windows

# ---- mmap --------------------------------------------------------------------------------------

for _name in [n for n in dir(mmap) if n.startswith(("MADV_", "MAP_", "PROT_"))]:
    delattr(mmap, _name)


class _WindowsMmap(mmap.mmap):
    """``mmap(fileno, length, tagname=None, access=ACCESS_DEFAULT, offset=0)``, no madvise."""

    def __new__(cls, fileno, length, tagname=None, access=mmap.ACCESS_DEFAULT, offset=0):
        if tagname is not None and not isinstance(tagname, str):
            raise TypeError("tagname must be a str (Windows has no flags argument)")
        return super().__new__(cls, fileno, length, access=access, offset=offset)

    @property
    def madvise(self):
        raise AttributeError("'mmap.mmap' object has no attribute 'madvise'")


mmap.mmap = _WindowsMmap

# ---- text streams ------------------------------------------------------------------------------

for _stream in (sys.stdout, sys.stderr):
    try:
        _stream.reconfigure(newline="\r\n")
    except (AttributeError, ValueError):
        pass
