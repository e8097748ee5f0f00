"""An asyncio tail over a ``.ss`` file for streamer consumers: the sans-I/O decoder fed by
``os.pread`` chunks, sleeping with a short backoff at the end of a live file.

Starting points: ``"earliest"`` (the first frame), ``"latest"`` (after the last complete
frame present now), or ``(offset, skip_first)`` (a committed position: the frame at
``offset``, skipping it when it was already delivered).

Damage raises (``on_damage="raise"``), or with ``on_damage="skip"`` is read past as
:class:`ssfile.Reader` does (the same search; a :class:`~ssfile.errors.DamageWarning` per
range, listed in :attr:`FileTail.damage`).  A damaged range reaching the current end of a
followed file is waited through until later data shows where it ends.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from typing import cast

from .. import platform
from ..codec.decoder import Decoder
from ..codec.events import EndOfStream
from ..errors import DamageWarning, FormatError, SSError, TruncatedError, check_on_damage
from ..file.damage import recover_in_file
from ..file.follow import check_same_file
from ..format import constants as K
from ..format.layouts import parse_file_header
from ..format.records import FileHeader
from ..types import Message

CHUNK = 1 << 18
MAX_SLEEP = 0.02


class FileTail:
    def __init__(self, path: str, *, follow: bool = True, on_damage: str = "raise") -> None:
        self.path = path
        self.follow = follow
        self.on_damage = check_on_damage(on_damage)
        self.damage: list[tuple[int, int]] = []
        self.header: FileHeader | None = None
        self.ended = False
        self._fd: int | None = None
        self._dec: Decoder | None = None
        self._pos = 0
        self._sleep = 0.0
        self._inode: tuple[int, int] | None = None

    async def _open(self) -> None:
        while True:
            try:
                fd = platform.open_binary(self.path, os.O_RDONLY)
            except FileNotFoundError:
                if not self.follow:
                    raise SSError(f"{self.path}: no such file") from None
                await self._idle()
                continue
            st = os.fstat(fd)
            if st.st_size >= K.HEADER_SIZE:
                break
            os.close(fd)
            if not self.follow:
                raise TruncatedError(f"{self.path}: no complete header", st.st_size)
            await self._idle()
        self._fd = fd
        self._inode = (st.st_dev, st.st_ino)
        try:
            self.header = parse_file_header(platform.pread(fd, K.HEADER_SIZE, 0))
        except FormatError as err:
            raise err.with_path(self.path)

    async def start(self, where: str | tuple[int, bool]) -> None:
        await self._open()
        assert self.header is not None
        if where == "earliest":
            self._restart(0, False)
        elif where == "latest":
            self._restart(0, False)
            await self.drain()
        else:
            offset, skip_first = cast("tuple[int, bool]", where)
            self._restart(offset, skip_first)

    def _restart(self, offset: int, skip_first: bool) -> None:
        self.started_at = offset
        if offset <= 0:
            self._dec = Decoder()
            self._pos = 0
        else:
            self._dec = Decoder(start_offset=offset, header=self.header)
            self._pos = offset
        self._skip_first = skip_first
        self.ended = False

    async def drain(self) -> None:
        """Consume everything present now without delivering it (start from "latest")."""
        while True:
            batch = await self.read_batch(wait=False)
            if not batch:
                return

    async def _idle(self) -> None:
        self._sleep = min(MAX_SLEEP, self._sleep * 2 or 0.001)
        await asyncio.sleep(self._sleep)

    def _check_replaced(self) -> None:
        assert self._fd is not None and self._inode is not None
        check_same_file(self.path, self._inode, os.fstat(self._fd).st_size, self._pos)

    async def read_batch(self, *, wait: bool = True) -> list[Message]:
        """The next messages (possibly []: only when ``wait`` is False or the stream ended)."""
        dec = self._dec
        assert dec is not None and self._fd is not None
        out: list[object] = []
        while True:
            if self.ended:
                return []
            try:
                dec.read_events(out, 512)
            except TruncatedError:
                if not self.follow:
                    raise
            except FormatError as err:
                if self.on_damage != "skip":
                    raise err.with_path(self.path)
                if not self._skip(err):  # the damage reaches the current end: wait for more
                    if not wait:
                        return []
                    self._check_replaced()
                    await self._idle()
                dec = self._dec
                assert dec is not None
                continue
            if out:
                msgs = [ev for ev in out if type(ev) is Message]
                if len(msgs) < len(out):  # a beacon, or the end of the stream
                    msgs = []
                    for ev in out:
                        if type(ev) is Message:
                            msgs.append(ev)
                        elif isinstance(ev, EndOfStream):
                            self.ended = True
                            break
                if self._skip_first and msgs:
                    msgs = msgs[1:]
                    self._skip_first = False
                if msgs or self.ended:
                    self._sleep = 0.0
                    return msgs
                out.clear()
                continue
            data = platform.pread(self._fd, CHUNK, self._pos)
            if data:
                self._pos += len(data)
                dec.feed(data)
                continue
            if not self.follow:
                dec.feed_eof()
                try:
                    dec.read_events(out)
                except TruncatedError as err:
                    raise err.with_path(self.path)
                except FormatError as err:
                    if self.on_damage != "skip":
                        raise err.with_path(self.path)
                    self._skip(err)
                    dec = self._dec
                    assert dec is not None
                    continue
                if not out:
                    self.ended = True
                    return []
                continue
            if not wait:
                return []
            self._check_replaced()
            await self._idle()

    def _skip(self, err: FormatError) -> bool:
        """Resume after the damage ``err`` names; False if (following) it reaches the end
        of the data for now.  Without following, damage to the end ends the stream."""
        assert self._dec is not None and self._fd is not None and self.header is not None
        at = self._dec.offset
        start = at if err.offset is None else min(err.offset, at)
        got = recover_in_file(self._fd, self.header.beacon_interval, start)
        if got is None:  # not a regular file any more
            raise err.with_path(self.path)
        r, end = got
        if r.resume is None and self.follow:
            return False
        stop = end if r.resume is None else r.resume
        self.damage.append((start, stop - start))
        warnings.warn(DamageWarning([(start, stop - start)], [err.reason], self.path), stacklevel=3)
        self._dec = Decoder(start_offset=stop, header=self.header)
        self._pos = stop
        if r.resume is None:
            self._dec.feed_eof()
            self.ended = True
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
