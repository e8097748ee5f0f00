"""What the vectorised scan (:mod:`ssfile.export.columns`) takes and gives, in a module of
their own: the scan's fallback for damaged files (:mod:`ssfile.export.damaged`) builds the
same :class:`Scan` without importing the scan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..format.records import FileHeader


@dataclass
class Scan:
    """Raw scan output: int columns plus the stream key names (codes index ``keys``)."""

    header: FileHeader
    keys: list[str]
    columns: dict[str, Any]
    payloads: list[Any] = field(default_factory=list)  # per window: buffer pieces or bytes lists
    ended: bool = False
    torn_tail: int | None = None
    damage: list[tuple[int, int]] = field(default_factory=list)  # skipped (offset, length)


@dataclass
class Selection:
    """Which messages to keep: stream keys, shard ids, ``[since_ms, until_ms)``."""

    streams: frozenset[str] | None = None
    shards: frozenset[int] | None = None
    since_ms: int | None = None
    until_ms: int | None = None
