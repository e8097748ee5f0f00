"""Layer 4: producers, consumers and groups over interchangeable backends."""

from .api import BatchReceipt, Consumer, Producer, Receipt, StreamEnded, Streamer
from .options import ConsumerMode, ConsumerOptions, ProducerOptions
from .registry import connect
from .uri import StreamUrl, parse_stream_url

__all__ = [
    "BatchReceipt",
    "Consumer",
    "ConsumerMode",
    "ConsumerOptions",
    "Producer",
    "ProducerOptions",
    "Receipt",
    "StreamEnded",
    "StreamUrl",
    "Streamer",
    "connect",
    "parse_stream_url",
]
