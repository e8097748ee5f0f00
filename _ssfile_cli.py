"""The ``ssfile`` console script's entry point, kept outside the ``ssfile`` package on purpose.

Importing a module of the package runs ``ssfile/__init__.py`` first; a Ctrl-C while that and
the command's modules load would print a ``KeyboardInterrupt`` traceback.  This module is the
first code of ours that runs, and loads nothing: it makes Ctrl-C during start-up exit 130 at
once (nothing is open yet), then hands over to :func:`ssfile.cli.entry`, which takes Ctrl-C
back as ``KeyboardInterrupt`` for the command to close its outputs.
"""

try:  # a Ctrl-C before our handler is in place: exit 130 all the same (no traceback)
    import _signal  # built in, like posix/nt: importing them costs nothing

    try:  # not os: a Ctrl-C may come while os itself is still loading
        from posix import _exit
    except ImportError:  # Windows
        from nt import _exit  # type: ignore[no-redef]

    def _interrupted_while_starting(signum, frame):  # type: ignore[no-untyped-def]
        _exit(130)

    if _signal.getsignal(_signal.SIGINT) is not _signal.SIG_IGN:  # `cmd &` ignores it: keep that
        _signal.signal(_signal.SIGINT, _interrupted_while_starting)
except KeyboardInterrupt:
    raise SystemExit(130) from None


def entry() -> None:
    from ssfile.cli import entry as run

    run()
