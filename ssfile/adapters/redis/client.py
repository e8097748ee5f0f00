"""redis-py client arguments from a URL and :class:`RedisOptions`: addresses, credentials, TLS
and client settings, the same for ``ssfile dump`` (sync client) and the streamer (asyncio);
which redis-py errors are transient; one-line errors that never show a secret.

Client settings (URL query, ``-X``, ``--config``, ``SSFILE_REDIS_*``, ``settings=``; see
ssfile/streamer/settings.py) that are not options go to redis-py; the known ones are
:data:`CLIENT_SETTINGS` (``ssl_*`` ones need TLS: ``rediss://`` or ``tls=1``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import BackendError, UsageError
from ...redact import redact
from ...streamer.uri import StreamUrl

DEFAULT_PORT = 6379


@dataclass(frozen=True)
class RedisOptions:
    """Connect options (keyword arguments of ``connect``; also settable by name as settings)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int = 0
    tls: bool = False  # TLS as with rediss://
    key_prefix: str = ""  # prepended to every Redis key (namespacing; not in messages)
    field_rule: str = "auto"  # entry fields -> payloads (mapping.FIELD_RULES)
    timeout: float = 5.0  # connect / command timeout, seconds
    retry_for: float = 30.0  # how long transient failures are retried, seconds
    block_ms: int = 1000  # XREAD/XREADGROUP BLOCK while following
    read_batch: int = 1000  # COUNT of XREAD (RealTime)
    group_batch: int = 100  # COUNT of XREADGROUP / XAUTOCLAIM
    produce_batch: int = 1000  # XADDs per pipeline round trip
    claim_idle_ms: int = 30000  # LoadBalanced: claim entries pending this long elsewhere
    ack_interval: float = 0.05  # background XACK batching, seconds
    consumer_id: str | None = None  # group members' Redis consumer name (default: see spec)
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False)  # redis-py's


def _text(name: str, value: object) -> str:
    return str(value)


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return text in ("1", "true", "yes", "on")
    raise UsageError(f"Redis setting {name}={value!r}: expected a boolean (1/0, true/false)")


def _seconds(name: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"Redis setting {name}={value!r}: expected a number of seconds") from None


def _cert_reqs(name: str, value: object) -> str:
    text = str(value).lower()
    if text not in ("none", "optional", "required"):
        raise UsageError(f"Redis setting {name}={value!r}: expected none, optional or required")
    return text


#: redis-py client settings: name -> conversion of the text given
CLIENT_SETTINGS: dict[str, Callable[[str, object], object]] = {
    "ssl_ca_certs": _text,
    "ssl_ca_path": _text,
    "ssl_ca_data": _text,
    "ssl_certfile": _text,
    "ssl_keyfile": _text,
    "ssl_password": _text,
    "ssl_cert_reqs": _cert_reqs,
    "ssl_check_hostname": _flag,
    "ssl_ciphers": _text,
    "client_name": _text,
    "socket_keepalive": _flag,
    "health_check_interval": _seconds,
}


def node_address(url: StreamUrl, node: str) -> tuple[str, int]:
    """``host[:port]`` or ``[ipv6]:port`` -> (host, port); 6379 by default."""
    if node.startswith("["):
        host, _, port_text = node[1:].partition("]")
        port_text = port_text[1:] if port_text.startswith(":") else port_text
    else:
        host, _, port_text = node.partition(":")
    if not host:
        raise UsageError(f"{url}: empty host in {node!r}")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"{url}: invalid port {port_text!r} (1..65535)")
    return host, int(port_text)


def uses_tls(url: StreamUrl, options: RedisOptions) -> bool:
    return url.scheme == "rediss" or options.tls


def client_kwargs(url: StreamUrl, options: RedisOptions, client_class: Any) -> dict[str, Any]:
    """Credentials, TLS and client settings for ``client_class`` (a redis-py client or
    cluster class); a setting it does not take is a :class:`UsageError`."""
    tls = uses_tls(url, options)
    kwargs: dict[str, Any] = {
        "username": options.username,
        "password": options.password,
        "ssl": tls,
    }
    params = inspect.signature(client_class.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for name, value in options.settings.items():
        convert = CLIENT_SETTINGS.get(name)
        if convert is None:
            raise UsageError(
                f"{url}: unknown Redis setting {name!r} (client settings: "
                f"{', '.join(sorted(CLIENT_SETTINGS))}; or an option of RedisOptions)"
            )
        if name.startswith("ssl_") and not tls:
            raise UsageError(f"{url}: setting {name} needs TLS: use rediss:// (or tls=1)")
        if not takes_any and name not in params:
            raise UsageError(
                f"{url}: setting {name} is not supported by redis-py's {client_class.__name__}"
            )
        kwargs[name] = convert(name, value)
    return kwargs


def transient_errors(exc: Any) -> tuple[type[BaseException], ...]:
    """The redis-py errors worth retrying: connection lost, timeouts, a server loading its
    data, and a cluster whose topology is moving (failover, ``MOVED``, ``CLUSTERDOWN``)."""
    return (
        exc.ConnectionError,
        exc.TimeoutError,
        exc.BusyLoadingError,
        exc.ClusterDownError,
        exc.TryAgainError,
        exc.MovedError,
        exc.AskError,
        exc.SlotNotCoveredError,
        exc.ClusterError,
        ConnectionError,
        TimeoutError,
    )


def one_line(err: BaseException) -> str:
    """``err`` as one line, secrets masked."""
    return redact(" ".join(str(err).split()) or type(err).__name__)


def backend_error(
    where: str, err: BaseException, what: str = "", user: str | None = None
) -> BackendError:
    """A one-line BackendError naming the server, what was being done and, for a permission
    error (ACL ``NOPERM``), the user that was refused."""
    prefix = f"{what}: " if what else ""
    if isinstance(err, OSError) and not str(err):
        return BackendError(f"redis://{where}: {prefix}connection failed")
    text = one_line(err)
    if type(err).__name__ == "NoPermissionError":
        text = f"permission denied for user {user or 'default'!r}: {text}"
    return BackendError(f"redis://{where}: {prefix}{text}")
