"""Flow control of producers: the bound on what one holds unacknowledged (spec/streamer.md).

A :class:`Window` counts the messages (and payload bytes) a producer was given and the
backend has not yet acknowledged (stored, or failed: either way its receipt resolves).
``take`` refuses a message at the bound with :class:`~ssfile.errors.BufferFull`; ``room``
waits, as asyncio's ``StreamWriter.drain``: at once while below the bound, else until the
producer holds at most half of it (so a loop of send/drain wakes once per half window, not
once per acknowledgement).

A window collected while it still counts messages belongs to a producer dropped before they
were acknowledged (a backend task still delivering them would hold it), and one that still
counts messages when the program ends was never flushed: a :class:`RuntimeWarning` says so
either way, typically for a program whose event loop ended without ``flush()`` or
``disconnect()``.  File producers are exempt (``kept``): their messages are in
the file's writer, which hands them to the OS at exit (file_backend.py).

One exit hook does all of it, in an order that does not depend on which module was imported
first: the backends' and the sync facade's deliverers (:func:`at_exit`), then the look at
the windows, so that what was delivered at exit is not told as lost.
"""

from __future__ import annotations

import asyncio
import atexit
import warnings
import weakref
from collections.abc import Callable

from ..errors import BufferFull
from .options import ProducerOptions


class Window:
    __slots__ = (
        "max_messages",
        "max_bytes",
        "messages",
        "bytes",
        "failed",
        "_where",
        "_room",
        "grace",
        "kept",
        "_told",
        "__weakref__",
    )

    def __init__(self, options: ProducerOptions | None, where: str) -> None:
        options = (options or ProducerOptions()).check()
        self.max_messages = options.max_messages
        self.max_bytes = options.max_bytes
        self.messages = 0
        self.bytes = 0
        self.failed = 0  # messages whose receipt failed, in all
        self._where = where
        self._room: asyncio.Event | None = None
        self.grace = 0  # messages ``take`` counts without the bound check (a batch checked whole)
        self.kept = False  # True: what it holds is safe without the producer (file backend)
        self._told = False  # warn_unacknowledged said so already
        _live.add(self)

    def full(self) -> bool:
        return self.messages >= self.max_messages or self.bytes >= self.max_bytes

    def take(self, nbytes: int) -> None:
        """Count one message of ``nbytes`` payload, or raise BufferFull at the bound."""
        if self.grace:
            self.grace -= 1
        elif self.messages and (
            self.messages >= self.max_messages or self.bytes + nbytes > self.max_bytes
        ):
            raise self._full()
        self.messages += 1
        self.bytes += nbytes

    def fits(self, messages: int, nbytes: int) -> bool:
        """Whether a batch of ``messages`` (``nbytes`` in all) is taken whole: it fits below
        the bound, or the producer holds nothing (then it is taken even beyond the bound)."""
        return not self.messages or (
            self.messages + messages <= self.max_messages and self.bytes + nbytes <= self.max_bytes
        )

    def check_batch(self, messages: int, nbytes: int) -> None:
        """Raise BufferFull unless a batch of ``messages`` (``nbytes``) :meth:`fits`."""
        if not self.fits(messages, nbytes):
            raise self._full()

    def take_batch(self, messages: int, nbytes: int) -> None:
        """Count a whole batch, or raise BufferFull (nothing taken) unless it :meth:`fits`."""
        self.check_batch(messages, nbytes)
        self.messages += messages
        self.bytes += nbytes

    def _full(self) -> BufferFull:
        return BufferFull(
            f"{self._where} holds {self.messages} unacknowledged messages "
            f"({self.bytes} bytes; bound: {self.max_messages} messages, "
            f"{self.max_bytes} bytes): await producer.drain() before sending more"
        )

    def give(self, messages: int, nbytes: int, failed: int = 0) -> None:
        """``messages`` of ``nbytes`` in all were acknowledged: stored, or (``failed`` of
        them) failed."""
        self.messages -= messages
        self.bytes -= nbytes
        self.failed += failed
        room = self._room
        if room is not None and self._low():
            self._room = None
            room.set()

    def __del__(self) -> None:
        self.warn_unacknowledged("was dropped")

    def warn_unacknowledged(self, how: str) -> None:
        """A RuntimeWarning if this window still counts messages (once)."""
        if self.messages and not self.kept and not self._told:
            self._told = True
            try:
                warnings.warn(
                    f"{self._where} {how} holding {self.messages} unacknowledged messages, "
                    "which may not have been stored: await producer.flush() or "
                    "streamer.disconnect() before the event loop ends",
                    RuntimeWarning,
                    stacklevel=1,
                )
            except Exception:  # noqa: BLE001, S110 - the interpreter is shutting down
                pass

    def _low(self) -> bool:
        return self.messages <= self.max_messages // 2 and self.bytes <= self.max_bytes // 2

    async def room(self) -> None:
        """Return at once below the bound; else wait until at most half of it is held."""
        while self.full():
            if self._room is None:
                self._room = asyncio.Event()
            await self._room.wait()


#: every window alive, for the look at exit (weak: a dropped producer's window says so itself)
_live: weakref.WeakSet[Window] = weakref.WeakSet()
#: what delivers at exit what programs left unflushed (backends, the sync facade), in order
_deliverers: list[Callable[[], None]] = []


def at_exit(deliver: Callable[[], None]) -> None:
    """Run ``deliver`` when the program ends, before the windows are looked at."""
    _deliverers.append(deliver)


def loop_running(task: asyncio.Task[None] | None) -> bool:
    """Whether ``task``'s event loop still runs (at exit: in another thread, the sync
    facade's): what it owns is left to that loop's owner, never touched from here."""
    return task is not None and task.get_loop().is_running()


def _at_exit() -> None:
    for deliver in _deliverers:
        deliver()
    for window in list(_live):
        window.warn_unacknowledged("was never flushed: the program ended")


atexit.register(_at_exit)
