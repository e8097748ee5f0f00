"""Expand JSON payloads into flat columns (pure Python, no numpy).

The rule, also stated in the ``to_numpy``/``to_pandas`` docs:

* a payload that is UTF-8 text holding a JSON **object** is expanded: every leaf becomes
  one column named ``payload.<key>``, nested objects giving dotted names
  (``{"a": {"b": 1}}`` -> ``payload.a.b``); arrays, strings, numbers, booleans and null
  are leaves (arrays stay Python lists);
* any other payload (not UTF-8, not JSON, or JSON that is not an object such as ``3`` or
  ``[1, 2]``) is not expanded: its row has a missing value (None) in every JSON column
  and keeps its raw bytes in the ``payload`` column, which is None for expanded rows;
* columns appear in order of first appearance; if two leaves flatten to the same name
  (``{"a.b": 1, "a": {"b": 2}}``) the later one wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

PREFIX = "payload."


def _leaves(obj: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict) and value:
            _leaves(value, name + ".", out)
        else:
            out[name] = value


def parse_object(payload: bytes) -> dict[str, Any] | None:
    """The flattened leaves of a JSON-object payload, or None if the rule says raw."""
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    _leaves(value, PREFIX, out)
    return out


def flatten(payloads: Iterable[bytes]) -> tuple[dict[str, list[Any]], list[bytes | None]]:
    """(JSON columns, raw column) for ``payloads``, both one entry per payload."""
    found: dict[str, tuple[list[int], list[Any]]] = {}
    raw: list[bytes | None] = []
    for row, payload in enumerate(payloads):
        leaves = parse_object(payload)
        if leaves is None:
            raw.append(payload)
            continue
        raw.append(None)
        for name, value in leaves.items():
            rows_values = found.get(name)
            if rows_values is None:
                rows_values = found[name] = ([], [])
            rows_values[0].append(row)
            rows_values[1].append(value)
    columns: dict[str, list[Any]] = {}
    for name, (rows, values) in found.items():
        column: list[Any] = [None] * len(raw)
        for row, value in zip(rows, values):
            column[row] = value
        columns[name] = column
    return columns, raw
