"""A small expression language over JSON payloads, for ``ssfile filter --json-filter``.

    qty > 5 and sku == "SKU-1"
    not (side == "sell") or price.usd >= 10.5
    items[0].name in ["a", "b"] and $["odd key"] != null

Grammar (keywords are lower case)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=") operand
                           | "in" list]
    operand    := literal | path | "(" expr ")"
    list       := "[" [literal ("," literal)*] "]"
    literal    := NUMBER | STRING | "true" | "false" | "null"
    path       := (NAME | "$") ("." NAME | "[" INTEGER "]" | "[" STRING "]")*

``NAME`` is ``[A-Za-z_][A-Za-z0-9_]*`` (other field names: ``$["field name"]``; ``$`` is the
whole payload); strings are JSON strings in double quotes; numbers are JSON numbers (a
leading ``-`` allowed).

Meaning, for one payload parsed as JSON:

* a path names a value inside the payload; a missing one (no such field, index out of
  range, or a step into something that is not an object/array) makes every comparison that
  uses it false (``!=`` too), and a bare path is false;
* ``==``/``!=`` compare JSON values exactly: ``1 == 1.0`` but ``true != 1`` and
  ``"1" != 1``; ``<``, ``<=``, ``>``, ``>=`` compare two numbers or two strings (code
  point order) and are false for anything else;
* ``x in [a, b]``: ``x == a or x == b``;
* a bare path or literal is true when it exists and is not ``false``, ``null``, ``0``,
  ``""``, ``[]`` or ``{}``;
* a payload that is not valid UTF-8 JSON matches no expression.

Parsing never calls ``eval``: :func:`compile_expr` tokenizes, parses by recursive descent
and builds a tree of small closures.  A syntax error is a :class:`JsonExprError` naming the
column (1-based) in the expression.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError

#: a compiled expression: parsed payload -> bool
Predicate = Callable[[object], bool]


class JsonExprError(UsageError):
    """A syntax error in a JSON filter expression; ``column`` is 1-based."""

    def __init__(self, expr: str, column: int, message: str) -> None:
        self.expr = expr
        self.column = column
        super().__init__(f"json filter {expr!r}: column {column}: {message}")


_MISSING = object()  # a path that names nothing

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<string>"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],.$])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number string op punct name keyword end
    text: str
    pos: int  # 0-based index in the expression

    def describe(self) -> str:
        return "the end of the expression" if self.kind == "end" else repr(self.text)


def tokenize(expr: str) -> list[Token]:
    """The tokens of ``expr``, ending with an ``end`` token."""
    tokens = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            ch = expr[pos]
            hint = " (strings use double quotes)" if ch == "'" else ""
            if ch == '"':
                raise JsonExprError(expr, pos + 1, "unterminated or invalid string")
            if ch in "=!":
                hint = " (use == or !=)"
            raise JsonExprError(expr, pos + 1, f"unexpected character {ch!r}{hint}")
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            text = m.group()
            if kind == "name" and text in _KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, text, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(expr)))
    return tokens


# ---- values --------------------------------------------------------------------------------


def _is_number(v: object) -> bool:
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def json_equal(a: object, b: object) -> bool:
    """JSON equality: numbers by value, booleans only equal booleans, containers deeply."""
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def _ordered(op: str) -> Callable[[Any, Any], bool]:
    compare: Callable[[Any, Any], bool] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[op]

    def test(a: object, b: object) -> bool:
        if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return compare(a, b)
        return False

    return test


def _truthy(v: object) -> bool:
    return v is not _MISSING and v is not None and v is not False and v not in (0, "", [], {})


# ---- parser --------------------------------------------------------------------------------

#: an operand: parsed payload -> value (or _MISSING)
Getter = Callable[[object], object]


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = tokenize(expr)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None) -> JsonExprError:
        tok = self.tok if tok is None else tok
        return JsonExprError(self.expr, tok.pos + 1, message)

    def take(self, kind: str, text: str | None = None) -> Token | None:
        tok = self.tok
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, text: str, what: str) -> Token:
        tok = self.take(kind, text)
        if tok is None:
            raise self.error(f"expected {what}, found {self.tok.describe()}")
        return tok

    def parse(self) -> Predicate:
        if self.tok.kind == "end":
            raise self.error("empty expression")
        pred = self.or_()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.describe()} (expected and, or, or the end)")
        return pred

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.take("keyword", "or"):
            parts.append(self.and_())
        if len(parts) == 1:
            return parts[0]
        return lambda doc: any(p(doc) for p in parts)

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while self.take("keyword", "and"):
            parts.append(self.not_())
        if len(parts) == 1:
            return parts[0]
        return lambda doc: all(p(doc) for p in parts)

    def not_(self) -> Predicate:
        if self.take("keyword", "not"):
            inner = self.not_()
            return lambda doc: not inner(doc)
        return self.comparison()

    def comparison(self) -> Predicate:
        start = self.tok
        if start.kind == "punct" and start.text == "(":
            self.i += 1
            inner = self.or_()
            self.expect("punct", ")", "')'")
            if self.tok.kind == "op" or (self.tok.kind == "keyword" and self.tok.text == "in"):
                raise self.error("a parenthesised condition cannot be compared")
            return inner
        left = self.operand()
        op = self.tok
        if op.kind == "op":
            self.i += 1
            right = self.operand()
            return _compare(op.text, left, right)
        if op.kind == "keyword" and op.text == "in":
            self.i += 1
            values = self.list_()
            return lambda doc: (
                (v := left(doc)) is not _MISSING and any(json_equal(v, x) for x in values)
            )
        return lambda doc: _truthy(left(doc))

    def operand(self) -> Getter:
        tok = self.tok
        if tok.kind in ("number", "string") or (
            tok.kind == "keyword" and tok.text in ("true", "false", "null")
        ):
            value = self.literal()
            return lambda doc: value
        if tok.kind == "name" or (tok.kind == "punct" and tok.text == "$"):
            return self.path()
        if tok.kind == "punct" and tok.text == "(":
            raise self.error("parentheses group conditions, not values")
        raise self.error(f"expected a field name or a value, found {tok.describe()}")

    def literal(self) -> object:
        tok = self.tok
        self.i += 1
        if tok.kind in ("number", "string"):
            return json.loads(tok.text)
        if tok.kind == "keyword" and tok.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[tok.text]
        raise self.error(f"expected a value, found {tok.describe()}", tok)

    def list_(self) -> list[object]:
        self.expect("punct", "[", "'[' (a list of values after 'in')")
        values: list[object] = []
        if self.take("punct", "]"):
            return values
        while True:
            values.append(self.literal())
            if self.take("punct", "]"):
                return values
            self.expect("punct", ",", "',' or ']'")

    def path(self) -> Getter:
        first = self.tok
        self.i += 1
        steps: list[str | int] = [] if first.text == "$" else [first.text]
        while True:
            if self.take("punct", "."):
                name = self.take("name")
                if name is None:
                    raise self.error(
                        f"expected a field name after '.', found {self.tok.describe()}"
                    )
                steps.append(name.text)
            elif self.take("punct", "["):
                tok = self.tok
                if tok.kind == "string":
                    steps.append(json.loads(tok.text))
                elif tok.kind == "number" and re.fullmatch(r"0|[1-9][0-9]*", tok.text):
                    steps.append(int(tok.text))
                else:
                    raise self.error(
                        f"expected an array index or a quoted field name, found {tok.describe()}"
                    )
                self.i += 1
                self.expect("punct", "]", "']'")
            else:
                break
        return _getter(tuple(steps))


def _getter(steps: tuple[str | int, ...]) -> Getter:
    def get(doc: object) -> object:
        for step in steps:
            if isinstance(step, str):
                if not isinstance(doc, dict) or step not in doc:
                    return _MISSING
                doc = doc[step]
            else:
                if not isinstance(doc, list) or step >= len(doc):
                    return _MISSING
                doc = doc[step]
        return doc

    return get


def _compare(op: str, left: Getter, right: Getter) -> Predicate:
    if op in ("==", "!="):
        want = op == "=="

        def equal(doc: object) -> bool:
            a, b = left(doc), right(doc)
            if a is _MISSING or b is _MISSING:
                return False
            return json_equal(a, b) is want

        return equal
    test = _ordered(op)

    def ordered(doc: object) -> bool:
        a, b = left(doc), right(doc)
        if a is _MISSING or b is _MISSING:
            return False
        return test(a, b)

    return ordered


def compile_expr(expr: str) -> Predicate:
    """A predicate over parsed JSON documents; :class:`JsonExprError` for a bad expression."""
    return _Parser(expr).parse()


def payload_matcher(expr: str) -> Callable[[bytes], bool]:
    """A predicate over raw payloads: parse as JSON (no match if that fails), then test."""
    pred = compile_expr(expr)
    loads = json.loads

    def match(payload: bytes) -> bool:
        try:
            doc = loads(payload)
        except ValueError:  # not UTF-8 or not JSON (json.JSONDecodeError, UnicodeDecodeError)
            return False
        return pred(doc)

    return match


__all__ = ["JsonExprError", "compile_expr", "json_equal", "payload_matcher", "tokenize"]
