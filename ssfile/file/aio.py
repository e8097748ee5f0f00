"""asyncio reading: the same :class:`~ssfile.file.reader.Reader` (and so the same sans-I/O
decoder), driven from worker threads, with messages handed to the event loop in batches.

    async with ssfile.aopen("rec.ss") as r:
        await r.seek_time(t)
        async for m in r:
            ...

Each hop to the worker thread reads and decodes one chunk (about a megabyte: thousands of
messages), so the cost of crossing threads is paid per batch, not per message.  Blocking
work -- reading, decoding, seeking, and with ``follow=True`` waiting for the file to grow --
happens in the thread; the loop only hands messages out.  :meth:`AsyncReader.batches`
yields the lists themselves for callers that want even less per-message overhead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

from ..format.records import FileHeader
from ..timefmt import TimeLike
from ..types import Message
from .reader import Reader
from .slice import next_messages


def _one_thread() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssfile-aio")


class AsyncReader:
    """An open ``.ss`` file for asyncio code; see :func:`aopen`."""

    def __init__(
        self, reader: Reader, executor: concurrent.futures.ThreadPoolExecutor | None = None
    ) -> None:
        self._reader = reader
        # one thread per reader: the decoder's state stays on one core (a pool would hop)
        self._executor = executor or _one_thread()
        self._lock = asyncio.Lock()
        self._done = False
        self._pending: asyncio.Future[Any] | None = None

    @property
    def header(self) -> FileHeader:
        return self._reader.header

    @property
    def ended(self) -> bool:
        """Whether the EOS frame has been read."""
        return self._reader.ended

    @property
    def reader(self) -> Reader:
        """The synchronous reader underneath (do not use it while a call is pending)."""
        return self._reader

    async def _call(self, fn: Any, *args: Any) -> Any:
        async with self._lock:
            if self._pending is not None and not self._pending.done():
                await asyncio.gather(self._pending, return_exceptions=True)
            # shielded: a cancelled caller leaves the thread to finish; aclose() waits for it
            self._pending = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
            return await asyncio.shield(self._pending)

    async def next_batch(self) -> list[Message] | None:
        """The next batch of messages (possibly empty); None at the end."""
        if self._done:
            return None
        batch: list[Message] | None = await self._call(next_messages, self._reader)
        if batch is None:
            self._done = True
        return batch

    async def batches(self) -> AsyncIterator[list[Message]]:
        """Non-empty lists of consecutive messages, until the end (or EOS)."""
        while True:
            batch = await self.next_batch()
            if batch is None:
                return
            if batch:
                yield batch

    async def _messages(self) -> AsyncIterator[Message]:
        async for batch in self.batches():
            for m in batch:
                yield m

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def read_all(self) -> list[Message]:
        out: list[Message] = []
        async for batch in self.batches():
            out.extend(batch)
        return out

    # ---- seeking: the Reader's, in the worker thread -----------------------------------------

    async def seek_time(self, when: TimeLike) -> Message | None:
        """:meth:`ssfile.Reader.seek_time`, in the worker thread."""
        self._done = False
        return await self._call(self._reader.seek_time, when)  # type: ignore[no-any-return]

    async def seek_sequence(self, stream_key: str, shard_id: int, sequence: int) -> Message | None:
        self._done = False
        return await self._call(self._reader.seek_sequence, stream_key, shard_id, sequence)  # type: ignore[no-any-return]

    async def seek_beacon(self, n: int) -> int:
        self._done = False
        return await self._call(self._reader.seek_beacon, n)  # type: ignore[no-any-return]

    async def rewind(self) -> None:
        self._done = False
        await self._call(self._reader.rewind)

    async def seek_end(self) -> None:
        self._done = False
        await self._call(self._reader.seek_end)

    # ---- closing -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        follower = self._reader._follower
        if follower is not None:
            follower.close()  # wakes a worker waiting for data
        if self._pending is not None and not self._pending.done():
            await asyncio.gather(self._pending, return_exceptions=True)
        self._reader.close()
        self._executor.shutdown(wait=False)
        self._done = True

    async def __aenter__(self) -> AsyncReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Opener:
    """What :func:`aopen` returns: ``async with`` it, or ``await`` it."""

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, options: dict[str, Any]) -> None:
        self._source = source
        self._options = options
        self._reader: AsyncReader | None = None

    async def _open(self) -> AsyncReader:
        executor = _one_thread()
        try:
            reader = await asyncio.get_running_loop().run_in_executor(
                executor, lambda: Reader(self._source, **self._options)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return AsyncReader(reader, executor)

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._open().__await__()

    async def __aenter__(self) -> AsyncReader:
        self._reader = await self._open()
        return self._reader

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            await self._reader.aclose()


def aopen(source: str | os.PathLike[str] | BinaryIO, **options: Any) -> _Opener:
    """Open a ``.ss`` file for asyncio: ``async with ssfile.aopen(path) as r: async for m in r``.

    Takes the :class:`~ssfile.file.reader.Reader` options (``follow=True``,
    ``check_crc``, ``tolerate_truncation``...).  ``r = await ssfile.aopen(path)`` works
    too (then ``await r.aclose()``).
    """
    return _Opener(source, options)


__all__ = ["AsyncReader", "aopen"]
