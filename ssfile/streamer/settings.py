"""Client settings of the network backends (``redis://``, ``rediss://``, ``kafka://``): one
place that gathers them, for the streamer, ``relay``, ``dump``, ``clock`` and the Python API.

Where a setting comes from, the later winning:

1. the environment: ``SSFILE_REDIS_<NAME>`` gives the Redis setting ``<name>`` (lower case:
   ``SSFILE_REDIS_PASSWORD`` -> ``password``, ``SSFILE_REDIS_SSL_CA_CERTS`` ->
   ``ssl_ca_certs``); ``SSFILE_KAFKA_<NAME>`` gives the librdkafka property ``<name>`` in
   lower case with ``_`` read as ``.`` (``SSFILE_KAFKA_SASL_PASSWORD`` -> ``sasl.password``,
   ``SSFILE_KAFKA_SECURITY_PROTOCOL`` -> ``security.protocol``);
2. the URL: ``user:password@`` (Redis: ``username``/``password``; Kafka: ``sasl.username``/
   ``sasl.password``), the Redis database (``/DB/``) and the query's ``name=value`` pairs;
3. ``settings=`` of ``connect`` (the CLI: ``--config FILE``, then each ``-X name=value``);
   a name may be scoped to one backend as ``redis.NAME`` or ``kafka.NAME`` (a relay between
   Redis and Kafka), unscoped names go to both;
4. the backend's own keyword options of ``connect`` (e.g. ``password=``).

A name that is a field of the backend's options (``RedisOptions``, ``KafkaOptions``: e.g.
``timeout``, ``key_prefix``, ``topic_prefix``) sets that option (text converted to its type);
every other name is a client setting handed to redis-py (a known list, see
ssfile/adapters/redis/client.py) or to librdkafka (any property; librdkafka checks them).
Secret values (names with ``password``, ``secret``, ``token``...) are remembered by
:mod:`ssfile.redact` and never shown.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from ..errors import UsageError
from ..redact import redact, remember
from .uri import StreamUrl, is_secret, parse_stream_url

_Options = TypeVar("_Options")

ENV_PREFIX = {"redis": "SSFILE_REDIS_", "rediss": "SSFILE_REDIS_", "kafka": "SSFILE_KAFKA_"}
SCOPE = {"redis": "redis.", "rediss": "redis.", "kafka": "kafka."}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def environment(scheme: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings of ``scheme`` given by ``SSFILE_REDIS_*`` / ``SSFILE_KAFKA_*``."""
    prefix = ENV_PREFIX.get(scheme)
    if prefix is None:
        return {}
    env = os.environ if environ is None else environ
    found = {}
    for var, value in env.items():
        if var.startswith(prefix) and len(var) > len(prefix):
            name = var[len(prefix) :].lower()
            found[name.replace("_", ".") if scheme == "kafka" else name] = value
    return found


def from_url(url: StreamUrl) -> dict[str, object]:
    """The settings a network URL carries: credentials, database, query."""
    found: dict[str, object] = {}
    user_key, password_key = (
        ("sasl.username", "sasl.password") if url.scheme == "kafka" else ("username", "password")
    )
    if url.username is not None:
        found[user_key] = url.username
    if url.password is not None:
        found[password_key] = url.password
    if url.db is not None:
        found["db"] = url.db
    found.update(url.settings)
    return found


def scoped(settings: Mapping[str, object], scheme: str) -> dict[str, object]:
    """``settings`` for ``scheme``: ``redis.X``/``kafka.X`` only for their backend (as ``X``),
    unscoped names for every backend."""
    mine = SCOPE.get(scheme, "")
    others = tuple(p for p in set(SCOPE.values()) if p != mine)
    found = {}
    for name, value in settings.items():
        if mine and name.startswith(mine):
            found[name[len(mine) :]] = value
        elif not name.startswith(others):
            found[name] = value
    return found


def resolve(
    url: StreamUrl | str,
    options_type: type[_Options],
    kwargs: Mapping[str, Any],
    *,
    defaults: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[StreamUrl, _Options]:
    """What a network backend's ``connect(url, **kwargs)`` starts with: the parsed URL and its
    options dataclass, whose ``settings`` field holds the client settings (every name that is
    not an option).  ``defaults`` (the caller's, below every source) replace the dataclass's.
    Any mistake is a :class:`UsageError` naming the setting and its source."""
    if isinstance(url, str):
        url = parse_stream_url(url)
    explicit = dict(kwargs)
    given = explicit.pop("settings", None) or {}
    layers: dict[str, tuple[object, str]] = {
        name: (value, "defaults") for name, value in (defaults or {}).items()
    }
    for name, text in environment(url.scheme, environ).items():
        var = ENV_PREFIX[url.scheme] + name.replace(".", "_").upper()
        layers[name] = (text, f"environment variable {var}")
    for name, found in from_url(url).items():
        layers[name] = (found, "the URL")
    for name, found in scoped(given, url.scheme).items():
        layers[name] = (found, "settings")
    fields = {f.name: f for f in dataclasses.fields(options_type) if f.name != "settings"}  # type: ignore[arg-type]
    chosen: dict[str, Any] = {}
    client: dict[str, object] = {}
    for name, (value, origin) in layers.items():
        if is_secret(name):
            remember(str(value))
        if name in fields:
            if name not in explicit:
                chosen[name] = _convert(name, value, fields[name], origin)
        else:
            client[name] = value
    for name, value in explicit.items():
        if is_secret(name):
            remember(value)
    chosen.update(explicit)
    try:
        return url, options_type(**chosen, settings=client)  # type: ignore[call-arg]
    except TypeError as err:
        raise UsageError(f"{url.scheme}:// connect: {redact(str(err))}") from None


def _convert(name: str, value: object, f: dataclasses.Field[Any], origin: str) -> object:
    """A setting's value as the type of the option field ``f`` (given by its default)."""
    default = f.default
    if default is dataclasses.MISSING or isinstance(default, str) or default is None:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        kind = "text"
    elif isinstance(default, bool):
        text = str(value).lower()
        if isinstance(value, bool):
            return value
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        kind = "a boolean (1/0, true/false, yes/no, on/off)"
    elif isinstance(default, (int, float)):
        try:
            number = type(default)(value)  # type: ignore[call-overload, arg-type]
        except (TypeError, ValueError):
            number = None
        if number is not None and not isinstance(value, bool):
            return number
        kind = "an integer" if isinstance(default, int) else "a number"
    else:
        raise UsageError(f"setting {name!r} (from {origin}) can be given only in Python")
    shown = "***" if is_secret(name) else repr(value)
    raise UsageError(f"setting {name}={shown} (from {origin}): expected {kind}")


# ---- the CLI's -X and --config ----------------------------------------------------------------


def parse_assignment(text: str) -> tuple[str, str]:
    """``-X name=value`` -> ``(name, value)``."""
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq or not name:
        raise UsageError(f"-X {_shown_assignment(text)!r}: expected NAME=VALUE")
    if is_secret(name):
        remember(value)
    return name, value


def _shown_assignment(text: str) -> str:
    name, eq, _ = text.partition("=")
    return f"{name}=***" if eq and is_secret(name) else text


def read_config(path: str) -> dict[str, object]:
    """Settings from a file: TOML when the name ends in ``.toml`` (tables flatten to dotted
    names: ``[sasl] mechanism = "PLAIN"`` is ``sasl.mechanism``; ``[redis]``/``[kafka]``
    scope their settings to that backend), else Java properties (``name=value`` or
    ``name: value`` lines, ``#``/``!`` comments)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise UsageError(f"--config {path}: {err.strerror or err}") from None
    if path.endswith(".toml"):
        import tomllib

        try:
            table = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise UsageError(f"--config {path}: {err}") from None
        found = _flatten(table, "")
    else:
        found = _properties(path, data)
    for name, value in found.items():
        if is_secret(name):
            remember(str(value))
    return found


def _flatten(table: Mapping[str, Any], prefix: str) -> dict[str, object]:
    found: dict[str, object] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            found.update(_flatten(value, f"{prefix}{name}."))
        else:
            found[prefix + name] = value
    return found


def _properties(path: str, data: bytes) -> dict[str, object]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"--config {path}: not UTF-8 text (byte {err.start})") from None
    found: dict[str, object] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        cuts = [i for i in (line.find("="), line.find(":")) if i > 0]
        if not cuts:
            raise UsageError(
                f"--config {path}: line {number}: expected name=value (or name: value)"
            )
        cut = min(cuts)
        found[line[:cut].strip()] = line[cut + 1 :].strip()
    return found
