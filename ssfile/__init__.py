"""ssfile: read, write, seek, verify and replay SeaStreamer ``.ss`` recordings.

with ssfile.open("rec.ss") as r:
    for m in r:
        print(m.stream_key, m.sequence, m.timestamp, m.payload)

with ssfile.open("out.ss", "w", beacon_interval=1024) as w:
    w.write(b"payload", stream_key="clock")

``import ssfile`` loads only this module and the errors: every other public name is
imported on first use (module ``__getattr__``), so a one-shot command pays only for what
it touches (tests/test_public_api.py pins what stays unloaded).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, overload

from .errors import (
    BackendError,
    BadMagic,
    BufferFull,
    ChecksumMismatch,
    DamageWarning,
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
    WriteFailed,
)

if TYPE_CHECKING:
    from .check.diagnosis import Diagnosis
    from .check.repair import repair
    from .check.verify import verify
    from .codec.events import EndOfStream
    from .export.arrays import to_numpy
    from .export.arrow import to_arrow
    from .export.frame import to_pandas
    from .export.stats import stats
    from .file.aio import AsyncReader, aopen
    from .file.follow import FollowError
    from .file.reader import Reader
    from .file.slice import Slice
    from .file.surgery.concat import concat
    from .file.surgery.filter import filter
    from .file.surgery.merge import merge
    from .file.surgery.split import split
    from .file.writer import Writer
    from .format.constants import DEFAULT_BEACON_INTERVAL
    from .format.records import Beacon, FileHeader, Marker, MessageHeader
    from .streamer import ConsumerMode, ConsumerOptions, ProducerOptions, connect
    from .types import Message

__version__ = "0.1.0"

#: public name -> the module that defines it, imported on first access
_LAZY = {
    "Diagnosis": "check",
    "repair": "check",
    "verify": "check",
    "EndOfStream": "codec.events",
    "to_arrow": "export.arrow",  # pyarrow too
    "to_numpy": "export.arrays",  # numpy/pandas are imported only when these are called
    "to_pandas": "export.frame",
    "stats": "export.stats",
    "AsyncReader": "file.aio",
    "aopen": "file.aio",
    "FollowError": "file.follow",
    "Reader": "file.reader",
    "Slice": "file.slice",
    "concat": "file.surgery.concat",  # recording surgery (issue 15)
    "filter": "file.surgery.filter",
    "merge": "file.surgery.merge",
    "split": "file.surgery.split",
    "Writer": "file.writer",
    "DEFAULT_BEACON_INTERVAL": "format.constants",
    "Beacon": "format.records",
    "FileHeader": "format.records",
    "Marker": "format.records",
    "MessageHeader": "format.records",
    "ConsumerMode": "streamer.options",
    "ConsumerOptions": "streamer.options",
    "ProducerOptions": "streamer.options",
    "connect": "streamer.registry",
    "Message": "types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ssfile' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    """The public names only (``__all__``): not the typing helpers and modules this file
    imports for itself, nor the submodules that loading a lazy name adds."""
    return sorted(__all__)


_ReadMode = Literal["r", "rb"]
_WriteMode = Literal["w", "x", "a", "wb", "xb", "ab"]


@overload
def open(  # noqa: A001
    path: str | os.PathLike[str] | BinaryIO, mode: _ReadMode = "r", **options: Any
) -> Reader: ...
@overload
def open(path: str | os.PathLike[str], mode: _WriteMode, **options: Any) -> Writer: ...  # noqa: A001
@overload
def open(  # noqa: A001
    path: str | os.PathLike[str] | BinaryIO, mode: str, **options: Any
) -> Reader | Writer: ...
def open(  # noqa: A001
    path: str | os.PathLike[str] | BinaryIO, mode: str = "r", **options: Any
) -> Reader | Writer:
    """Open a ``.ss`` file: ``"r"`` gives a :class:`Reader`; ``"w"``, ``"x"``, ``"a"`` a
    :class:`Writer` (keyword options go to their constructors).

    For reading, ``path`` may be an fsspec URL (``s3://``, ``http(s)://`` ...; the ``remote``
    extra) with ``storage_options=`` for fsspec: seeks fetch only the ranges they need."""
    if mode in ("r", "rb"):
        from .file.remote import is_url

        if is_url(path):
            from .file.remote import open_reader

            reader: Reader = open_reader(path, **options)  # type: ignore[arg-type]
            return reader
        from .file.reader import Reader

        return Reader(path, **options)
    if mode in ("w", "x", "a", "wb", "xb", "ab"):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("writers need a path")
        from .file.writer import Writer

        return Writer(path, mode[0], **options)
    raise ValueError(f"mode must be 'r', 'w', 'x' or 'a', not {mode!r}")


__all__ = [
    "AsyncReader",
    "FollowError",
    "Slice",
    "aopen",
    "concat",
    "filter",
    "merge",
    "split",
    "Diagnosis",
    "repair",
    "verify",
    "BackendError",
    "BadMagic",
    "BufferFull",
    "Beacon",
    "ChecksumMismatch",
    "ConsumerMode",
    "ConsumerOptions",
    "DamageWarning",
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
    "ProducerOptions",
    "Reader",
    "SSError",
    "SeekError",
    "StreamError",
    "TruncatedError",
    "UnsupportedVersion",
    "UsageError",
    "WriteFailed",
    "Writer",
    "__version__",
    "connect",
    "open",
    "stats",
    "to_arrow",
    "to_numpy",
    "to_pandas",
]
