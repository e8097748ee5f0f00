"""ssfile: read, write, seek, verify and replay SeaStreamer ``.ss`` recordings.

with ssfile.open("rec.ss") as r:
    for m in r:
        print(m.stream_key, m.sequence, m.timestamp, m.payload)

with ssfile.open("out.ss", "w", beacon_interval=1024) as w:
    w.write(b"payload", stream_key="clock")
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from .check import Diagnosis, repair, verify
from .codec.events import EndOfStream
from .errors import (
    BackendError,
    BadMagic,
    ChecksumMismatch,
    EncodeError,
    FieldError,
    FormatError,
    MissingDependency,
    SeekError,
    SSError,
    StreamError,
    TruncatedError,
    UnsupportedVersion,
    UsageError,
)
from .export.arrays import to_numpy  # numpy/pandas are imported only when these are called
from .export.arrow import to_arrow  # pyarrow too
from .export.frame import to_pandas
from .export.stats import stats
from .file.aio import AsyncReader, aopen
from .file.follow import FollowError
from .file.reader import Reader
from .file.remote import is_url, open_reader
from .file.slice import Slice
from .file.writer import Writer
from .format.constants import DEFAULT_BEACON_INTERVAL
from .format.records import Beacon, FileHeader, Marker, MessageHeader
from .types import Message

__version__ = "0.1.0"


def open(path: str | os.PathLike[str] | BinaryIO, mode: str = "r", **options: Any) -> Any:  # noqa: A001
    """Open a ``.ss`` file: ``"r"`` gives a :class:`Reader`; ``"w"``, ``"x"``, ``"a"`` a :class:`Writer`.

    For reading, ``path`` may be an fsspec URL (``s3://``, ``http(s)://`` ...; the ``remote``
    extra) with ``storage_options=`` for fsspec: seeks fetch only the ranges they need."""
    if mode in ("r", "rb"):
        if is_url(path):
            return open_reader(path, **options)  # type: ignore[arg-type]
        return Reader(path, **options)
    if mode in ("w", "x", "a", "wb", "xb", "ab"):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("writers need a path")
        return Writer(path, mode[0], **options)
    raise ValueError(f"mode must be 'r', 'w', 'x' or 'a', not {mode!r}")


__all__ = [
    "AsyncReader",
    "FollowError",
    "Slice",
    "aopen",
    "Diagnosis",
    "repair",
    "verify",
    "BackendError",
    "BadMagic",
    "Beacon",
    "ChecksumMismatch",
    "DEFAULT_BEACON_INTERVAL",
    "EncodeError",
    "EndOfStream",
    "FieldError",
    "FileHeader",
    "FormatError",
    "Marker",
    "Message",
    "MessageHeader",
    "MissingDependency",
    "Reader",
    "SSError",
    "SeekError",
    "StreamError",
    "TruncatedError",
    "UnsupportedVersion",
    "UsageError",
    "Writer",
    "__version__",
    "open",
    "stats",
    "to_arrow",
    "to_numpy",
    "to_pandas",
]
