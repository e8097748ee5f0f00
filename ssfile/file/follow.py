"""Following a growing file (``tail -f``): wait at the end until another process appends.

The reader calls :meth:`Follower.wait` when a read returns nothing.  It sleeps with a
backoff (1 ms doubling up to :data:`MAX_SLEEP`), so new data is seen within ``MAX_SLEEP``
plus the time to decode it, and an idle follower wakes up 20 times a second to make two
``stat`` calls -- far below 1% of a core.  A partly written last frame is simply waited
through: the decoder keeps the bytes it has and asks for more.

It raises :class:`FollowError` when the file shrinks below what has been read (truncated)
or the path now names another file or nothing (replaced, removed): the bytes being
followed are no longer the recording.
"""

from __future__ import annotations

import os
import threading
from typing import BinaryIO

from ..errors import SSError

MIN_SLEEP = 0.001
MAX_SLEEP = 0.05


class FollowError(SSError):
    """The followed file was truncated, replaced or removed."""


class Follower:
    """Waits for ``f`` to grow past its current position."""

    def __init__(self, f: BinaryIO, path: str | None) -> None:
        try:
            self._fd = f.fileno()
        except (AttributeError, OSError, ValueError):
            raise ValueError("follow=True needs a real file (one with a file descriptor)") from None
        self._f = f
        self._path = path
        st = os.fstat(self._fd)
        self._identity = (st.st_dev, st.st_ino)
        self._closed = threading.Event()
        self.wakeups = 0

    def close(self) -> None:
        """Make a waiting (or the next) :meth:`wait` return False at once."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait(self) -> bool:
        """Block until the file has bytes past the read position: True; False once closed."""
        position = self._f.tell()
        sleep = MIN_SLEEP
        while not self._closed.is_set():
            if self._check(position):
                return True
            self._closed.wait(sleep)
            self.wakeups += 1
            sleep = min(sleep * 2, MAX_SLEEP)
        return False

    def _check(self, position: int) -> bool:
        size = os.fstat(self._fd).st_size
        check_same_file(self._path, self._identity, size, position)
        return size > position


def check_same_file(path: str | None, identity: tuple[int, int], size: int, position: int) -> None:
    """Raise :class:`FollowError` when a file being followed has shrunk below ``position``
    (the bytes already read: truncated), or ``path`` now names another file or nothing
    (replaced, removed).  ``identity`` is ``(st_dev, st_ino)`` of the file when opened,
    ``size`` its size now (fstat of the open descriptor).  Shared by :class:`Follower` and the
    streamer's file tail."""
    name = path or "<file>"
    if size < position:
        raise FollowError(
            f"{name}: file was truncated while following "
            f"(size {size} < {position} bytes already read)"
        )
    if path is not None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FollowError(f"{name}: file was removed while following") from None
        if (st.st_dev, st.st_ino) != identity:
            raise FollowError(f"{name}: file was replaced while following")


__all__ = ["FollowError", "Follower", "MAX_SLEEP", "check_same_file"]
