"""Layer 1: the byte layouts, constants, CRC and records of the ``.ss`` format."""

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
from .schema import (
    build_beacon,
    build_file_header,
    build_frame,
    parse_beacon,
    parse_file_header,
    parse_frame,
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
