"""Streamer URIs, parsed the way upstream parses them (pure functions).

``proto://node1,node2/key1,key2``: the text after the **last** ``/`` is a comma-separated
list of stream keys (empty pieces dropped, each a valid stream key); the rest is the node
list.  ``stdio://`` has the single node ``.``; ``file://`` has one node, the path.

The network schemes take more (the one parser for the streamer, ``relay``, ``dump``, ``clock``
and the Python API)::

    redis://[user[:password]@]host[:port][,host2[:port]...]/[db/]keys[?name=value&...]
    rediss://...                      (the same, over TLS)
    kafka://[user[:password]@]host[:port][,...]/topics[?name=value&...]

User and password are percent-decoded (write ``/ ? @ %`` in a password as ``%2F %3F %40
%25``); the query holds client settings (:mod:`.settings`).  The password is never shown:
``str()``, ``repr()`` and every error show ``***`` in its place.
On Windows (:data:`ssfile.platform.WINDOWS`), ``file:///C:/data/x.ss/KEY`` names the
path ``C:/data/x.ss`` (RFC 8089: no ``/`` before a drive letter), and a last segment with a
backslash is part of the path (``file://C:\\data\\x.ss`` has no key; keys follow a ``/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from .. import platform
from ..errors import UsageError
from ..format.records import is_valid_stream_key
from ..redact import redact, remember

SCHEMES = ("file", "stdio", "redis", "rediss", "kafka")
NETWORK = ("redis", "rediss", "kafka")
#: a setting whose name contains one of these is a secret: never shown
SECRET_WORDS = ("password", "secret", "token", ".pem", "oauthbearer.config", "jaas")


def is_secret(name: str) -> bool:
    """Whether the setting ``name`` holds a secret (its value is never shown)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


_SLASH_DRIVE = re.compile(r"/[A-Za-z]:[/\\]")  # "/C:/" or "/C:\\"


@dataclass(frozen=True, slots=True)
class StreamUrl:
    scheme: str
    nodes: tuple[str, ...]
    stream_keys: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int | None = None  # redis://host/DB/keys
    settings: tuple[tuple[str, str], ...] = ()  # the query's name=value pairs, in order

    @property
    def path(self) -> str:
        """For ``file://``: the file path (the first and only node)."""
        return self.nodes[0]

    def __str__(self) -> str:
        """The URL with the password (and every secret setting) shown as ``***``."""
        user = ""
        if self.username is not None or self.password is not None:
            user = (self.username or "") + (":***" if self.password is not None else "") + "@"
        db = f"{self.db}/" if self.db is not None else ""
        query = "&".join(f"{k}={'***' if is_secret(k) else v}" for k, v in self.settings)
        return f"{self.scheme}://{user}{','.join(self.nodes)}/{db}{','.join(self.stream_keys)}" + (
            f"?{query}" if query else ""
        )

    def __repr__(self) -> str:
        return f"StreamUrl({str(self)!r})"


def parse_stream_url(text: str, *, require_keys: bool = False) -> StreamUrl:
    """Parse ``scheme://nodes/keys``; raises :class:`UsageError` naming the problem (with any
    password in ``text`` shown as ``***``)."""
    if not isinstance(text, str) or "://" not in text:
        raise UsageError(
            f"invalid stream URL {_shown(text)!r}: protocol is required "
            f"(one of {', '.join(s + '://' for s in SCHEMES)})"
        )
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    shown = _shown(text)
    if scheme not in SCHEMES:
        raise UsageError(
            f"invalid stream URL {shown!r}: unknown protocol {scheme!r} "
            f"(expected one of {', '.join(SCHEMES)})"
        )
    query = ""
    if scheme in NETWORK:
        rest, _, query = rest.partition("?")
    if scheme == "file" and platform.WINDOWS:
        rest = _windows_file_path(rest)
    if "/" not in rest:
        raise UsageError(
            f"invalid stream URL {shown!r}: it must have an ending slash, "
            "even when no stream key follows (e.g. redis://localhost:6379/)"
        )
    node_part, key_part = rest.rsplit("/", 1)
    keys = tuple(k for k in key_part.split(",") if k)
    for k in keys:
        if not is_valid_stream_key(k):
            raise UsageError(
                f"invalid stream URL {shown!r}: invalid stream key {k!r} "
                "(valid pattern is [a-zA-Z0-9._-]{1,249})"
            )
    if require_keys and not keys:
        raise UsageError(f"stream URL {shown!r} names no stream key (add /KEY at the end)")
    if scheme == "file":
        if _is_file_path(node_part, key_part):
            node_part, keys = f"{node_part}/{key_part}", ()
        if not node_part:
            raise UsageError(
                f"invalid stream URL {shown!r}: no file path "
                "(use file:///absolute/path.ss/KEY or file://relative.ss/KEY)"
            )
        return StreamUrl(scheme, (node_part,), keys)
    if scheme == "stdio":
        return StreamUrl(scheme, (".",), keys)
    return _network_url(scheme, node_part, keys, query, shown)


def _network_url(
    scheme: str, node_part: str, keys: tuple[str, ...], query: str, shown: str
) -> StreamUrl:
    """The authority (user, password, nodes), the database and the query of a network URL."""
    authority, _, middle = node_part.partition("/")
    username = password = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        if colon:
            password = unquote(secret)
            remember(password)
    nodes = tuple(n for n in authority.split(",") if n)
    if not nodes:
        raise UsageError(f"invalid stream URL {shown!r}: no node (host:port) has been specified")
    for n in nodes:
        _check_host_port(n, shown)
    db = None
    if middle:
        if scheme == "kafka" or not middle.isdigit():
            where = "a database number" if scheme != "kafka" else "nothing"
            raise UsageError(
                f"invalid stream URL {shown!r}: {middle!r} between the nodes and the keys "
                f"(expected {where} there)"
            )
        db = int(middle)
    try:
        settings = tuple(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise UsageError(
            f"invalid stream URL {shown!r}: bad query {redact(query)!r} (expected name=value&...)"
        ) from None
    for name, value in settings:
        if is_secret(name):
            remember(value)
    return StreamUrl(scheme, nodes, keys, username, password, db, settings)


def _shown(text: object) -> str:
    """``text`` for an error message: the password of a ``scheme://user:password@`` and the
    values of secret query settings masked (the URL may not parse)."""
    if not isinstance(text, str):
        return str(text)
    head, sep, rest = text.partition("://")
    if sep and head.lower() in NETWORK:
        before, _, query = rest.partition("?")
        authority = before.split("/", 1)[0]
        if "@" in authority:
            userinfo, _, tail = before.partition("/")[0].rpartition("@")
            user, colon, secret = userinfo.partition(":")
            if colon:
                remember(unquote(secret))
                remember(secret)
                before = f"{user}:***@" + before[len(userinfo) + 1 :]
        if query:
            parts = []
            for item in query.split("&"):
                name, eq, value = item.partition("=")
                if eq and is_secret(unquote(name)):
                    remember(unquote(value))
                    value = "***"
                parts.append(f"{name}{eq}{value}")
            before += "?" + "&".join(parts)
        text = f"{head}://{before}"
    return redact(text)


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
