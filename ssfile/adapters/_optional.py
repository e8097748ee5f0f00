"""Lazy imports of optional dependencies: a missing one names the extra that installs it."""

from __future__ import annotations

from ..optional import require

__all__ = ["require"]
