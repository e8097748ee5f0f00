"""The documentation builds with warnings as errors (``mkdocs build --strict``): every guide,
the API reference generated from the docstrings, the specs, and every link between them."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
GUIDES = [
    "inspect-and-seek",
    "verify-and-repair",
    "redis-dump",
    "kafka",
    "notebooks",
    "viewer",
    "command-line",
]

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    got = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert got.returncode == 0, got.stderr
    assert "WARNING" not in got.stderr, got.stderr
    return out


def page(site: pathlib.Path, name: str) -> str:
    return (site / name / "index.html").read_text()


def test_every_guide_is_built(site):
    for name in GUIDES:
        assert "<h1" in page(site, f"guide/{name}"), name


def test_the_api_reference_comes_from_the_docstrings(site):
    reading = page(site, "reference/reading")
    assert "seek_time" in reading and "Slice" in reading
    # text that only the docstrings hold
    assert "Go to the first message with timestamp &gt;= " in reading
    times = page(site, "reference/times")
    assert "Any time an ssfile API takes" in times
    assert "Root of every error raised by ssfile" in page(site, "reference/errors")


def test_the_specs_are_published_and_linked(site):
    assert "Inputs that are not regular files" in page(site, "spec/cli")
    assert 'href="../../spec/cli/"' in page(site, "guide/command-line")
    assert not (site / "hooks.py").exists()
