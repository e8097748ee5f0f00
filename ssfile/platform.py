"""What differs between Linux, macOS and Windows, in one place.

Each piece is chosen by what the running Python offers, never by the platform's name, so
that ``tests/windows_sim`` and ``tests/macos_sim`` can take features away on Linux and run
the fallbacks for real (tests/test_platform_sim.py).  It sits at the bottom layer (it imports
only :mod:`ssfile.errors`), so the CLI can use it before loading anything else.

* :func:`lock_writer`: one writer per file.  ``flock`` where it exists; on Windows
  ``msvcrt.locking`` of one byte at :data:`LOCK_OFFSET`, far past any real end of file,
  because Windows locks are mandatory: a lock on data would make every reader fail.
* :func:`pread`: ``os.pread``, else ``lseek`` + ``read`` under a lock.
* :data:`O_BINARY`: added to every ``os.open`` of a ``.ss`` file.  Windows' C runtime opens
  in text mode by default (``\\n`` written as ``\\r\\n``, ``\\r\\n`` read as ``\\n``, byte
  0x1A read as the end of the file).
* :func:`fsync`: ``F_FULLFSYNC`` where it exists (macOS: plain ``fsync`` there only hands the
  data to the drive's cache), else ``os.fsync``.  :func:`fsync_path` opens for writing, as
  Windows can flush only a handle open for writing; :func:`fsync_dir` does nothing where a
  directory cannot be opened (Windows).
* :func:`truncate`: Windows refuses to shrink a file that another process has memory-mapped
  (a reader in ``verify``, ``to_pandas``...): a clear error instead of ``[WinError 1224]``.
* :func:`replace`: Windows refuses to replace a file that another process has open, and a
  virus scanner or indexer often holds a new file for a moment: retried for up to a second
  there, and a lasting refusal says what holds the file.
* :func:`copy_mode`: ``os.fchmod`` is missing on Windows before Python 3.13.
* :func:`check_file_name`: Windows names that would not be a plain file (``a:b.ss`` is an
  alternate data stream of ``a``, ``NUL.ss`` a device) are refused before anything is written.
* :func:`open_files_limit`: the soft ``RLIMIT_NOFILE`` where ``resource`` exists, else the
  512 descriptors Windows' C runtime gives at least.
* :func:`process_alive`: ``kill(pid, 0)`` on POSIX; unknown (None) on Windows, where
  ``os.kill`` would terminate the process.
* :func:`use_lf_newlines`: the CLI writes ``\\n`` line ends on every platform (Windows' text
  streams would write ``\\r\\n``), so outputs are the same bytes everywhere.
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import sys
import threading
import time
from types import ModuleType

from .errors import SSError, UsageError


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_fcntl = _optional("fcntl")  # POSIX
_msvcrt = _optional("msvcrt") if _fcntl is None else None  # Windows

#: Windows semantics apply (mandatory locks, files open elsewhere cannot be replaced or
#: shrunk, drive letters in ``file://`` URLs): the C runtime module exists only there
WINDOWS = _msvcrt is not None

#: or-ed into every ``os.open`` flags of a binary file (0 where there is no text mode)
O_BINARY: int = getattr(os, "O_BINARY", 0)

#: where the Windows writer lock sits: one byte at 4 TiB, far past any real recording, so no
#: read of data ever touches it (and within every file system's largest file, so the seek there
#: is accepted)
LOCK_OFFSET = 1 << 42

_ERROR_USER_MAPPED_FILE = 1224  # Windows: a mapped view of the file is open
_ERROR_SHARING_VIOLATION = 32
_ERROR_ACCESS_DENIED = 5


_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{d}{n}" for d in ("COM", "LPT") for n in range(1, 10))}
_BAD_CHARS = set('<>:"|?*') | {chr(c) for c in range(32)}


def check_file_name(path: str) -> None:
    """On Windows, refuse a file name that would not name a plain new file there: ``a:b.ss``
    writes into an alternate data stream of ``a``, ``NUL.ss`` is a device, a trailing dot or
    space is dropped.  A :class:`~ssfile.errors.UsageError` naming the path and the reason."""
    if not WINDOWS:
        return
    name = os.path.basename(path.replace("\\", "/"))
    bad = sorted(set(name) & _BAD_CHARS)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        reason = f"the name has {shown}, which Windows does not allow in a file name"
    elif name.split(".")[0].strip().upper() in _RESERVED:
        reason = "the name is a Windows device name"
    elif name.endswith((".", " ")):
        reason = "Windows drops a trailing dot or space from a file name"
    else:
        return
    raise UsageError(f"{path}: cannot create this file: {reason}")


def open_binary(path: str, flags: int, mode: int = 0o666) -> int:
    """``os.open`` in binary mode (no newline translation on Windows)."""
    return os.open(path, flags | O_BINARY, mode)


def lock_writer(fd: int, path: str) -> None:
    """Take the exclusive writer lock of the open file ``fd``, or raise
    :class:`~ssfile.errors.SSError` ``"PATH: another writer holds this file"`` at once."""
    if _fcntl is not None:
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
        except BlockingIOError:
            raise SSError(f"{path}: another writer holds this file") from None
        return
    if _msvcrt is None:  # pragma: no cover - neither POSIX nor Windows
        raise SSError(f"{path}: this platform has no file locking (flock or msvcrt.locking)")
    try:
        _at_lock_byte(fd, _msvcrt.LK_NBLCK)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EDEADLK, errno.EAGAIN):
            raise SSError(f"{path}: another writer holds this file") from None
        raise


def unlock_writer(fd: int) -> None:
    """Release the lock before ``fd`` is closed.  Windows releases a lock left at close only
    "when resources allow"; ``flock`` locks go with the close itself."""
    if _fcntl is None and _msvcrt is not None:
        try:
            _at_lock_byte(fd, _msvcrt.LK_UNLCK)
        except OSError:
            pass  # closing releases it anyway


def _at_lock_byte(fd: int, mode: int) -> None:
    """``msvcrt.locking`` works from the file position: go there and back."""
    assert _msvcrt is not None
    position = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, LOCK_OFFSET, os.SEEK_SET)
    try:
        _msvcrt.locking(fd, mode, 1)
    finally:
        os.lseek(fd, position, os.SEEK_SET)


_seek_lock = threading.Lock()


def _pread_by_seek(fd: int, n: int, offset: int) -> bytes:
    with _seek_lock:  # the position is shared by every thread using fd
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)


#: ``pread(fd, n, offset)``: up to ``n`` bytes at ``offset`` (fewer at the end of the file)
if hasattr(os, "pread"):
    pread = os.pread
else:  # Windows
    pread = _pread_by_seek


_NO_FULLFSYNC = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTTY}


def fsync(fd: int) -> None:
    """Flush ``fd`` to stable storage (``F_FULLFSYNC`` where it exists, else ``fsync``)."""
    full = getattr(_fcntl, "F_FULLFSYNC", None)
    if full is not None and _fcntl is not None:
        try:
            _fcntl.fcntl(fd, full)
            return
        except OSError as err:
            # a file system without it (some network ones): the plain fsync below; any other
            # failure (EIO...) is a failed fsync and must not be retried into a success
            if err.errno not in _NO_FULLFSYNC:
                raise
    os.fsync(fd)


def fsync_path(path: str) -> None:
    """:func:`fsync` a closed file by name (on Windows opened for writing: it can flush only
    such a handle)."""
    fd = open_binary(path, os.O_RDWR if WINDOWS else os.O_RDONLY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Make a rename or a new file in directory ``path`` durable where the system allows
    it; nothing where a directory cannot be opened or flushed (Windows, some file systems)."""
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def truncate(fd: int, size: int, path: str) -> None:
    """``os.ftruncate``; on Windows a file mapped by another process cannot be shrunk, which
    is reported as such (an :class:`~ssfile.errors.SSError`)."""
    try:
        os.ftruncate(fd, size)
    except OSError as err:
        # Windows: ERROR_USER_MAPPED_FILE, which the C runtime's _chsize_s reports as EINVAL
        mapped = getattr(err, "winerror", None) == _ERROR_USER_MAPPED_FILE or (
            WINDOWS and err.errno in (errno.EINVAL, errno.EACCES)
        )
        if not mapped:
            raise
        raise SSError(
            f"{path}: cannot cut the file to {size} bytes ({err.strerror}): Windows refuses "
            "while another program has it memory-mapped (a reader such as ssfile verify or "
            "to_pandas); close that and retry"
        ) from None


#: how long :func:`replace` keeps retrying a refused rename on Windows
REPLACE_PATIENCE = 1.0


def replace(src: str, dst: str) -> None:
    """``os.replace``; on Windows retried while another process briefly holds ``dst`` (or
    ``src``), and a lasting refusal names the cause."""
    deadline = time.monotonic() + REPLACE_PATIENCE
    delay = 0.01
    while True:
        try:
            os.replace(src, dst)
            return
        except PermissionError as err:
            if not WINDOWS or getattr(err, "winerror", None) not in (
                None,
                _ERROR_ACCESS_DENIED,
                _ERROR_SHARING_VIOLATION,
            ):
                raise
            if time.monotonic() >= deadline:
                err.strerror = (
                    f"{err.strerror or 'access denied'} (another program has the file open, "
                    "or it is read-only)"
                )
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def copy_mode(fd: int, path: str, mode: int) -> None:
    """Give the open file ``fd`` (named ``path``) the permission bits ``mode``."""
    fchmod = getattr(os, "fchmod", None)
    if fchmod is not None:
        fchmod(fd, mode)
    else:  # Windows before Python 3.13: only the read-only bit means anything there
        os.chmod(path, mode)


def use_lf_newlines() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` write ``\\n`` line ends (Windows' text streams
    write ``\\r\\n``), so the CLI's output is the same bytes on every platform."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            try:
                stream.reconfigure(newline="\n")
            except (OSError, ValueError):
                pass  # already closed or detached: nothing to do


#: the open files assumed where the limit cannot be read (Windows' C runtime: 512 at least)
DEFAULT_OPEN_FILES = 512


def open_files_limit() -> int:
    """How many files this process may have open at once (the soft ``RLIMIT_NOFILE``; a
    large number where it is unlimited)."""
    resource = _optional("resource")  # POSIX
    if resource is None:
        return DEFAULT_OPEN_FILES
    soft = int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    return 1 << 20 if soft == resource.RLIM_INFINITY or soft < 0 else soft


def process_alive(pid: int) -> bool | None:
    """Whether a process ``pid`` runs on this machine (its pid namespace); None where that
    cannot be asked safely (Windows: ``os.kill`` terminates)."""
    if WINDOWS or not hasattr(os, "kill"):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return None
    return True


__all__ = [
    "DEFAULT_OPEN_FILES",
    "LOCK_OFFSET",
    "O_BINARY",
    "WINDOWS",
    "check_file_name",
    "copy_mode",
    "fsync",
    "fsync_dir",
    "fsync_path",
    "lock_writer",
    "open_binary",
    "open_files_limit",
    "pread",
    "process_alive",
    "replace",
    "truncate",
    "unlock_writer",
    "use_lf_newlines",
]
