"""URI scheme -> backend.  Backends are imported only when their scheme is used."""

from __future__ import annotations

from typing import Any

from .api import Streamer
from .uri import StreamUrl, parse_stream_url


async def connect(uri: str | StreamUrl, **options: Any) -> Streamer:
    """Connect to a backend chosen by the URI's scheme: ``file://``, ``stdio://``,
    ``redis://`` or ``kafka://``.  Stream keys in the URI are ignored here (producers and
    consumers name their keys)."""
    url = parse_stream_url(uri) if isinstance(uri, str) else uri
    if url.scheme == "file":
        from .file_backend import FileStreamer

        return FileStreamer(url.path, **options)
    if url.scheme == "stdio":
        from ..adapters.stdio import StdioStreamer

        return StdioStreamer(**options)
    if url.scheme in ("redis", "rediss"):
        from ..adapters.redis.streamer import RedisStreamer

        return await RedisStreamer.connect(url, **options)
    if url.scheme == "kafka":
        from ..adapters.kafka.streamer import KafkaStreamer

        return await KafkaStreamer.connect(url, **options)
    raise AssertionError(url.scheme)  # parse_stream_url only returns known schemes
