"""The vectorised scan in pieces, for outputs of any size (``ssfile convert``).

:func:`scan_chunks` yields one :class:`~ssfile.export.columns.Scan` per about
``chunk_bytes`` of frames, so memory is one chunk's columns and payloads however large the
file is.  One scanner walks the file: each run stops at the first frame boundary past its
chunk (a boundary the frame parser found, never a guess from a beacon), keeps every frame
of the windows it parsed, and the next run starts there.  Stream key codes index the same
growing key list in every chunk.  Errors, the EOS and a torn tail behave as in
:func:`~ssfile.export.columns.scan`: they surface in the chunk where they are met, after
the chunks before it were yielded.  Pages of the memory map already scanned are released
after each chunk, so the resident size does not grow with the file either.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from typing import Any

from ..errors import FormatError, TruncatedError
from . import _deps
from .columns import _COLUMNS, WINDOW, Scan, Selection, _Scanner

CHUNK_BYTES = 32 << 20


def _release(mm: mmap.mmap, upto: int) -> None:
    """Unmap the pages before ``upto`` from this process (they stay in the page cache): a
    file read through a memory map otherwise counts whole in the process's RSS."""
    upto -= upto % mmap.PAGESIZE
    if upto > 0 and hasattr(mmap, "MADV_DONTNEED"):
        mm.madvise(mmap.MADV_DONTNEED, 0, upto)


class _Chunked(_Scanner):
    """A scanner whose runs keep whole windows and remember where the next frame starts."""

    c_path = False  # the chunk boundaries come from the numpy walk's window state

    final_stop = 0  # logical end of the whole scan (the frames kept end before it)
    next_pos = 0

    def _window(self, win: Any, base: int) -> int:
        self.stop = self.final_stop  # every frame of the window, up to the real end
        consumed = super()._window(win, base)
        self.next_pos = base + consumed
        return consumed

    def reset(self) -> None:
        self.parts = {c: [] for c in _COLUMNS}
        self.payloads = []


def scan_chunks(
    path: str | os.PathLike[str],
    *,
    payload: str | None = None,
    check_crc: bool = True,
    select: Selection | None = None,
    start: int | None = None,
    stop: int | None = None,
    tolerate_truncation: bool = False,
    chunk_bytes: int = CHUNK_BYTES,
    window: int = WINDOW,
) -> Iterator[Scan]:
    """Scan ``path`` like :func:`~ssfile.export.columns.scan`, one piece at a time."""
    np = _deps.numpy()
    name = os.fspath(path)
    with open(name, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise TruncatedError("file too short for a header", 0, path=name)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        scanner = _Chunked(
            np, mm, name, payload, check_crc, select or Selection(), tolerate_truncation, window
        )
        lay = scanner.layout
        pos = 0 if start is None else lay.to_logical(start)
        scanner.final_stop = lay.total if stop is None else lay.to_logical(stop)
        while True:
            scanner.reset()
            last = pos + chunk_bytes >= scanner.final_stop
            if last:
                got = scanner.run(lay.to_physical(pos), stop)
            else:
                got = scanner.run(lay.to_physical(pos), lay.to_physical(pos + chunk_bytes))
            yield got
            pos = scanner.next_pos
            _release(mm, lay.to_physical(pos))
            if last or scanner.ended or got.torn_tail is not None:
                return
    except FormatError as err:
        raise err if err.path else err.with_path(name)
    finally:
        mm.close()
