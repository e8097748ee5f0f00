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
"""

from __future__ import annotations

import asyncio
import atexit
import warnings
import weakref

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
        if self.messages and not self.kept:
            self.kept = True  # told once
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


def _unacknowledged_at_exit() -> None:
    # registered before the backends' and the sync facade's hooks, so it runs after them
    # (atexit runs last in, first out): what they flush at exit is acknowledged by then
    for window in list(_live):
        window.warn_unacknowledged("was never flushed: the program ended")


atexit.register(_unacknowledged_at_exit)
