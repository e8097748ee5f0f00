"""``-X NAME=VALUE`` and ``--config FILE``: client settings of the network backends, shared by
``relay``, ``dump`` and ``clock`` (names, sources and precedence: ssfile/streamer/settings.py)."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..streamer.settings import parse_assignment, read_config
from ..streamer.uri import StreamUrl


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-X",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a client setting for redis-py or librdkafka, e.g. -X ssl_ca_certs=ca.crt or "
        "-X security.protocol=SASL_SSL (repeatable; redis.NAME / kafka.NAME: one backend only)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="client settings from a TOML (.toml) or Java-properties file; -X wins",
    )


def settings(args: argparse.Namespace, *schemes: str) -> dict[str, object] | None:
    """The settings of ``--config`` then ``-X``; None when neither is given.  Refused when no
    endpoint of the command (``schemes``) is a network one."""
    found: dict[str, object] = {}
    if args.config:
        found.update(read_config(args.config))
    for text in args.settings:
        name, value = parse_assignment(text)
        found[name] = value
    if not args.config and not args.settings:
        return None
    if not any(s in ("redis", "rediss", "kafka") for s in schemes):
        raise UsageError("-X and --config set client settings of redis:// and kafka:// only")
    return found


def connect_options(url: StreamUrl, found: dict[str, object] | None) -> dict[str, object]:
    """Keyword options of ``connect(url, ...)``: the settings, for a network URL."""
    if found is None or url.scheme not in ("redis", "rediss", "kafka"):
        return {}
    return {"settings": found}
