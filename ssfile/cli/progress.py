"""Progress bars on stderr (tqdm), shared by the commands that read or write a lot: info,
verify, repair, convert, dump, relay.

A bar appears only when stderr is a terminal (``--progress`` forces it, ``--no-progress``
turns it off); it is never part of stdout, and it is cleared when the command ends.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_progress_option(p: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress`` (default: a bar only when stderr is a terminal)."""
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: only when stderr is a terminal)",
    )


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to show a bar: ``--progress``/``--no-progress``, else whether stderr is a TTY."""
    choice = getattr(args, "progress", None)
    if choice is not None:
        return bool(choice)
    return sys.stderr is not None and sys.stderr.isatty()


def byte_bar(total: int | None, desc: str, *, show: bool = True, delay: float = 0.0) -> Any:
    """A bar counting bytes of ``total`` (disabled, and free, when not ``show``)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        delay=delay,
        file=sys.stderr,
        leave=False,
        desc=desc,
        disable=not show,
    )


def count_bar(desc: str, unit: str, *, show: bool = True, total: int | None = None) -> Any:
    """A bar counting items (messages, entries), with a rate; no total = open-ended."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=unit,
        unit_scale=True,
        file=sys.stderr,
        leave=False,
        desc=desc,
        disable=not show,
    )
