"""Lazy imports of optional dependencies: a missing one names the extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependency


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`~ssfile.errors.MissingDependency` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        if err.name is not None and err.name.split(".")[0] != top:
            raise  # the module is there but one of *its* imports is broken: show that
        raise MissingDependency(module, extra) from err
