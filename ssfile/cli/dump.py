"""``ssfile dump redis://HOST:PORT/KEY --output F.ss``: record Redis Streams into a ``.ss`` file.

Range ``[--since, --until)`` (since inclusive, until exclusive, at millisecond precision; see
ssfile/adapters/redis/dumper.py for how this differs from upstream's redis-streams-dump).
Rerunning with the same output resumes: only entries missing from the file are appended.
The output is written in place (spec/cli.md, "Outputs"): a kill or Ctrl-C leaves every
message written so far and at most a torn tail, which the next run drops and resumes after.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..adapters._optional import require
from ..adapters.redis import dumper as redis_dump
from ..adapters.redis import mapping as redis_map
from ..adapters.redis import source as redis_source
from ..errors import UsageError
from ..file.output import check_in_place, named
from ..streamer.uri import parse_stream_url
from . import client
from .options import TIME_HELP, non_negative_seconds, positive_int, time_arg


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "dump",
        help="dump Redis Streams into a .ss file (resumable)",
        description="Dump every shard of Redis stream KEY into a .ss file. An existing "
        "output file is resumed: only what it is missing is appended.",
        epilog="The output is written in place: Ctrl-C (exit 130) or a kill keeps every\n"
        "message written so far; rerun to resume.\n"
        "times T: absolute (ISO 8601, no zone = UTC; YYYY-MM-DDTHH:MM:SS.fff; epoch ms) or\n"
        "relative to now: now, -10m or 10m (ten minutes ago), +5m; units ms, s, m, h, d, w.\n"
        "exit status: 0 dumped; 1 a Redis or format error (what was written stays);\n"
        "2 bad usage, bad URI, missing redis extra, the output is not a .ss file; 130 Ctrl-C.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("uri", metavar="redis[s]://[USER:PASSWORD@]HOST:PORT/[DB/]KEY[,KEY...]")
    p.add_argument("-o", "--output", required=True, help="the .ss file (created, or resumed)")
    p.add_argument(
        "--since", type=time_arg, metavar="T", help=f"first time to include ({TIME_HELP})"
    )
    p.add_argument(
        "--until",
        type=time_arg,
        metavar="T",
        help="first time to exclude: the range is [since, until)",
    )
    p.add_argument("--eos", action="store_true", help="end the file with an end-of-stream frame")
    p.add_argument(
        "--fields",
        choices=redis_map.FIELD_RULES,
        default="auto",
        help="auto: a lone 'msg' field is the payload, any other entry is written as "
        "a JSON object; msg: only 'msg' fields, as upstream (others counted, not written)",
    )
    p.add_argument(
        "--page-size",
        type=positive_int,
        default=redis_dump.PAGE_SIZE,
        metavar="N",
        help="entries per XRANGE (default %(default)s)",
    )
    p.add_argument(
        "--retry-for",
        type=non_negative_seconds,
        default=None,
        metavar="SECONDS",
        help="keep retrying a lost connection or a failover this long (default 15)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    client.add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    url = parse_stream_url(args.uri, require_keys=True)
    if url.scheme not in ("redis", "rediss"):
        raise UsageError(f"{url} is not a Redis URL: expected redis://HOST:PORT/KEY")
    settings = client.settings(args, url.scheme)
    opts = redis_dump.DumpOptions(
        since_ms=args.since,
        until_ms=args.until,
        page_size=args.page_size,
        field_rule=args.fields,
        eos=args.eos,
    )
    if opts.since_ms is not None and opts.until_ms is not None and opts.since_ms > opts.until_ms:
        raise UsageError(f"--since {args.since} is after --until {args.until}")
    check_in_place(args.output)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = _Bar(show)
    given = {} if args.retry_for is None else {"retry_for": args.retry_for}
    source = redis_source.open_source(url, **given, **client.connect_options(url, settings))
    try:
        with named(args.output):
            stats = redis_dump.dump(
                source,
                list(url.stream_keys),
                args.output,
                opts,
                progress=bar.update,
                on_plan=bar.start,
            )
    finally:
        bar.close()
        source.close()
    resumed = (
        f", resumed after {len(stats.resumed)} shard(s) already in the file"
        if stats.resumed
        else ""
    )
    print(f"wrote {stats.messages} messages ({stats.entries} entries) to {args.output}{resumed}")
    if stats.ignored_fields:
        print(
            f"ignored {stats.ignored_fields} fields not named 'msg' (--fields msg)", file=sys.stderr
        )
    return 0


class _Bar:
    """A tqdm progress bar, or nothing (not a terminal, or --no-progress)."""

    def __init__(self, show: bool) -> None:
        self._show = show
        self._bar: Any = None

    def start(self, shards: list[redis_source.Shard], total: int | None) -> None:
        if self._show:
            tqdm = require("tqdm", "redis").tqdm
            self._bar = tqdm(
                total=total,
                unit=" entries",
                unit_scale=True,
                file=sys.stderr,
                desc=f"{len(shards)} shard(s)",
            )

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
