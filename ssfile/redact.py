"""Secrets are never shown: every password or other secret setting that ssfile reads (from a
URL, ``-X``, a settings file, the environment, connect options) is remembered here, and every
text that leaves ssfile through an error message, a log line or a repr can be passed through
:func:`redact`, which replaces each remembered secret by ``***``.  Process-wide on purpose: a
library error (redis-py, librdkafka) that quotes a secret is masked wherever it surfaces.

Secrets shorter than :data:`MIN_LENGTH` are not masked inside free text (a password ``p``
would mask every letter p of every message); where ssfile itself shows a URL or a setting
(``StreamUrl``, setting errors) the value is replaced by ``***`` whatever its length."""

from __future__ import annotations

import threading

MASK = "***"
MIN_LENGTH = 4
_lock = threading.Lock()
_secrets: set[str] = set()


def remember(secret: object) -> None:
    """Mask ``secret`` (a string of at least :data:`MIN_LENGTH`) in every later :func:`redact`."""
    if isinstance(secret, str) and len(secret) >= MIN_LENGTH:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``***`` (longest first, so a secret
    that contains another is masked whole)."""
    if not _secrets:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
