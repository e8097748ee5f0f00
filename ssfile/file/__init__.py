"""Layer 3: file drivers around the codec (reader, writer)."""

from .reader import Reader, read_header
from .writer import Writer

__all__ = ["Reader", "Writer", "read_header"]
