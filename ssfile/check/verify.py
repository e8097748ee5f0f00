"""``ssfile.verify(path)``: check everything that can be checked and return a Diagnosis."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from ..codec.layout import Layout
from ..format import constants as K
from .checker import Checker
from .diagnosis import Diagnosis
from .header import check_header
from .scan import scan


@contextmanager
def mapped(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The file's bytes, memory-mapped read-only (no copy, bounded memory)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if not size:
            yield b""
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            yield m  # type: ignore[misc]


class Sink(Protocol):
    """Receives the scan as it goes (repair writes its output from it)."""

    def start(self, diag: Diagnosis) -> None: ...
    def item(self, item: object) -> None: ...


def verify_bytes(buf: bytes, path: str | None = None, sink: Sink | None = None) -> Diagnosis:
    """Check the bytes of a ``.ss`` file; ``sink`` sees every scanned record in order."""
    diag = Diagnosis(path, len(buf))
    hc = check_header(buf, diag)
    diag.header = hc.header
    diag.scan_interval = hc.scan_interval
    if hc.scan_interval is None:
        diag.readable = False  # no whole header (an empty file too): not a .ss file to read
        return diag
    if sink is not None:
        sink.start(diag)
    checker = Checker(diag, hc.scan_interval)
    for item in scan(Layout(buf, hc.scan_interval), K.HEADER_SIZE):
        checker.feed(item)
        if sink is not None:
            sink.item(item)
    checker.finish(len(buf))
    if not hc.magic_ok and diag.intact_messages == 0:
        diag.readable = False
    return diag


def verify(path: str | os.PathLike[str]) -> Diagnosis:
    """Check a ``.ss`` file: every problem with its offset, then a summary.

    Never raises on damaged content (only :class:`OSError` when the file cannot be opened).
    """
    with mapped(path) as buf:
        return verify_bytes(buf, os.fspath(path))
