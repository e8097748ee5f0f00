"""Options of producers and consumers, shared by every backend."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class ConsumerMode(enum.Enum):
    """As upstream: RealTime (no group), Resumable (commits a position), LoadBalanced (group)."""

    REAL_TIME = "real_time"
    RESUMABLE = "resumable"
    LOAD_BALANCED = "load_balanced"


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    """``auto_stream_reset``: where a consumer with no committed position starts:
    ``"earliest"`` (the first message) or ``"latest"`` (only new messages).
    ``shards``: the shards to read (None = all).  ``group``: the consumer group (required for
    LoadBalanced and Resumable, refused for RealTime).  ``follow``: keep waiting for new
    messages at the end; False ends the consumer (``StreamEnded``) where its stream ends:
    the end of the file (file), of stdin (stdio), the entries that existed when the consumer
    was created or, in a group, nothing left to read (Redis; spec/streamer.md)."""

    mode: ConsumerMode = ConsumerMode.REAL_TIME
    group: str | None = None
    auto_stream_reset: str = "latest"
    shards: tuple[int, ...] | None = None
    follow: bool = True
    auto_commit: bool = True

    def check(self) -> ConsumerOptions:
        from ..errors import StreamError

        if self.auto_stream_reset not in ("earliest", "latest"):
            raise StreamError(
                f"auto_stream_reset must be 'earliest' or 'latest', not {self.auto_stream_reset!r}"
            )
        if self.mode is ConsumerMode.REAL_TIME and self.group is not None:
            raise StreamError(
                "consumer group is set, but RealTime consumers have no group "
                "(use ConsumerMode.LOAD_BALANCED or RESUMABLE)"
            )
        if self.mode is not ConsumerMode.REAL_TIME and not self.group:
            raise StreamError(f"{self.mode.name} consumers need a consumer group")
        return self


@dataclass(frozen=True, slots=True)
class ProducerOptions:
    """The bound on what a producer holds unacknowledged (sent, its receipt not yet
    resolved): at most ``max_messages`` messages and ``max_bytes`` bytes of payload.  At the
    bound ``send`` raises :class:`~ssfile.errors.BufferFull` and ``await producer.drain()``
    waits until there is room (spec/streamer.md, "Producers").  One message larger than
    ``max_bytes`` is taken when the producer holds nothing else."""

    max_messages: int = 100_000
    max_bytes: int = 64 * 1024 * 1024

    def check(self) -> ProducerOptions:
        from ..errors import StreamError

        for name in ("max_messages", "max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StreamError(
                    f"ProducerOptions.{name} must be a positive integer, not {value!r}"
                )
        return self


def consumer_request(
    stream_keys: Sequence[str],
    options: ConsumerOptions | None,
    default: ConsumerOptions | None = None,
) -> tuple[tuple[str, ...], ConsumerOptions]:
    """Check what every backend's ``create_consumer`` receives: the options (or ``default``)
    are consistent and the stream keys valid, non-empty and at least one."""
    from ..errors import StreamError
    from ..format.records import check_stream_key

    options = (options or default or ConsumerOptions()).check()
    keys = tuple(check_stream_key(k, allow_empty=False) for k in stream_keys)
    if not keys:
        raise StreamError("stream key set is empty")
    return keys, options
