"""How the viewer shows a payload: pretty JSON, text, or a hex dump (pure functions)."""

from __future__ import annotations

import json

#: the inspector shows at most this many bytes of a payload (text and hex)
INSPECT_LIMIT = 256 * 1024
PREVIEW_CHARS = 120
_CONTROL = frozenset(range(32)) - {9, 10, 13}


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _text(payload: bytes) -> str | None:
    """The payload as text if it is UTF-8 without control characters (tab/newline allowed)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) in _CONTROL or ord(c) == 127 for c in text):
        return None
    return text


def _json(text: str) -> object:
    """The parsed JSON value; raises ValueError if ``text`` is not one JSON document."""
    if not text.strip():
        raise ValueError("empty")
    return json.loads(text, parse_constant=_reject_constant)


def _text_prefix(data: bytes) -> bool:
    """Whether ``data`` starts as text (allowing a multi-byte character cut at the end)."""
    return any(_text(data[: len(data) - cut]) is not None for cut in range(4))


def kind_of(payload: bytes) -> str:
    """``"json"``, ``"text"`` or ``"binary"`` (a payload over the inspect limit is judged by
    its first 4 KiB, and never parsed as JSON)."""
    if len(payload) > INSPECT_LIMIT:
        return "text" if _text_prefix(payload[:4096]) else "binary"
    text = _text(payload)
    if text is None:
        return "binary"
    try:
        _json(text)
    except (ValueError, RecursionError):
        return "text"
    return "json"


def preview(payload: bytes) -> str:
    """One line for the message table: the text squeezed onto a line, or leading hex bytes."""
    head = payload[: PREVIEW_CHARS * 4]
    text = _text(head) if len(payload) <= len(head) else _text(head[:PREVIEW_CHARS])
    if text is None:
        shown = payload[: PREVIEW_CHARS // 3]
        return shown.hex(" ") + (" …" if len(payload) > len(shown) else "")
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def hex_dump(data: bytes, width: int = 16) -> str:
    """``offset  hex bytes  |ascii|`` lines, offsets relative to the payload start."""
    lines = []
    for at in range(0, len(data), width):
        row = data[at : at + width]
        hexes = " ".join(f"{b:02x}" for b in row).ljust(width * 3 - 1)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{at:08x}  {hexes}  |{text}|")
    return "\n".join(lines)


def describe(payload: bytes, limit: int = INSPECT_LIMIT) -> dict[str, object]:
    """Everything the inspector shows: kind, pretty JSON or text, and a hex dump."""
    shown = payload[:limit]
    out: dict[str, object] = {
        "size": len(payload),
        "truncated": len(payload) > limit,
        "hex": hex_dump(shown),
        "kind": "binary",
        "text": None,
        "json": None,
    }
    text = _text(payload) if len(payload) <= limit else None
    if text is None and len(payload) > limit:  # the shown part may end inside a character
        text = next(
            (t for cut in range(4) if (t := _text(shown[: len(shown) - cut])) is not None), None
        )
    if text is None:
        return out
    out["kind"], out["text"] = "text", text
    if len(payload) <= limit:
        try:
            value = _json(text)
        except (ValueError, RecursionError):
            return out
        out["kind"] = "json"
        out["json"] = json.dumps(value, indent=2, ensure_ascii=False)
    return out
