"""The reader's state that seeking (:mod:`ssfile.file.seek`) and damage skipping
(:mod:`ssfile.file.damage`) work on, as a protocol: they need no import of reader.py."""

from __future__ import annotations

from typing import Any, BinaryIO, Protocol

from ..errors import FormatError
from ..format.records import Beacon, FileHeader


class ReaderState(Protocol):
    """What seeking and damage skipping use of a :class:`~ssfile.file.reader.Reader` (a
    protocol, so that seek.py and damage.py, which reader.py imports, do not import reader.py
    back: no import cycle)."""

    path: str | None
    header: FileHeader
    ended: bool
    last_beacon: Beacon | None
    seek_bytes: int
    _file: BinaryIO
    _dec: Any
    _chunk: int
    _events: list[object]
    _index: int
    _check_crc: bool
    _skip_damage: bool
    _at_end: bool
    _warn_damage: bool
    _follower: Any
    damage: list[tuple[int, int]]
    damage_errors: list[FormatError]

    def _restart(self, offset: int, skip: int) -> None: ...

    def _batch(self) -> list[object]: ...
