"""Lazy imports of the optional analysis libraries."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependency


def _load(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if err.name is not None and err.name.split(".")[0] != module.split(".")[0]:
            raise  # the library is installed but one of its own imports fails: show that
        raise MissingDependency(module, extra) from err


def numpy() -> ModuleType:
    return _load("numpy", "numpy")


def pandas() -> ModuleType:
    return _load("pandas", "pandas")


def pyplot() -> ModuleType:
    return _load("matplotlib.pyplot", "plot")


def pyarrow() -> ModuleType:
    return _load("pyarrow", "arrow")
