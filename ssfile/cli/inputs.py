"""Checks on input paths shared by the commands: a command that needs a seekable file refuses
anything else at once (a FIFO without a writer would block it forever), and a command that
reads a stream says when it waits for a FIFO's writer."""

from __future__ import annotations

import os
import stat
import sys

from ..errors import UsageError

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
