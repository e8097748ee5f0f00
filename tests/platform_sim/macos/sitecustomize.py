"""Make this Linux Python look like macOS to ssfile (see tests/test_platform_sim.py).

Loaded at start-up like tests/platform_sim/windows/sitecustomize.py (in every process of the
run).  macOS is POSIX, so far less differs; what Linux has and macOS lacks is taken away, and
what macOS adds is given:

Taken away: ``os.posix_fadvise``, ``posix_fallocate``, ``fdatasync``, ``pipe2``,
``memfd_create``, ``eventfd``, ``copy_file_range``, ``splice``, ``sched_*``, the ``*xattr``
functions, the Linux-only ``os.O_*`` flags (``O_DIRECT``, ``O_NOATIME``, ``O_PATH``,
``O_TMPFILE``, ``O_LARGEFILE``), ``select.epoll``, the Linux-only ``mmap`` flags and advice
(``MAP_POPULATE``, ``MADV_HUGEPAGE``...), the Linux-only signals (``SIGRTMIN``, ``SIGPOLL``,
``SIGPWR``, ``SIGSTKFLT``) and ``/proc`` (``open`` and ``os.listdir`` of it fail).

Given: ``fcntl.F_FULLFSYNC`` (macOS's only way to get data onto the disk: its ``fsync`` stops at
the drive's cache), done here by ``os.fsync``; its calls are counted in
``fcntl.full_fsync_calls`` for the tests.
"""

import builtins
import fcntl
import mmap
import os
import select
import signal

os.environ["SSFILE_SIMULATED_PLATFORM"] = "macos"

for _name in (
    "posix_fadvise",
    "posix_fallocate",
    "fdatasync",
    "pipe2",
    "memfd_create",
    "eventfd",
    "copy_file_range",
    "splice",
    "sched_getaffinity",
    "sched_setaffinity",
    "getxattr",
    "setxattr",
    "listxattr",
    "removexattr",
    "O_DIRECT",
    "O_NOATIME",
    "O_PATH",
    "O_TMPFILE",
    "O_LARGEFILE",
    "O_RSYNC",
):
    if hasattr(os, _name):
        delattr(os, _name)

if hasattr(select, "epoll"):
    del select.epoll  # asyncio's selector becomes poll here (kqueue on macOS)

_MACOS_MADV = {"MADV_NORMAL", "MADV_RANDOM", "MADV_SEQUENTIAL", "MADV_WILLNEED", "MADV_DONTNEED"}
_MACOS_MAP = {"MAP_SHARED", "MAP_PRIVATE", "MAP_ANON", "MAP_ANONYMOUS"}
for _name in dir(mmap):
    if (_name.startswith("MADV_") and _name not in _MACOS_MADV) or (
        _name.startswith("MAP_") and _name not in _MACOS_MAP
    ):
        delattr(mmap, _name)

for _name in ("SIGRTMIN", "SIGRTMAX", "SIGPOLL", "SIGPWR", "SIGSTKFLT", "SIGCLD"):
    if hasattr(signal, _name):
        delattr(signal, _name)

# ---- F_FULLFSYNC ---------------------------------------------------------------------------------

fcntl.F_FULLFSYNC = 51  # macOS's value; no Linux command has it
fcntl.full_fsync_calls = 0
_real_fcntl = fcntl.fcntl


def _fcntl(fd, cmd, arg=0):
    if cmd == fcntl.F_FULLFSYNC:
        fcntl.full_fsync_calls += 1
        os.fsync(fd)
        return 0
    return _real_fcntl(fd, cmd, arg)


fcntl.fcntl = _fcntl

# ---- no /proc --------------------------------------------------------------------------------------


def _no_proc(path):
    try:
        text = os.fsdecode(path) if not isinstance(path, int) else ""
    except TypeError:
        return
    if text == "/proc" or text.startswith("/proc/"):
        raise FileNotFoundError(2, "No such file or directory", text)


_real_open, _real_os_open, _real_listdir = builtins.open, os.open, os.listdir


def _open(file, *args, **kwargs):
    _no_proc(file)
    return _real_open(file, *args, **kwargs)


def _os_open(path, *args, **kwargs):
    _no_proc(path)
    return _real_os_open(path, *args, **kwargs)


def _listdir(path="."):
    _no_proc(path)
    return _real_listdir(path)


builtins.open = _open
os.open = _os_open
os.listdir = _listdir
