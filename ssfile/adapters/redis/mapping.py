"""Redis Streams <-> SeaStreamer mapping, as upstream defines it (notes §9.1).  Pure functions.

* Entry id ``MS-SEQ`` <-> header: ``timestamp = MS`` (ms, UTC) and
  ``sequence = (MS << 16) | SEQ``; the reverse is ``MS = sequence >> 16``,
  ``SEQ = sequence & 0xFFFF``.  Ids with ``SEQ > 65535`` or ``MS >= 2**48`` have no
  SeaStreamer form and raise :class:`~ssfile.errors.EncodeError`.
* Redis key ``name`` is (``name``, shard 0); ``name:N`` is (``name``, shard N), split at the
  first ``:``; ``N`` must be a u64 and ``name`` a valid stream key.
* Entry fields -> payloads, by one of two documented rules (:data:`FIELD_RULES`):

  ``auto`` (the default; never loses data)
      An entry whose fields are all named ``msg`` gives one message per ``msg`` value, its
      value as payload (exactly upstream).  Any other entry -- no ``msg`` field, or a field
      with another name -- gives **one** message whose payload is the whole entry as a
      compact JSON object ``{"field": value, ...}`` in entry order: a value (or field
      name) that is valid UTF-8 is a JSON string, any other value is ``{"base64": "..."}``,
      and a field name repeated in the entry collects its values in a JSON array (a field
      name that is not UTF-8 becomes the key ``"base64:<base64 of the name>"``).
  ``msg`` (upstream exactly)
      Only ``msg`` values become messages; every other field, and so an entry without
      ``msg``, is ignored -- but counted, so the caller reports how much it ignored.
"""

from __future__ import annotations

import base64
import json
import re

from ...errors import EncodeError

MSG_FIELD = b"msg"
MAX_ENTRY_MS = (1 << 48) - 1
MAX_ENTRY_SEQ = 0xFFFF
MAX_U64 = (1 << 64) - 1
MAX_STREAM_KEY_LEN = 249
FIELD_RULES = ("auto", "msg")

_STREAM_KEY = re.compile(r"[A-Za-z0-9._-]*\Z")


# ---- entry ids ---------------------------------------------------------------------------------


def parse_entry_id(entry_id: bytes | str) -> tuple[int, int]:
    """``b"MS-SEQ"`` -> ``(MS, SEQ)``, checked against the SeaStreamer limits."""
    text = entry_id.decode("ascii", "replace") if isinstance(entry_id, bytes) else entry_id
    ms_text, dash, seq_text = text.partition("-")
    if not (dash and ms_text.isdigit() and seq_text.isdigit()):
        raise EncodeError(f"malformed Redis entry id {text!r}")
    ms, seq = int(ms_text), int(seq_text)
    if ms > MAX_ENTRY_MS:
        raise EncodeError(
            f"Redis entry id {text!r}: milliseconds exceed 2^48-1, no SeaStreamer sequence"
        )
    if seq > MAX_ENTRY_SEQ:
        raise EncodeError(
            f"Redis entry id {text!r}: sequence part exceeds 65535, no SeaStreamer sequence"
        )
    return ms, seq


def entry_id_to_header(entry_id: bytes | str) -> tuple[int, int]:
    """Entry id -> ``(sequence, timestamp_ms)`` of the SeaStreamer message header."""
    ms, seq = parse_entry_id(entry_id)
    return (ms << 16) | seq, ms


def sequence_to_entry_id(sequence: int) -> str:
    """A sequence made by :func:`entry_id_to_header` -> its entry id ``"MS-SEQ"``."""
    if not 0 <= sequence <= MAX_U64 or sequence >> 16 > MAX_ENTRY_MS:
        raise EncodeError(f"sequence {sequence} does not encode a Redis entry id")
    return f"{sequence >> 16}-{sequence & 0xFFFF}"


# ---- keys --------------------------------------------------------------------------------------


def check_stream_key(key: str) -> str:
    """Return ``key`` if it is a valid SeaStreamer stream key, else raise EncodeError."""
    if len(key) > MAX_STREAM_KEY_LEN or not _STREAM_KEY.match(key):
        raise EncodeError(f"invalid stream key {key!r}: valid pattern is [a-zA-Z0-9._-]{{1,249}}")
    return key


def split_redis_key(redis_key: bytes | str) -> tuple[str, int]:
    """Redis key ``name`` -> ``(name, 0)``; ``name:N`` -> ``(name, N)``."""
    text = redis_key.decode("utf-8", "replace") if isinstance(redis_key, bytes) else redis_key
    name, colon, shard_text = text.partition(":")
    shard = 0
    if colon:
        if not shard_text.isdigit() or int(shard_text) > MAX_U64:
            raise EncodeError(f"Redis key {text!r}: shard after ':' must be an integer 0..2^64-1")
        shard = int(shard_text)
    return check_stream_key(name), shard


def join_redis_key(stream_key: str, shard: int, *, sharded: bool) -> str:
    """(``name``, N) -> ``name:N`` (or just ``name`` for an unsharded shard 0)."""
    check_stream_key(stream_key)
    if not sharded:
        if shard != 0:
            raise EncodeError(f"unsharded stream {stream_key!r} has only shard 0, not {shard}")
        return stream_key
    return f"{stream_key}:{shard}"


def shard_of(redis_key: bytes | str, stream_key: str) -> int | None:
    """The shard number if ``redis_key`` is exactly ``stream_key:N``, else None (not a shard)."""
    text = redis_key.decode("utf-8", "replace") if isinstance(redis_key, bytes) else redis_key
    prefix = stream_key + ":"
    rest = text[len(prefix) :]
    if not text.startswith(prefix) or not rest.isdigit() or int(rest) > MAX_U64:
        return None
    return int(rest)


# ---- fields ------------------------------------------------------------------------------------


def entry_payloads(fields: list[bytes], rule: str = "auto") -> tuple[list[bytes], int]:
    """Flat ``[field, value, field, value, ...]`` of one entry -> ``(payloads, ignored)``.

    ``ignored`` counts the fields the rule dropped (only the ``msg`` rule drops any).
    """
    values = [fields[i + 1] for i in range(0, len(fields) - 1, 2) if fields[i] == MSG_FIELD]
    if rule == "msg":
        return values, len(fields) // 2 - len(values)
    if rule != "auto":
        raise ValueError(f"field rule must be one of {FIELD_RULES}, not {rule!r}")
    if values and len(values) * 2 == len(fields):
        return values, 0
    return [entry_to_json(fields)], 0


def entry_to_json(fields: list[bytes]) -> bytes:
    """The whole entry as the compact JSON object of the ``auto`` rule (see module doc)."""
    obj: dict[str, object] = {}
    for i in range(0, len(fields) - 1, 2):
        name, value = _json_text(fields[i]), _json_text(fields[i + 1])
        if isinstance(name, dict):  # a non-UTF-8 field name: keep it, base64 in the key
            name = "base64:" + str(name["base64"])
        if name in obj:
            prev = obj[name]
            obj[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            obj[name] = value
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _json_text(data: bytes) -> str | dict[str, str]:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}
