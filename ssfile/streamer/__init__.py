"""Layer 4: producers, consumers and groups over interchangeable backends."""

from .api import Consumer, Producer, Receipt, StreamEnded, Streamer
from .options import ConsumerMode, ConsumerOptions
from .registry import connect
from .uri import StreamUrl, parse_stream_url

__all__ = [
    "Consumer",
    "ConsumerMode",
    "ConsumerOptions",
    "Producer",
    "Receipt",
    "StreamEnded",
    "StreamUrl",
    "Streamer",
    "connect",
    "parse_stream_url",
]
