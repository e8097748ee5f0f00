"""Remote files (``s3://``, ``gs://``, ``http(s)://``, ``memory://`` ...) read through fsspec.

:class:`RangeFile` is a seekable binary file whose every ``read(n)`` is one ranged request
for exactly those bytes (``fs.cat_file(path, start, end)``), so a :class:`~ssfile.Reader`
on it fetches what it asks for and nothing more: a seek reads a few kilobytes per beacon
it visits, then scans about one interval.  One exception: a read at offset 0 (the reader's
first chunk, which only needs the 128-byte header) returns at most :data:`HEAD` bytes -- a
short read, as raw files may give -- and those bytes are kept, because a seek's check of
the first interval asks for them again.  ``requests`` and ``bytes_fetched`` count what
went over the wire.  fsspec (the ``remote`` extra) is imported only when a URL is opened.
"""

from __future__ import annotations

import io
import os
import re
from typing import Any, BinaryIO, cast

from ..optional import require

HEAD = 4096
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(source: object) -> bool:
    """Whether ``source`` is a string with a URL scheme (``scheme://``, two letters or more,
    so that a Windows drive letter is never taken for one)."""
    return isinstance(source, str) and _URL.match(source) is not None


def local_path(url: str) -> str | None:
    """The local path of a ``file://`` URL (None for any other scheme)."""
    if url.lower().startswith("file://"):
        return url[len("file://") :]
    return None


def fsspec() -> Any:
    return require("fsspec", "remote")


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) for ``url``."""
    fs, path = fsspec().core.url_to_fs(url, **(storage_options or {}))
    return fs, path


class RangeFile(io.RawIOBase):
    """A read-only seekable file over ``fs``/``path``: one ranged request per read."""

    def __init__(self, fs: Any, path: str, name: str, size: int | None = None) -> None:
        super().__init__()
        self.fs, self.fs_path, self.name = fs, path, name
        self.size = int(fs.size(path)) if size is None else size
        self.pos = 0
        self.requests = 0
        self.bytes_fetched = 0
        self._head = b""  # the first block read at offset 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self.pos = base + offset
        return self.pos

    def read(self, n: int | None = -1) -> bytes:
        start = self.pos
        stop = self.size if n is None or n < 0 else min(self.size, start + n)
        if start >= stop:
            return b""
        if start == 0 and not self._head:
            stop = min(stop, HEAD)
            self._head = self._fetch(0, stop)
        head = self._head
        if stop <= len(head):
            data = head[start:stop]
        elif start < len(head):
            data = head[start:] + self._fetch(len(head), stop)
        else:
            data = self._fetch(start, stop)
        self.pos = start + len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _fetch(self, start: int, stop: int) -> bytes:
        self.requests += 1
        data = bytes(self.fs.cat_file(self.fs_path, start=start, end=stop))
        self.bytes_fetched += len(data)
        return data


def open_url(url: str, storage_options: dict[str, Any] | None = None) -> RangeFile:
    """A :class:`RangeFile` for ``url`` (one metadata request for its size)."""
    fs, path = filesystem(url, storage_options)
    try:
        return RangeFile(fs, path, url)
    except FileNotFoundError:
        raise FileNotFoundError(2, "No such file", url) from None


def open_reader(url: str, storage_options: dict[str, Any] | None = None, **options: Any) -> Any:
    """A :class:`~ssfile.Reader` on ``url``: a ``file://`` URL reads the local file as
    usual; any other scheme goes through a :class:`RangeFile`, closed with the reader."""
    from .reader import Reader

    local = local_path(url)
    if local is not None:
        return Reader(local, **options)
    if options.get("follow"):
        raise ValueError("follow=True needs a local file, not a URL")
    f = open_url(url, storage_options)
    reader = Reader(cast(BinaryIO, f), **options)
    reader._owns = True  # the reader closes the RangeFile it was given
    return reader


__all__ = ["RangeFile", "filesystem", "is_url", "local_path", "open_reader", "open_url"]
