"""The exception tree.  Every error ssfile raises on purpose is an :class:`SSError`.

Format errors carry the absolute file offset where the bytes went wrong, and their
message states it, so a CLI can print one line and a caller can act on ``.offset``.
"""

from __future__ import annotations


class SSError(Exception):
    """Root of every error raised by ssfile."""


class FormatError(SSError):
    """The bytes do not follow the ``.ss`` format.  ``offset`` is absolute in the file."""

    def __init__(self, message: str, offset: int | None = None, *, path: str | None = None) -> None:
        self.offset = offset
        self.path = path
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" at offset {self.offset}" if self.offset is not None else ""
        file = f"{self.path}: " if self.path else ""
        return f"{file}{self.reason}{where}"

    def with_path(self, path: str) -> FormatError:
        self.path = path
        self.args = (self._render(),)
        return self


class BadMagic(FormatError):
    """The file does not start with ``Ss``."""


class UnsupportedVersion(FormatError):
    """The header's version byte is not 1."""


class ChecksumMismatch(FormatError):
    """A payload checksum does not match the stored one."""

    def __init__(
        self,
        message: str,
        offset: int | None = None,
        *,
        stored: int = 0,
        computed: int = 0,
        path: str | None = None,
    ) -> None:
        self.stored = stored
        self.computed = computed
        super().__init__(message, offset, path=path)


class TruncatedError(FormatError):
    """The file ends inside a record (upstream's ``NotEnoughBytes``)."""


class FieldError(FormatError):
    """A field holds a value the format forbids (bad key, bad length, bad timestamp...)."""


class EncodeError(SSError, ValueError):
    """The caller asked to write something the format cannot hold."""


class WriteFailed(SSError, OSError):
    """Writing to a file failed (disk full, I/O error, failed fsync...); the writer that
    raised it refuses every further write.  ``path``, ``errno``, ``strerror``: what failed;
    ``offset``: the bytes before it were handed to the OS, so the file holds every message
    that ends there (``messages`` of them) and at most a torn tail after it.  ``action``:
    ``"write"``, ``"fsync"``, or ``"lines"`` for a text output (stdio producers)."""

    def __init__(
        self, path: str, err: OSError, offset: int, messages: int, *, action: str = "write"
    ) -> None:
        super().__init__(err.errno, err.strerror)
        self.path = self.filename = path
        self.offset = offset
        self.messages = messages
        self.action = action
        what = err.strerror or str(err)
        code = f" (errno {err.errno})" if err.errno is not None else ""
        if action == "lines":  # a text output (stdio): lines, not a .ss file
            self.message = (
                f"{path}: {what}{code} after {offset} bytes; the output holds the first "
                f"{messages} lines, nothing more will be written"
            )
            return
        verb = "" if action == "write" else f"{action} failed: "
        self.message = (
            f"{path}: {verb}{what}{code} at offset {offset}; the file holds every message "
            f"before that offset ({messages}), nothing more will be written; "
            "open it with mode 'a' or run `ssfile repair` to continue it"
        )

    def __str__(self) -> str:
        return self.message

    def again(self) -> WriteFailed:
        """A fresh copy, to raise the same failure again (each raise has its own traceback)."""
        return WriteFailed(
            self.path,
            OSError(self.errno, self.strerror),
            self.offset,
            self.messages,
            action=self.action,
        )

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            _rebuild_write_failed,
            (self.path, self.errno, self.strerror, self.offset, self.messages, self.action),
        )


def _rebuild_write_failed(path, errno, strerror, offset, messages, action):  # type: ignore[no-untyped-def]
    return WriteFailed(path, OSError(errno, strerror), offset, messages, action=action)


class SeekError(SSError):
    """A seek target is not in the file."""


class StreamError(SSError):
    """Misuse of the streamer API (not anchored, stream ended, ...)."""


class BufferFull(StreamError):
    """A producer holds as many unacknowledged messages (or bytes) as its options allow:
    ``await producer.drain()`` waits until there is room again (spec/streamer.md)."""


class UsageError(SSError, ValueError):
    """Bad arguments, bad input lines, bad URIs: the caller's mistake, described precisely."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}" if line is not None else message)


class BackendError(SSError):
    """A backend (Redis, Kafka, ...) failed; the original exception is ``__cause__``."""


class MissingDependency(SSError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(f"{module} is not installed: pip install 'ssfile[{extra}]'")


class DamageWarning(UserWarning):
    """A reader with ``on_damage="skip"`` skipped damaged bytes and read on past them.

    One warning per skipped range, when the reader skips it.  ``ranges``: the skipped
    ``(offset, length)`` byte ranges (absolute offsets), ``reasons`` what was wrong with
    each, ``path`` the file (or None); ``bytes`` is the total length.
    """

    def __init__(
        self, ranges: list[tuple[int, int]], reasons: list[str], path: str | None = None
    ) -> None:
        self.ranges = list(ranges)
        self.reasons = list(reasons)
        self.path = path
        super().__init__(self._render())

    @property
    def bytes(self) -> int:
        return sum(n for _, n in self.ranges)

    def _render(self) -> str:
        file = f"{self.path}: " if self.path else ""
        parts = [
            f"{off}..{off + n} ({n} bytes): {why}"
            for (off, n), why in zip(self.ranges, self.reasons)
        ]
        return f"{file}skipped damaged bytes at offset " + "; ".join(parts)


ON_DAMAGE = ("raise", "skip")


def check_on_damage(value: object) -> str:
    """``value`` if it is an allowed ``on_damage`` (else ValueError naming the allowed ones)."""
    if value not in ON_DAMAGE:
        raise ValueError(f"on_damage must be 'raise' or 'skip', not {value!r}")
    return value
