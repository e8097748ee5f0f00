"""Events the decoder emits besides :class:`ssfile.types.Message` and the format records.

Data messages are emitted as :class:`~ssfile.types.Message` (with ``offset`` set), the header
as :class:`~ssfile.format.FileHeader`, beacons as :class:`~ssfile.format.Beacon` (each carries
its absolute ``offset``).  The end-of-stream frame is :class:`EndOfStream`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import Message


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """The EOS frame (key ``SEA_STREAMER_INTERNAL``, payload ``EOS``); nothing after it is read."""

    message: Message

    @property
    def offset(self) -> int | None:
        return self.message.offset


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


#: returned by :meth:`Decoder.next_event` when more bytes must be fed
NEED_DATA = _NeedData()
