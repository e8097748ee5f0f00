"""The ``ssfile`` command.  One module per subcommand, each with ``add_parser`` and ``run``.

Exit codes (every command): 0 success; 1 the input has problems (a format error, a
verify finding); 2 bad usage or an input that is not a readable ``.ss`` file at all;
3 completed with data loss (repair); 130 interrupted (Ctrl-C, at any moment, start-up
included).  Errors are one line on stderr, never a traceback, never a secret (passwords are
masked: ssfile/redact.py).  Outputs: see spec/cli.md.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import FormatError, SSError, UsageError
from ..optional import interrupted
from ..redact import redact

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
    "filter",  # recording surgery (issue 15)
    "cut",
    "merge",
    "split",
    "concat",
    "dump",
    "relay",
    "clock",
    "view",
    "completion",
]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_LOSS = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process Ctrl-C stopped
EXIT_TERMINATED = 143  # 128 + SIGTERM: `kill`, systemd, `docker stop` stopped it as cleanly


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a relative time is a value, not an option: `--since -10m` (argparse already treats
        # `-5` and `-.5` so, when no option looks like a negative number; none of ours does)
        self._negative_number_matcher = re.compile(
            r"^-\d+$|^-\d*\.\d+$|^-\d+(?:\.\d+)?(?:ms|s|m|h|d|w)$"
        )

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given ``argv`` naming a command, only that command's module is
    imported (a one-shot ``ssfile cat`` does not load the checker, the streamer, asyncio...)."""
    parser = _Parser(
        prog="ssfile", description="Read, write, seek, verify and replay SeaStreamer .ss files."
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in _commands_for(argv):
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"{__name__}.{name}":
                continue  # not built yet
            raise
        module.add_parser(sub)
    return parser


def _commands_for(argv: Sequence[str] | None) -> list[str]:
    """The subcommand modules to load: the one ``argv`` names first (the top level has only
    --help and --version, no option taking a value), none for ``--version``, else all
    (``ssfile --help``, a typo: the usage lists them)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in COMMANDS:
        return [args[0]]
    if args and args[0] == "--version":
        return []
    return COMMANDS


def version_text() -> str:
    """``ssfile --version``: the version and the codec in use."""
    from .. import __version__
    from ..codec.accel import speedups

    codec = "C accelerator" if speedups is not None else "pure Python"
    return f"ssfile {__version__} (codec: {codec})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    _show_warnings(args.command)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        # the reader of our stdout went away (| head): not an error
        _drop_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except UsageError as err:
        print(redact(f"ssfile {args.command}: error: {err}"), file=sys.stderr)
        return EXIT_USAGE
    except FormatError as err:
        print(redact(f"ssfile {args.command}: error: {err}"), file=sys.stderr)
        return EXIT_PROBLEMS
    except SSError as err:
        print(redact(f"ssfile {args.command}: error: {err}"), file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as err:
        print(redact(f"ssfile {args.command}: error: {describe_os_error(err)}"), file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:
        if interrupted(err):  # a Ctrl-C that a library wrapped (see ssfile.optional)
            return EXIT_INTERRUPTED
        raise


class _Warnings(logging.Handler):
    """ssfile's own log warnings (e.g. a Kafka consumer that librdkafka cannot move) as
    ``ssfile COMMAND: warning: ...`` lines on stderr; librdkafka's own log lines (marked
    ``librdkafka`` by the Kafka backend) are not shown."""

    def __init__(self, command: str) -> None:
        super().__init__(logging.WARNING)
        self.command = command

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "librdkafka", False):
            return
        try:
            text = " ".join(record.getMessage().split())
            print(redact(f"ssfile {self.command}: warning: {text}"), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


_command = ""  # the running command, for the one-line Python warnings of entry()


def _one_line_warning(message: object, *_args: object, **_kw: object) -> str:
    """``warnings.formatwarning`` of the console script: a Python warning (e.g. messages a
    producer still held when the program ended) is one line like every other line the
    command prints, not ``file:line: Category:`` plus a source line."""
    return (
        f"ssfile {_command}: warning: {message}\n" if _command else f"ssfile: warning: {message}\n"
    )


def _show_warnings(command: str) -> None:
    """Show ssfile's log warnings on stderr (once per process: ``main`` may run again)."""
    global _command
    _command = command
    logger = logging.getLogger("ssfile")
    for h in logger.handlers:
        if isinstance(h, _Warnings):
            h.command = command
            return
    logger.addHandler(_Warnings(command))


def describe_os_error(err: OSError) -> str:
    """``PATH: reason`` (both paths of a rename); never an empty name: an error without a
    file name (the places that know it add it, see :func:`ssfile.file.output.named`) is
    shown as its reason alone."""
    reason = err.strerror or str(err)
    if err.filename is None:
        return reason
    if getattr(err, "filename2", None) is not None:
        return f"{err.filename} -> {err.filename2}: {reason}"
    return f"{err.filename}: {reason}"


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that nothing written later (the final flush at exit)
    fails again on a pipe whose reader has gone."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


_terminated = False  # a SIGTERM came: the interrupt it turned into exits 143, not 130


def _exit_now(signum: int, frame: object) -> None:
    os._exit(EXIT_TERMINATED if _terminated else EXIT_INTERRUPTED)


def _terminate_now(signum: int, frame: object) -> None:
    os._exit(EXIT_TERMINATED)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM stops a command as Ctrl-C does (its outputs closed, every message it was
    given written), then exits 143: it is turned into the SIGINT whose handling is in place
    (KeyboardInterrupt, asyncio's cancelling of the main task, or at exit ``_exit_now``).
    Where SIGINT is ignored (``cmd &``), it raises KeyboardInterrupt itself."""
    global _terminated
    _terminated = True
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        raise KeyboardInterrupt
    signal.raise_signal(signal.SIGINT)


def entry() -> None:
    """The ``ssfile`` console script and ``python -m ssfile``.

    Ctrl-C at any moment exits 130 without a traceback: while the modules load and the
    arguments are parsed, while a command runs (each command closes its outputs on the way
    out: a file keeps every message written, a temporary file is removed), and while the
    interpreter shuts down (at once).  The console script enters through ``_ssfile_cli.py``,
    which covers the loading of this package too.  SIGTERM (``kill``, systemd, ``docker
    stop``) stops a running command the same way and exits 143.
    """
    from ..platform import use_lf_newlines

    use_lf_newlines()  # "\n" line ends on Windows too: the same output bytes everywhere
    warnings.formatwarning = _one_line_warning
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # `cmd &`: stays ignored
    try:
        if not ignored:  # the console script exited at once while loading (_ssfile_cli.py)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _terminate)
        code = main()
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except Exception as err:  # while the parser was built (a command's module loading)
        if not interrupted(err):
            raise
        code = EXIT_INTERRUPTED
    try:
        if not ignored:
            signal.signal(signal.SIGINT, _exit_now)
        if signal.getsignal(signal.SIGTERM) is _terminate:
            signal.signal(signal.SIGTERM, _terminate_now)
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except (OSError, ValueError):
        pass
    if _terminated and code == EXIT_INTERRUPTED:
        code = EXIT_TERMINATED
    sys.exit(code)
