"""The ``--json-filter`` expression language: its meaning, and errors that name the column."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssfile.errors import UsageError
from ssfile.file.surgery.jsonexpr import JsonExprError, compile_expr, payload_matcher

DOC = {
    "qty": 7,
    "price": 9.5,
    "sku": "SKU-1",
    "flag": True,
    "none": None,
    "zero": 0,
    "tags": ["a", "b"],
    "user": {"id": 3, "name": "ann"},
    "odd key": 1,
    "and": "kw",
}


@pytest.mark.parametrize(
    "expr, expected",
    [
        ('qty > 5 and sku == "SKU-1"', True),
        ('qty > 7 or sku != "SKU-1"', False),
        ("qty >= 7 and qty <= 7 and qty < 8", True),
        ("price == 9.5 and qty == 7.0", True),
        ("flag == true and flag != 1 and zero != false", True),
        ('sku > "SKU-0" and sku < "SKU-2"', True),
        ('qty > "5"', False),  # different types never order
        ("none == null and not (missing == null) and not (missing != null)", True),
        ("missing > 1 or missing", False),
        ("not missing", True),
        ("flag and qty and not zero and not none", True),
        ('tags[1] == "b" and tags[2] == null', False),
        ('tags == ["a", "b"]', None),  # a list literal is only for `in`: a syntax error
        ('user.id in [1, 2, 3] and user.name in ["ann"]', True),
        ("user.id in []", False),
        ('$["odd key"] == 1 and $["and"] == "kw"', True),
        ("not not flag", True),
        ('(qty > 100 or qty < 10) and not (sku == "x" or flag == false)', True),
        ("qty > -1e3 and price < 1E1", True),
        ("user[0] == 1 or tags.x == 1 or qty.y == 1", False),
    ],
)
def test_meaning(expr, expected):
    if expected is None:
        with pytest.raises(JsonExprError):
            compile_expr(expr)
        return
    assert compile_expr(expr)(DOC) is expected


@pytest.mark.parametrize(
    "expr, column, text",
    [
        ("qty >", 6, "expected a field name or a value, found the end"),
        ("qty = 5", 5, "unexpected character '=' (use == or !=)"),
        ("sku == 'x'", 8, "strings use double quotes"),
        ('sku == "x', 8, "unterminated or invalid string"),
        ("qty > 5 sku", 9, "unexpected 'sku'"),
        ("(qty > 5", 9, "expected ')'"),
        ("", 1, "empty expression"),
        ("a and", 6, "expected a field name or a value"),
        ("a.", 3, "expected a field name after '.'"),
        ("a[x]", 3, "expected an array index or a quoted field name"),
        ("a[-1]", 3, "expected an array index"),
        ("a in 5", 6, "expected '['"),
        ("a in [1 2]", 9, "expected ',' or ']'"),
        ("a in [b]", 7, "expected a value"),
        ("(a) == 1", 5, "a parenthesised condition cannot be compared"),
        ("a == (1)", 6, "parentheses group conditions, not values"),
        ("qty > 5 & x", 9, "unexpected character '&'"),
    ],
)
def test_errors_name_the_column(expr, column, text):
    with pytest.raises(JsonExprError) as err:
        compile_expr(expr)
    assert err.value.column == column
    assert text in str(err.value) and f"column {column}:" in str(err.value)
    assert isinstance(err.value, UsageError) and "\n" not in str(err.value)


def test_payloads_that_are_not_json_match_nothing():
    match = payload_matcher("not x")
    assert match(b'{"y": 1}') and match(b"[]") and match(b"3")
    for payload in (b"", b"{", b"\xff\xfe", b"not json"):
        assert not match(payload)


def test_no_eval():
    """Names are field names: nothing in an expression reaches Python."""
    assert compile_expr("__import__")({"__import__": 1}) is True
    assert compile_expr("__class__")({}) is False


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5, allow_nan=False)
    | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(a=json_values, b=json_values)
def test_equality_is_json_equality(a, b):
    """`$ == literal` agrees with comparing the JSON texts' canonical forms (numbers by value,
    true is not 1)."""

    def canon(v):
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return (type(v).__name__, v)
        if isinstance(v, (int, float)):
            return ("num", float(v))
        if isinstance(v, list):
            return ("list", tuple(canon(x) for x in v))
        return ("obj", tuple(sorted((k, canon(x)) for k, x in v.items())))

    if isinstance(b, (list, dict)):
        return  # literals are scalars
    expr = f"$ == {json.dumps(b)}"
    assert compile_expr(expr)(a) is (canon(a) == canon(b))
    assert compile_expr(f"$ != {json.dumps(b)}")(a) is (canon(a) != canon(b))
