"""Layer 1: the byte layouts, constants, CRC and records of the ``.ss`` format.

The construct-based parse/build functions of :mod:`.schema` load on first use, so that
importing the records, constants or the ``struct`` twin (:mod:`.layouts`) does not import
``construct``.
"""

from typing import TYPE_CHECKING

from . import constants
from .crc import RunningChecksum, crc16, crc16_py, running_update
from .records import (
    Beacon,
    FileHeader,
    Marker,
    MessageHeader,
    check_stream_key,
    is_valid_stream_key,
)

if TYPE_CHECKING:
    from .schema import (
        build_beacon,
        build_file_header,
        build_frame,
        parse_beacon,
        parse_file_header,
        parse_frame,
    )

_FROM_SCHEMA = frozenset(
    (
        "build_beacon",
        "build_file_header",
        "build_frame",
        "parse_beacon",
        "parse_file_header",
        "parse_frame",
    )
)

__all__ = [
    "Beacon",
    "FileHeader",
    "Marker",
    "MessageHeader",
    "RunningChecksum",
    "build_beacon",
    "build_file_header",
    "build_frame",
    "check_stream_key",
    "constants",
    "crc16",
    "crc16_py",
    "is_valid_stream_key",
    "parse_beacon",
    "parse_file_header",
    "parse_frame",
    "running_update",
]


def __getattr__(name: str) -> object:
    if name in _FROM_SCHEMA:
        from . import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
