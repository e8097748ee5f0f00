"""``ssfile view FILE [--port N] [--no-browser]``: the local web viewer.

Starts a server on 127.0.0.1 (see :mod:`ssfile.view.server`), prints the URL with its
random token, opens it in the browser unless ``--no-browser``, and serves until Ctrl-C
(exit 130, as every command interrupted by Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import FormatError, UsageError
from . import EXIT_INTERRUPTED

EPILOG = """The server listens on 127.0.0.1 only and every request needs the token in the
printed URL.  Damaged and growing files open too.  A connection idle for 30 s is closed.
exit status: 130 stopped with Ctrl-C; 2 no such file, not a regular file, or the port is
taken."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "view",
        help="browse a .ss file in a local web viewer",
        description="Serve a web viewer for FILE on 127.0.0.1 and open it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="FILE", help="the .ss file")
    p.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="port to listen on (default: any free port)",
    )
    p.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    p.set_defaults(run=run)


def _check_file(path: str) -> None:
    """A missing file is an error; a damaged header only a warning (the page shows verify's
    diagnosis; the message table needs a readable header)."""
    from ..file.reader import read_header

    if path == "-":
        raise UsageError(
            "the viewer serves a file while you browse it and cannot read stdin: "
            "save the stream to a file first (ssfile view needs a regular file)"
        )
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise UsageError(f"{path}: not a regular file")
    try:
        read_header(path)
    except FormatError as err:
        print(
            f"ssfile view: warning: {err} (serving anyway: the page shows what verify finds)",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    from ..view.server import ViewServer, viewer_dir

    _check_file(args.path)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, not {args.port}")
    if not (viewer_dir() / "index.html").is_file():
        raise UsageError(
            f"the viewer's files are missing ({viewer_dir()}): reinstall ssfile "
            "or set SSFILE_VIEWER_DIR"
        )
    try:
        server = ViewServer(os.path.abspath(args.path), args.port)
    except OSError as err:
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {err.strerror or err}") from err
    print(f"ssfile view: {args.path} at {server.url}  (Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("ssfile view: stopped", file=sys.stderr)
    return EXIT_INTERRUPTED  # serving ends only with Ctrl-C
