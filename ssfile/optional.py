"""Lazy imports of optional dependencies: a missing one names the extra that installs it.

The one place that turns an ``ImportError`` into :class:`~ssfile.errors.MissingDependency`.
Two things are *not* a missing dependency: a library that is installed but fails on one of
its own imports (that error is shown as it is), and a Ctrl-C that came while the library
loaded -- C extensions report an interrupted import of their own as an ``ImportError``
whose cause or context is the ``KeyboardInterrupt`` (``PyCapsule_Import``, NumPy's C API
import), and the interpreter wraps one that comes while a class is made in a
``RuntimeError`` (``Error calling __set_name__``): either is raised again as
``KeyboardInterrupt``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

from .errors import MissingDependency


def interrupted(err: BaseException) -> bool:
    """True if a ``KeyboardInterrupt`` is in ``err``'s chain of causes and contexts."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def require(module: str, extra: str, owners: Iterable[str] = ()) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming ``extra``.

    ``owners``: further top-level packages whose absence also means "install the extra"
    (``dask.dataframe`` needs pandas and numpy too)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if interrupted(err):
            raise KeyboardInterrupt from None
        tops = {module.split(".")[0], *owners}
        if err.name is not None and err.name.split(".")[0] not in tops:
            raise  # the module is there but one of *its* imports is broken: show that
        raise MissingDependency(err.name if err.name in tops else module, extra) from err
    except Exception as err:
        # e.g. a RuntimeError from a class body's __set_name__ (redis-py's cached_property)
        if interrupted(err):
            raise KeyboardInterrupt from None
        raise
