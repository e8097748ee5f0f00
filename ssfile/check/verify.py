"""``ssfile.verify(path)``: check everything that can be checked and return a Diagnosis."""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from ..codec.layout import Layout
from ..format import constants as K
from .checker import Checker
from .diagnosis import Diagnosis
from .header import check_header
from .scan import BadBeaconItem, BeaconItem, GapItem, scan

#: a progress callback is called with the offset the check has reached, every this many records
PROGRESS_EVERY = 4096


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


def verify_bytes(
    buf: bytes,
    path: str | None = None,
    sink: Sink | None = None,
    progress: Callable[[int], object] | None = None,
) -> Diagnosis:
    """Check the bytes of a ``.ss`` file; ``sink`` sees every scanned record in order;
    ``progress`` is called now and then with the offset reached (a progress bar)."""
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
    for n, item in enumerate(scan(Layout(buf, hc.scan_interval), K.HEADER_SIZE)):
        checker.feed(item)
        if sink is not None:
            sink.item(item)
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(_offset_of(item))
    checker.finish(len(buf))
    if progress is not None:
        progress(len(buf))
    if not hc.magic_ok and diag.intact_messages == 0 and not diag.eos_offsets:
        diag.readable = False
    return diag


def _offset_of(item: object) -> int:
    if isinstance(item, BeaconItem | BadBeaconItem):
        return item.read.offset
    if isinstance(item, GapItem):
        return item.start
    offset: int = getattr(item, "offset", 0)
    return offset


def verify(
    path: str | os.PathLike[str], *, progress: Callable[[int], object] | None = None
) -> Diagnosis:
    """Check a ``.ss`` file: every problem with its offset, then a summary.

    ``progress``: called now and then with the offset the check has reached (and at the end
    with the file's size).  Never raises on damaged content (only :class:`OSError` when the
    file cannot be opened).
    """
    with mapped(path) as buf:
        return verify_bytes(buf, os.fspath(path), progress=progress)
