"""The optional C accelerator of the codec's hot loops (ssfile/_speedups.c), or None.

``speedups`` is the compiled module when it was built and matches this source, else None;
``SSFILE_PURE=1`` in the environment forces None (the pure-Python codec).  The decoder and
the encoder work the same either way: the C functions only take the common case and hand
everything else back to the Python code (tests/test_speedups.py checks both paths agree).
"""

from __future__ import annotations

import os
from types import ModuleType

from ..optional import interrupted

#: the ABI_VERSION of ssfile/_speedups.c this code calls; a stale build is ignored
ABI_VERSION = 5


def pure_forced() -> bool:
    return os.environ.get("SSFILE_PURE", "") not in ("", "0")


def load() -> ModuleType | None:
    if pure_forced():
        return None
    import datetime  # noqa: F401  # the module's init imports it (PyDateTime_IMPORT): see below

    try:
        import ssfile._speedups as mod
    except ImportError as err:
        # An import inside a C module's init that is interrupted comes back as an
        # ImportError whose context is the KeyboardInterrupt (PyCapsule_Import does that):
        # taking it for "not built" would lose the Ctrl-C and fall back to pure Python.
        if interrupted(err):
            raise KeyboardInterrupt from None
        return None
    if getattr(mod, "ABI_VERSION", None) != ABI_VERSION:
        return None
    return mod  # type: ignore[no-any-return]  # the C extension is untyped


speedups = load()
if speedups is not None:  # Message.timestamp's getter in C (types imports nothing internal)
    # (it reads the slot through the Message layout the decoder configures; until then, and
    # outside the C range, it calls the Python getter)
    from ..types import Message

    speedups.configure_timestamp(Message._timestamp)
    Message.timestamp = property(speedups.message_timestamp, doc=Message.timestamp.__doc__)

__all__ = ["ABI_VERSION", "load", "pure_forced", "speedups"]
