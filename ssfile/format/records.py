"""Frozen records for the non-message parts of a file (no construct import here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import EncodeError
from ..timefmt import timestamp_json
from ..types import ms_to_datetime
from .constants import INTERNAL_KEY, MAX_STREAM_KEY_LEN

_KEY_RE = re.compile(r"[A-Za-z0-9._\-]*\Z")


def is_valid_stream_key(key: str) -> bool:
    """Upstream's StreamKey rule: at most 249 chars of ``[A-Za-z0-9._-]`` (empty allowed)."""
    return len(key) <= MAX_STREAM_KEY_LEN and _KEY_RE.match(key) is not None


def check_stream_key(key: str, *, allow_empty: bool = True) -> str:
    """``key`` if it may be written, else :class:`EncodeError`.  The file layer accepts the
    empty key (upstream files may hold it; repair keeps it); producers pass
    ``allow_empty=False``, since ssfile never originates one."""
    if not isinstance(key, str) or not is_valid_stream_key(key) or (not key and not allow_empty):
        low = 0 if allow_empty else 1
        raise EncodeError(
            f"invalid stream key {key!r}: valid pattern is [a-zA-Z0-9._-]{{{low},249}}"
        )
    return key


def check_producer_key(key: str) -> str:
    """``key`` if a producer may send to it: a valid, non-empty key other than the reserved
    ``SEA_STREAMER_INTERNAL`` (spec 2.3: it carries only the end-of-stream frame; every
    backend refuses it, since sea-streamer reserves it everywhere)."""
    check_stream_key(key, allow_empty=False)
    if key == INTERNAL_KEY:
        raise EncodeError(f"stream key {key!r} is reserved for the end-of-stream frame")
    return key


@dataclass(frozen=True, slots=True)
class FileHeader:
    """The 128-byte file header."""

    file_name: str
    created_at_ms: int
    beacon_interval: int

    @property
    def created_at(self):  # type: ignore[no-untyped-def]
        """``created_at`` as an aware UTC datetime."""
        return ms_to_datetime(self.created_at_ms)

    def to_json_dict(self) -> dict[str, object]:
        """``created_at`` is null when the raw value (``created_at_ms``) is out of range."""
        ms = self.created_at_ms
        return {
            "file_name": self.file_name,
            "created_at": timestamp_json(ms),
            "created_at_ms": ms,
            "beacon_interval": self.beacon_interval,
        }


@dataclass(frozen=True, slots=True)
class MessageHeader:
    stream_key: str
    shard_id: int
    sequence: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Marker:
    """A beacon's summary of one (stream, shard): latest header and running checksum."""

    header: MessageHeader
    running_checksum: int


@dataclass(frozen=True, slots=True)
class Beacon:
    """A beacon at ``offset`` = ``index`` x beacon_interval."""

    offset: int
    index: int
    remaining_messages_bytes: int
    markers: tuple[Marker, ...] = field(default=())
    size: int = 7
