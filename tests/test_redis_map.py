"""Pure Redis <-> SeaStreamer mapping (notes §9.1) and the documented field rules."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssfile.adapters._optional import require
from ssfile.adapters.redis import mapping as rm
from ssfile.errors import EncodeError, MissingDependency

# ---- ids ---------------------------------------------------------------------------------------


def test_entry_id_maps_to_shifted_sequence_and_ms_timestamp() -> None:
    # 1691686154741-3: sequence is ms * 65536 + 3, timestamp is the ms part
    assert rm.entry_id_to_header(b"1691686154741-3") == (1691686154741 * 65536 + 3, 1691686154741)
    assert rm.entry_id_to_header("0-0") == (0, 0)
    assert rm.entry_id_to_header("0-65535") == (65535, 0)


@given(st.integers(0, rm.MAX_ENTRY_MS), st.integers(0, rm.MAX_ENTRY_SEQ))
def test_ids_round_trip(ms: int, seq: int) -> None:
    sequence, ts = rm.entry_id_to_header(f"{ms}-{seq}".encode())
    assert ts == ms
    assert rm.sequence_to_entry_id(sequence) == f"{ms}-{seq}"
    assert rm.parse_entry_id(rm.sequence_to_entry_id(sequence)) == (ms, seq)


@given(
    st.integers(0, rm.MAX_ENTRY_MS),
    st.integers(0, rm.MAX_ENTRY_SEQ),
    st.integers(0, rm.MAX_ENTRY_MS),
    st.integers(0, rm.MAX_ENTRY_SEQ),
)
def test_sequence_order_is_entry_id_order(ms1: int, s1: int, ms2: int, s2: int) -> None:
    a, _ = rm.entry_id_to_header(f"{ms1}-{s1}")
    b, _ = rm.entry_id_to_header(f"{ms2}-{s2}")
    assert (a < b) == ((ms1, s1) < (ms2, s2))


@pytest.mark.parametrize(
    "bad, why",
    [
        ("1-65536", "exceeds 65535"),
        (f"{1 << 48}-0", r"2\^48-1"),
        ("12", "malformed"),
        ("a-1", "malformed"),
        ("1-", "malformed"),
        ("-1-2", "malformed"),
    ],
)
def test_unmappable_ids_are_errors(bad: str, why: str) -> None:
    with pytest.raises(EncodeError, match=why):
        rm.entry_id_to_header(bad)


def test_sequences_beyond_the_id_space_have_no_entry_id() -> None:
    with pytest.raises(EncodeError):
        rm.sequence_to_entry_id(-1)
    with pytest.raises(EncodeError):
        rm.sequence_to_entry_id(1 << 64)


# ---- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redis_key, expected",
    [
        ("clock", ("clock", 0)),
        (b"clock:0", ("clock", 0)),
        ("clock:7", ("clock", 7)),
        (f"a.b_c-d:{(1 << 64) - 1}", ("a.b_c-d", (1 << 64) - 1)),
    ],
)
def test_split_redis_key(redis_key: str | bytes, expected: tuple[str, int]) -> None:
    assert rm.split_redis_key(redis_key) == expected


@pytest.mark.parametrize(
    "bad", ["clock:x", "clock:", f"clock:{1 << 64}", "clock:1:2", "bad key", "k" * 250]
)
def test_split_rejects_bad_keys(bad: str) -> None:
    with pytest.raises(EncodeError):
        rm.split_redis_key(bad)


@given(st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True), st.integers(0, (1 << 64) - 1))
def test_keys_round_trip(name: str, shard: int) -> None:
    assert rm.split_redis_key(rm.join_redis_key(name, shard, sharded=True)) == (name, shard)
    assert rm.shard_of(rm.join_redis_key(name, shard, sharded=True), name) == shard


def test_unsharded_key_is_the_plain_name() -> None:
    assert rm.join_redis_key("clock", 0, sharded=False) == "clock"
    with pytest.raises(EncodeError):
        rm.join_redis_key("clock", 1, sharded=False)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("k:3", 3),
        (b"k:12", 12),
        ("k", None),
        ("k:", None),
        ("k:x", None),
        ("kk:1", None),
        ("k:1:2", None),
        ("k:-1", None),
    ],
)
def test_shard_of(name: str | bytes, expected: int | None) -> None:
    assert rm.shard_of(name, "k") == expected


# ---- fields ------------------------------------------------------------------------------------


def test_lone_msg_field_is_the_payload_under_both_rules() -> None:
    for rule in rm.FIELD_RULES:
        assert rm.entry_payloads([b"msg", b"\x00\xffhi"], rule) == ([b"\x00\xffhi"], 0)


def test_repeated_msg_gives_one_message_per_value() -> None:
    fields = [b"msg", b"one", b"msg", b"two"]
    assert rm.entry_payloads(fields, "auto") == ([b"one", b"two"], 0)
    assert rm.entry_payloads(fields, "msg") == ([b"one", b"two"], 0)


def test_msg_rule_counts_what_it_ignores() -> None:
    assert rm.entry_payloads([b"a", b"1", b"msg", b"x", b"b", b"2"], "msg") == ([b"x"], 2)
    assert rm.entry_payloads([b"a", b"1"], "msg") == ([], 1)


def test_auto_rule_writes_other_entries_whole_as_json() -> None:
    fields = [b"user", b"ann", b"msg", b"hi", b"raw", b"\xff\x00", b"user", b"bob", b"\xfe", b"v"]
    payloads, ignored = rm.entry_payloads(fields, "auto")
    assert ignored == 0 and len(payloads) == 1
    obj = json.loads(payloads[0])
    assert list(obj) == ["user", "msg", "raw", "base64:" + base64.b64encode(b"\xfe").decode()]
    assert obj["user"] == ["ann", "bob"]
    assert obj["msg"] == "hi"
    assert base64.b64decode(obj["raw"]["base64"]) == b"\xff\x00"


def test_auto_rule_entry_without_msg() -> None:
    payloads, _ = rm.entry_payloads([b"temp", "21.5 °C".encode()], "auto")
    assert json.loads(payloads[0]) == {"temp": "21.5 °C"}


def test_unknown_rule() -> None:
    with pytest.raises(ValueError):
        rm.entry_payloads([b"msg", b"x"], "all")


# ---- optional imports --------------------------------------------------------------------------


def test_require_names_the_extra() -> None:
    assert require("json", "none").dumps(1) == "1"
    with pytest.raises(MissingDependency, match=r"pip install 'ssfile\[redis\]'"):
        require("ssfile_no_such_module_xyz", "redis")
