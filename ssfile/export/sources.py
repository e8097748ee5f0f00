"""What ``source`` names for the exports: one path, an fsspec URL, a glob, or a list of them.

:func:`resolve` returns None for a single local path (the caller reads it as before, by
memory map) and otherwise the list of files, sorted by name and without duplicates: each
glob is expanded (locally with :mod:`glob`, remotely with the filesystem's ``glob``), and
every URL keeps its scheme in its name, which is what the ``file`` column shows.  A glob
that matches nothing is an error, as is an empty list.  ``file://`` URLs are local paths.

A remote file is copied into a temporary file first (streamed in blocks, so memory stays
bounded) and scanned from there; errors name the URL, not the copy.  With ``since``/``until``
the exports fetch only the window's bytes instead (:mod:`.window`).
"""

from __future__ import annotations

import contextlib
import glob as _glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import FormatError
from ..file.remote import filesystem, is_url, local_path

COPY_BLOCK = 8 << 20


@dataclass(frozen=True)
class Source:
    """One file: ``name`` (what errors and the ``file`` column show), and either a local
    ``path`` or an fsspec filesystem ``fs`` with the path inside it."""

    name: str
    path: str
    fs: Any = None


@dataclass(frozen=True)
class Resolved:
    """The files of a source; ``many`` when it could name several (a glob or a list)."""

    files: list[Source]
    many: bool


def resolve(source: Any, storage_options: dict[str, Any] | None = None) -> Resolved | None:
    """None for one plain local path; else the sorted, de-duplicated files."""
    if isinstance(source, (str, os.PathLike)) and not _is_glob(source) and not is_url(source):
        return None
    items = list(source) if isinstance(source, (list, tuple)) else [source]
    if not items:
        raise ValueError("source is an empty list: name at least one file")
    found: dict[str, Source] = {}
    many = len(items) != 1 or isinstance(source, (list, tuple))
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"a source is a path, a URL or a glob, not {item!r}")
        many = many or _is_glob(item)
        for src in _expand(item, storage_options):
            found.setdefault(src.name, src)
    return Resolved([found[name] for name in sorted(found)], many)


def _is_glob(item: Any) -> bool:
    """A string with glob characters that is not the name of an existing local file."""
    return isinstance(item, str) and _glob.has_magic(item) and not os.path.exists(item)


def _expand(item: str | os.PathLike[str], storage_options: dict[str, Any] | None) -> list[Source]:
    text = os.fspath(item)
    if is_url(text) and local_path(text) is None:
        fs, path = filesystem(text, storage_options)
        if not _glob.has_magic(text):
            return [Source(text, path, fs)]
        matches = sorted(fs.glob(path))
        if not matches:
            raise FileNotFoundError(2, "no file matches the glob", text)
        return [Source(fs.unstrip_protocol(m), m, fs) for m in matches]
    local = local_path(text) or text
    if not _glob.has_magic(local) or os.path.exists(local):
        return [Source(text, local)]
    matches = sorted(m for m in _glob.glob(local, recursive=True) if os.path.isfile(m))
    if not matches:
        raise FileNotFoundError(2, "no file matches the glob", text)
    return [Source(m, m) for m in matches]


@contextlib.contextmanager
def local_file(src: Source) -> Iterator[str]:
    """A local path holding ``src``'s bytes for the duration of the block (remote files are
    copied to a temporary file); format errors raised inside name ``src.name``."""
    try:
        if src.fs is None:
            yield src.path
            return
        with tempfile.TemporaryDirectory(prefix="ssfile-") as tmp:
            copy = os.path.join(tmp, "copy.ss")
            with src.fs.open(src.path, "rb") as remote, open(copy, "wb") as out:
                shutil.copyfileobj(remote, out, COPY_BLOCK)
            yield copy
    except FormatError as err:
        raise err.with_path(src.name)
