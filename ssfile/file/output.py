"""How commands write files: never over one of their own inputs, and new files atomically.

Two kinds of output (spec/cli.md, "Outputs"):

* :class:`NewFile` -- a command that produces a whole new file (``encode``, ``repair``,
  ``demo``, later ``convert``/``filter``/``merge``/``split``) writes it under a temporary
  name in the target's directory; :meth:`NewFile.commit` fsyncs it and renames it into place.
  Until then the target is untouched: an error, Ctrl-C or a kill leaves the old file (or no
  file) as it was, and the temporary file is removed.  A SIGKILL or a crash leaves it behind:
  it is named ``.NAME.HOST-PID.XXXXXXXX.tmp`` (this machine's name and the writing process's
  id), and the first new file a process writes into a directory removes every such file of
  this machine there whose process no longer runs (:func:`remove_stale_temporaries`).
* :func:`check_in_place` -- a command that records into a file, appending to (resuming) an
  existing one (``relay`` to ``file://``, ``dump``), writes in place so that followers can
  read it live and a rerun can resume it; a kill leaves at most a torn tail, which appending
  and ``ssfile repair`` handle.

Both refuse an output that is one of the command's inputs: the same file (``st_dev`` and
``st_ino``) reached through any path, hard link or symbolic link, or the file behind a
file descriptor such as stdin (0) when the input is read from a pipe or a redirection.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
from collections.abc import Iterable, Iterator

from .. import platform
from ..errors import UsageError

#: an input or output: a path, or a file descriptor (0 = stdin, 1 = stdout)
Endpoint = str | os.PathLike[str] | int

STDIN, STDOUT = 0, 1


def describe(endpoint: Endpoint) -> str:
    """A name for messages: the path, ``<stdin>``/``<stdout>`` or ``<fd N>``."""
    if isinstance(endpoint, int):
        return {STDIN: "<stdin>", STDOUT: "<stdout>"}.get(endpoint, f"<fd {endpoint}>")
    return os.fspath(endpoint)


def _stat(endpoint: Endpoint) -> os.stat_result | None:
    """The file behind a path (links followed) or a descriptor; None if there is none."""
    try:
        return os.fstat(endpoint) if isinstance(endpoint, int) else os.stat(endpoint)
    except (OSError, ValueError):
        return None


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def refuse_same(output: Endpoint, inputs: Iterable[Endpoint]) -> None:
    """Raise :class:`UsageError` if ``output`` is the same file as one of ``inputs``.

    Only files can clash: two pipes or terminals are never "the same file" here (a command
    reading stdin from a terminal and writing stdout to it is normal).
    """
    out = _stat(output)
    if out is None or not (stat.S_ISREG(out.st_mode) or stat.S_ISBLK(out.st_mode)):
        return
    for source in inputs:
        st = _stat(source)
        if st is not None and _same(st, out):
            name, source_name = describe(output), describe(source)
            what = (
                "the input" if name == source_name else f"the same file as the input {source_name}"
            )
            raise UsageError(f"refusing to write {name}: it is {what}")


def _check_target(path: str) -> os.stat_result | None:
    st = _stat(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: not a regular file (an output must be a file or a new name)")
    return st


def check_in_place(path: str | os.PathLike[str], inputs: Iterable[Endpoint] = ()) -> None:
    """For an output written in place (created or appended to): it is a regular file or does
    not exist yet, and it is none of ``inputs``."""
    path = os.fspath(path)
    _check_target(path)
    refuse_same(path, inputs)


def _host_tag() -> str:
    """This machine's name as it appears in temporary names: letters, digits, ``_`` and
    ``-`` only (a directory shared by several machines or containers, each its own pids)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:32] or "host"


#: the directories whose stale temporary files this process has already removed
_cleaned: set[str] = set()


def remove_stale_temporaries(directory: str) -> list[str]:
    """Remove the temporary files a killed writer of this machine left in ``directory``
    (``.NAME.HOST-PID.XXXXXXXX.tmp`` whose PID no longer runs); returns their paths.

    Others are never touched: another machine's, a running process's, one whose process
    cannot be asked about (Windows), or any other name."""
    stale = re.compile(r"\..+\." + re.escape(_host_tag()) + r"-(\d+)\.[0-9a-f]{8}\.tmp")
    removed: list[str] = []
    try:
        entries = os.listdir(directory or ".")
    except OSError:
        return removed
    for entry in entries:
        match = stale.fullmatch(entry)
        if match is None or platform.process_alive(int(match.group(1))) is not False:
            continue
        path = os.path.join(directory, entry)
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            os.unlink(path)
            removed.append(path)
    return removed


class NewFile:
    """A new file for ``target``, written at :attr:`path` (a temporary name beside the target)
    and put in place by :meth:`commit`.

    ``overwrite=False`` refuses an existing target.  As a context manager: an exception
    discards the temporary file; a normal exit commits it unless :meth:`commit`,
    :meth:`commit_if_new` or :meth:`discard` was already called.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        inputs: Iterable[Endpoint] = (),
        overwrite: bool = True,
    ) -> None:
        self.target = os.fspath(target)
        platform.check_file_name(self.target)
        # a symbolic link stays a link: the file it points to is the one replaced
        self.real = os.path.realpath(self.target)
        st = _check_target(self.real)
        refuse_same(self.target, inputs)
        if st is not None and not overwrite:
            raise UsageError(
                f"{self.target} already exists (choose another output, or overwrite it with --force)"
            )
        self.existed = st is not None
        self.done = False
        directory, name = os.path.split(self.real)
        if directory not in _cleaned:  # once per directory: split writes thousands there
            _cleaned.add(directory)
            remove_stale_temporaries(directory)
        owner = f"{_host_tag()}-{os.getpid()}"
        while True:
            path = os.path.join(directory, f".{name}.{owner}.{os.urandom(4).hex()}.tmp")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            except OSError as err:  # no such directory, no permission: say it of the target
                err.filename = self.target
                raise
            break
        with named(self.target):
            self.path = path
            try:
                if st is not None:
                    # keep the old file's permissions
                    platform.copy_mode(fd, path, stat.S_IMODE(st.st_mode))
            finally:
                os.close(fd)

    def _sync(self) -> None:
        platform.fsync_path(self.path)

    def _sync_directory(self) -> None:
        # not possible everywhere (Windows, some file systems); the rename is done either way
        platform.fsync_dir(os.path.dirname(self.real))

    def _of_target(self, err: BaseException) -> BaseException:
        """An error about the temporary file or the rename, told of the target."""
        if isinstance(err, OSError) and err.filename in (None, self.path):
            err.filename, err.filename2 = self.target, None
        return err

    def commit(self) -> None:
        """fsync the new file and rename it over the target (atomically)."""
        if self.done:
            return
        with named(self.target):
            try:
                self._sync()
                platform.replace(self.path, self.real)
            except BaseException as err:
                self.discard()
                raise self._of_target(err)
        self.done = True
        self._sync_directory()

    def commit_if_new(self) -> bool:
        """Put a partial result in place only where there is no file: True if it was put
        there, False if the target exists (it is left unchanged and the new file removed)."""
        if self.done:
            return False
        with named(self.target):
            try:
                self._sync()
                os.link(self.path, self.real)  # fails if the target exists: never replaces
            except FileExistsError:
                self.discard()
                return False
            except BaseException as err:
                self.discard()
                raise self._of_target(err)
        self.discard()
        self._sync_directory()
        return True

    def discard(self) -> None:
        """Remove the temporary file; the target is left as it was."""
        self.done = True
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> NewFile:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.commit()
            return
        self.discard()
        assert exc is not None
        told = self.as_target_error(exc)
        if told is not exc:
            raise told from None

    def as_target_error(self, exc: BaseException) -> BaseException:
        """A failed write to the temporary file (a full disk) as an OSError of the target,
        which is unchanged (WriteFailed's advice to append to or repair the file no longer
        applies once it is discarded); any other error as it is."""
        if isinstance(exc, OSError) and exc.filename == self.path:
            return OSError(exc.errno, exc.strerror or str(exc), self.target)
        return exc


@contextlib.contextmanager
def named(path: Endpoint) -> Iterator[None]:
    """Give an :class:`OSError` raised inside without a file name (``os.write`` on a full
    disk, ``fsync``) the name of ``path``, so that every message says which file failed."""
    try:
        yield
    except OSError as err:
        if err.filename is None and not isinstance(err, BrokenPipeError):
            err.filename = describe(path)
        raise
