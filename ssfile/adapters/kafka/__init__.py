"""The ``kafka://`` backend (extra ``kafka``): :class:`KafkaStreamer`, what
``ssfile.connect("kafka://...")`` returns, and its :class:`KafkaOptions`.  confluent-kafka is
imported only when a connection is made."""

from __future__ import annotations

from .streamer import KafkaOptions, KafkaStreamer

__all__ = ["KafkaOptions", "KafkaStreamer"]
