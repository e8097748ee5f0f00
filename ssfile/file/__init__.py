"""Layer 3: file drivers around the codec (reader, writer).

The writer (and its encoder) is imported on first use: reading never loads it.
"""

from typing import TYPE_CHECKING, Any

from .reader import Reader, read_header

if TYPE_CHECKING:
    from .writer import Writer


def __getattr__(name: str) -> Any:
    if name == "Writer":
        from .writer import Writer

        return Writer
    raise AttributeError(f"module 'ssfile.file' has no attribute {name!r}")


__all__ = ["Reader", "Writer", "read_header"]
