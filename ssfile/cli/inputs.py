"""Input paths shared by the commands: a command that needs a seekable file refuses anything
else at once (a FIFO without a writer would block it forever), a command that reads a stream
says when it waits for a FIFO's writer, and ``-`` (stdin) becomes a temporary file for the
commands that need to seek (:func:`seekable_input`)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator

from ..errors import UsageError
from ..file.output import STDIN, named

#: how a command names stdin in its output and messages
STDIN_NAME = "<stdin>"

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def _kind(path: str) -> str | None:
    """What ``path`` is when it is not a regular file; None for a regular or missing file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # opening it reports the error with its name
    if stat.S_ISREG(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def require_seekable(path: str, command: str) -> None:
    """Refuse a FIFO, device, socket or directory where ``command`` needs a regular file."""
    kind = _kind(path)
    if kind is not None:
        hint = " (`ssfile decode` reads a stream)" if kind != "a directory" else ""
        raise UsageError(f"{path}: is {kind}; `ssfile {command}` needs a regular file{hint}")


def say_if_waiting(path: str, command: str) -> None:
    """A FIFO is a fine stream, but opening it waits for a writer: say so on stderr."""
    if _kind(path) == "a FIFO":
        print(
            f"ssfile {command}: {path} is a FIFO: waiting for a writer (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )


def display_name(path: str) -> str:
    """``path`` as shown in output and messages: ``<stdin>`` for ``-``."""
    return STDIN_NAME if path == "-" else path


def check_stdin(command: str) -> None:
    """``-`` on a terminal would wait for typed bytes: refuse it instead."""
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError(f"`ssfile {command} -` reads a .ss file from stdin: pipe or redirect one")


@contextlib.contextmanager
def seekable_input(path: str, command: str) -> Iterator[str]:
    """A regular file to read ``path`` from: ``path`` itself (a FIFO or device is refused,
    see :func:`require_seekable`), or for ``-`` a temporary copy of stdin in ``$TMPDIR``,
    read to its end first and removed afterwards (also on an error or Ctrl-C)."""
    if path != "-":
        require_seekable(path, command)
        yield path
        return
    check_stdin(command)
    import tempfile  # only for a pipe on stdin: not at start-up

    fd, tmp = tempfile.mkstemp(prefix="ssfile-stdin-", suffix=".ss")
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                with named(STDIN):
                    data = sys.stdin.buffer.read(1 << 20)
                if not data:
                    break
                with named(f"{tmp} (the copy of stdin)"):
                    out.write(data)
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
