"""The ``redis://`` and ``rediss://`` backend (extra ``redis``): the streamer
(:class:`RedisStreamer`, what ``ssfile.connect("redis://...")`` returns) and the dump engine
behind ``ssfile dump`` (:func:`dump` over an :func:`open_source`).  redis-py is imported only
when a connection is made; the modules load on first use of a name below."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dumper import DumpOptions, DumpStats, dump
    from .source import RedisSource, open_source
    from .streamer import RedisOptions, RedisStreamer

_LAZY = {
    "DumpOptions": "dumper",
    "DumpStats": "dumper",
    "dump": "dumper",
    "RedisSource": "source",
    "open_source": "source",
    "RedisOptions": "streamer",
    "RedisStreamer": "streamer",
}

__all__ = [
    "DumpOptions",
    "DumpStats",
    "RedisOptions",
    "RedisSource",
    "RedisStreamer",
    "dump",
    "open_source",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
