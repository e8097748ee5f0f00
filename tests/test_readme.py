"""The README's Python examples run as written (on a demo recording named as they name it):
``r.seek_time("2026-01-01T00:08:20Z")``, ``Slice(since="...")`` and the rest."""

from __future__ import annotations

import ast
import asyncio
import pathlib
import re
import shutil

import pytest

from ssfile.cli.demo import START_MS, record

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
#: blocks that need object storage or many dated files: test_remote.py covers them
ELSEWHERE = ("s3://", "recordings/")


@pytest.fixture
def recordings(tmp_path, monkeypatch) -> pathlib.Path:
    """rec.ss (the demo: 20000 messages, 50 ms apart, from 2026-01-01T00:00:00Z), live.ss
    (a finished copy), damaged.ss (zeroed bytes in the middle), /data/rec.ss as tmp/data."""
    record(str(tmp_path / "rec.ss"), 20_000)
    shutil.copy(tmp_path / "rec.ss", tmp_path / "live.ss")
    data = bytearray((tmp_path / "rec.ss").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 128] = bytes(128)
    (tmp_path / "damaged.ss").write_bytes(bytes(data))
    (tmp_path / "data").mkdir()
    shutil.copy(tmp_path / "rec.ss", tmp_path / "data" / "rec.ss")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_block(source: str, namespace: dict[str, object]) -> None:
    code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # noqa: S307 - our own README
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def test_the_readme_has_the_examples_this_file_tests():
    text = "\n".join(BLOCKS)
    assert 'r.seek_time("2026-01-01T00:08:20Z")' in text
    assert 'ssfile.Slice(streams=("orders",), since="2026-01-01T00:08:20Z"' in text
    assert len([b for b in BLOCKS if not any(e in b for e in ELSEWHERE)]) >= 5


@pytest.mark.parametrize(
    "index", [i for i, b in enumerate(BLOCKS) if not any(e in b for e in ELSEWHERE)]
)
def test_readme_block_runs(recordings, index, capsys):
    source = BLOCKS[index].replace("file:///data/", f"file://{recordings}/data/")
    namespace: dict[str, object] = {}
    run_block("import ssfile", namespace)  # as the README's first block does
    with pytest.warns() if "damaged.ss" in source else _nothing():
        run_block(source, namespace)
    if 'r.seek_time("2026-01-01T00:08:20Z")' in source:
        # the block went on from there: seek_sequence and a Slice; check the seek itself too
        import ssfile

        with ssfile.open("rec.ss") as r:
            first = r.seek_time("2026-01-01T00:08:20Z")
            assert first is not None and first.timestamp_ms == START_MS + 500_000
            s = ssfile.Slice(streams=("orders",), since="2026-01-01T00:08:20Z")
            assert next(s.messages(r)).timestamp_ms >= START_MS + 500_000


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
