"""Streamer URIs, parsed the way upstream parses them (pure functions).

``proto://node1,node2/key1,key2``: the text after the **last** ``/`` is a comma-separated
list of stream keys (empty pieces dropped, each a valid stream key); the rest is the node
list.  ``stdio://`` has the single node ``.``; ``file://`` has one node, the path.

On Windows (:data:`ssfile.platform.WINDOWS`), ``file:///C:/data/x.ss/KEY`` names the
path ``C:/data/x.ss`` (RFC 8089: no ``/`` before a drive letter), and a last segment with a
backslash is part of the path (``file://C:\\data\\x.ss`` has no key; keys follow a ``/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from .. import platform
from ..errors import UsageError
from ..format.records import is_valid_stream_key

_Options = TypeVar("_Options")

SCHEMES = ("file", "stdio", "redis", "rediss", "kafka")
_SLASH_DRIVE = re.compile(r"/[A-Za-z]:[/\\]")  # "/C:/" or "/C:\\"


@dataclass(frozen=True, slots=True)
class StreamUrl:
    scheme: str
    nodes: tuple[str, ...]
    stream_keys: tuple[str, ...]

    @property
    def path(self) -> str:
        """For ``file://``: the file path (the first and only node)."""
        return self.nodes[0]

    def __str__(self) -> str:
        return f"{self.scheme}://{','.join(self.nodes)}/{','.join(self.stream_keys)}"


def parse_stream_url(text: str, *, require_keys: bool = False) -> StreamUrl:
    """Parse ``scheme://nodes/keys``; raises :class:`UsageError` naming the problem."""
    if not isinstance(text, str) or "://" not in text:
        raise UsageError(
            f"invalid stream URL {text!r}: protocol is required "
            f"(one of {', '.join(s + '://' for s in SCHEMES)})"
        )
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError(
            f"invalid stream URL {text!r}: unknown protocol {scheme!r} "
            f"(expected one of {', '.join(SCHEMES)})"
        )
    if scheme == "file" and platform.WINDOWS:
        rest = _windows_file_path(rest)
    if "/" not in rest:
        raise UsageError(
            f"invalid stream URL {text!r}: it must have an ending slash, "
            "even when no stream key follows (e.g. redis://localhost:6379/)"
        )
    node_part, key_part = rest.rsplit("/", 1)
    keys = tuple(k for k in key_part.split(",") if k)
    for k in keys:
        if not is_valid_stream_key(k):
            raise UsageError(
                f"invalid stream URL {text!r}: invalid stream key {k!r} "
                "(valid pattern is [a-zA-Z0-9._-]{1,249})"
            )
    if require_keys and not keys:
        raise UsageError(f"stream URL {text!r} names no stream key (add /KEY at the end)")
    if scheme == "file":
        if _is_file_path(node_part, key_part):
            node_part, keys = f"{node_part}/{key_part}", ()
        if not node_part:
            raise UsageError(
                f"invalid stream URL {text!r}: no file path "
                "(use file:///absolute/path.ss/KEY or file://relative.ss/KEY)"
            )
        nodes: tuple[str, ...] = (node_part,)
    elif scheme == "stdio":
        nodes = (".",)
    else:
        nodes = tuple(n for n in node_part.split(",") if n)
        if not nodes:
            raise UsageError(f"invalid stream URL {text!r}: no node (host:port) has been specified")
        for n in nodes:
            _check_host_port(n, text)
    return StreamUrl(scheme, nodes, keys)


def _windows_file_path(rest: str) -> str:
    """``/C:/x.ss/KEY`` -> ``C:/x.ss/KEY``; a path with a backslash after its last ``/`` (or
    without one) gets an empty key list (``C:\\x.ss`` -> ``C:\\x.ss/``)."""
    if _SLASH_DRIVE.match(rest):
        rest = rest[1:]
    if "\\" in rest.rpartition("/")[2]:
        rest += "/"
    return rest


def _is_file_path(node_part: str, key_part: str) -> bool:
    """``file:///data/rec.ss`` names a file with no stream key: the last segment is part of
    the path when it ends in ``.ss`` or is an existing file (upstream would read it as a key)."""
    import os

    if not key_part or "," in key_part:
        return False
    return key_part.endswith(".ss") or os.path.isfile(f"{node_part}/{key_part}")


def _check_host_port(node: str, text: str) -> None:
    host, sep, port = node.rpartition(":")
    if not sep:
        host, port = node, ""
    if not host or any(c in host for c in "/?#@ "):
        raise UsageError(f"invalid stream URL {text!r}: bad host in node {node!r}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise UsageError(f"invalid stream URL {text!r}: bad port in node {node!r}")


def backend_arguments(
    url: StreamUrl | str, options_type: type[_Options], options: dict[str, object]
) -> tuple[StreamUrl, _Options]:
    """What a backend's ``connect(url, **options)`` starts with: the parsed URL and its options
    dataclass; an unknown option is a :class:`UsageError` naming the scheme."""
    if isinstance(url, str):
        url = parse_stream_url(url)
    try:
        return url, options_type(**options)
    except TypeError as err:
        raise UsageError(f"{url.scheme}:// connect: {err}") from None
