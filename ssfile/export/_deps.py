"""Lazy imports of the optional analysis libraries."""

from __future__ import annotations

from types import ModuleType

from ..optional import require as _load


def numpy() -> ModuleType:
    return _load("numpy", "numpy")


def pandas() -> ModuleType:
    return _load("pandas", "pandas")


def pyplot() -> ModuleType:
    return _load("matplotlib.pyplot", "plot")


def pyarrow() -> ModuleType:
    return _load("pyarrow", "arrow")
