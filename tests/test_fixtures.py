"""Conformance: every fixtures/*.ss decodes to its .json, and the fixtures are up to date.

The .json files come from fixtures/generate.py's schema-based reference decode, not from the
decoder under test; the golden upstream files are held to the same reference here too.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

import ssfile
from ssfile.codec.decoder import decode_bytes

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*.ss"))
GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]


def load_generator():
    """fixtures/generate.py as a module (it is a script, not part of the package)."""
    name = "ssfile_fixture_generator"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIXTURES / "generate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def expected(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))


def test_every_generator_output_is_checked_in():
    gen = load_generator()
    assert {p.stem for p in FIXTURE_FILES} == set(gen.GENERATORS)
    assert len(FIXTURE_FILES) >= 12


def test_generate_check_passes():
    run = subprocess.run(
        [sys.executable, str(FIXTURES / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    assert "up to date" in run.stdout


def test_generate_check_notices_a_stale_fixture(tmp_path):
    gen = load_generator()
    for p in FIXTURES.iterdir():
        if p.suffix in (".ss", ".json"):
            (tmp_path / p.name).write_bytes(p.read_bytes())
    assert gen.check(tmp_path) == []
    tiny = tmp_path / "tiny.ss"
    tiny.write_bytes(tiny.read_bytes()[:-1] + b"\x00")
    (tmp_path / "stray.ss").write_bytes(b"")
    (tmp_path / "empty.json").unlink()
    problems = gen.check(tmp_path)
    assert any(p.startswith("tiny.ss") for p in problems)
    assert any(p.startswith("stray.ss") for p in problems)
    assert any(p.startswith("empty.json") for p in problems)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_decoder_matches_expected_json(path):
    gen = load_generator()
    data = path.read_bytes()
    assert gen.decoded_json(decode_bytes(data), len(data)) == expected(path.stem)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_reader_yields_the_expected_messages(path):
    doc = expected(path.stem)
    with ssfile.open(path) as r:
        got = [
            (m.offset, m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload.hex())
            for m in r
        ]
        assert r.ended is doc["ended"]
        assert r.header.file_name == doc["header"]["file_name"]
        assert r.header.created_at_ms == doc["header"]["created_at"]
        assert r.header.beacon_interval == doc["header"]["beacon_interval"]
    want = [
        (e["offset"], e["stream_key"], e["shard_id"], e["sequence"], e["timestamp"], e["payload"])
        for e in doc["events"]
        if e["type"] == "message"
    ]
    assert got == want


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_match_the_reference_decode(golden_dir, name):
    gen = load_generator()
    data = (golden_dir / f"{name}.ss").read_bytes()
    assert gen.decoded_json(decode_bytes(data), len(data)) == gen.reference_decode(data)


def _kinds(name: str) -> list[str]:
    return [e["type"] for e in expected(name)["events"]]


def test_fixture_contents_cover_what_they_claim():
    assert _kinds("empty") == [] and not expected("empty")["ended"]
    assert expected("empty")["file_size"] == 128
    assert _kinds("empty-eos") == ["eos"]
    assert not expected("no-eos")["ended"] and "eos" not in _kinds("no-eos")
    # appended-small: the old EOS was replaced, so every message comes before the only EOS
    kinds = _kinds("appended-small")
    assert kinds.count("eos") == 1 and kinds[-1] == "eos" and kinds.count("message") == 7
    assert _kinds("appended").count("eos") == 1
    # I = 128: an empty beacon at 128, the first frame at 135
    first, second = expected("interval-128")["events"][:2]
    assert (first["type"], first["offset"], first["size"], first["markers"]) == (
        "beacon",
        128,
        7,
        [],
    )
    assert second["offset"] == 135
    # spanning: some frame is cut by two or more beacons in a row
    for name in ("spanning", "spanning-256"):
        runs = "".join("b" if k == "beacon" else "m" for k in _kinds(name))
        assert "bbb" in runs, name
    # several marker counts: none at 256, one at 1024, three at 2048
    for name, count in (("multi-256", 0), ("multi-1024", 1), ("multi-2048", 3)):
        beacons = [e for e in expected(name)["events"] if e["type"] == "beacon"]
        assert len(beacons) >= 4 and {len(b["markers"]) for b in beacons} == {count}, name
    assert not expected("binary-unicode")["header"]["file_name"].isascii()
