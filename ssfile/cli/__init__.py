"""The ``ssfile`` command.  One module per subcommand, each with ``add_parser`` and ``run``.

Exit codes (every command): 0 success; 1 the input has problems (a format error, a
verify finding); 2 bad usage or an input that is not a readable ``.ss`` file at all;
3 completed with data loss (repair).  Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ..errors import FormatError, SSError, UsageError

#: subcommand modules, in help order
COMMANDS = [
    "demo",
    "decode",
    "encode",
    "info",
    "cat",
    "convert",
    "verify",
    "repair",
    "dump",
    "relay",
    "clock",
    "view",
]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_LOSS = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="ssfile", description="Read, write, seek, verify and replay SeaStreamer .ss files."
    )
    parser.add_argument("--version", action="version", version=f"ssfile {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"{__name__}.{name}":
                continue  # not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        # the reader of our stdout went away (| head): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except UsageError as err:
        print(f"ssfile {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except FormatError as err:
        print(f"ssfile {args.command}: error: {err}", file=sys.stderr)
        return EXIT_PROBLEMS
    except SSError as err:
        print(f"ssfile {args.command}: error: {err}", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as err:
        print(
            f"ssfile {args.command}: error: {err.filename or ''}: {err.strerror or err}",
            file=sys.stderr,
        )
        return EXIT_USAGE


def entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
