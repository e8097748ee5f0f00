"""ssfile as a user gets it: the sdist and the wheel built by ``python -m build``, the wheel
installed (not editable) into a fresh venv outside the checkout, and the commands a new user
runs, from a directory outside the checkout: ``ssfile --version``, ``ssfile demo``,
``ssfile view`` in headless Chromium, ``ssfile.to_pandas`` (issue 14).

Building and installing take a minute, so their result is kept in
``$SSFILE_WHEEL_CACHE`` (default: ``<tmp>/ssfile-wheel``) under a hash of every file the
build reads: a second run with the same sources reuses it, a changed source builds anew.
The build's log is kept too, and must hold no setuptools deprecation warning.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = pathlib.Path(os.environ.get("SSFILE_WHEEL_CACHE") or tempfile.gettempdir()) / "ssfile-wheel"
#: what the build reads: a change to any of these means a new build
INPUT_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "CHANGELOG.md")
INPUT_DIRS = ("ssfile", "examples", "spec")
CHROMIUM = "/usr/bin/chromium"


def source_key() -> str:
    h = hashlib.sha256(sys.version.encode())
    paths = [ROOT / name for name in INPUT_FILES] + sorted(ROOT.glob("LICENSE*"))
    for d in INPUT_DIRS:
        paths += sorted(
            p
            for p in (ROOT / d).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".so", ".pyc")
        )
    for p in paths:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0")
        h.update(p.read_bytes() if p.exists() else b"(missing)")
        h.update(b"\0")
    return h.hexdigest()[:20]


def _run(cmd: list[str], log: pathlib.Path, **kw: object) -> None:
    with log.open("ab") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n".encode())
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        tail = log.read_text("utf-8", "replace")[-3000:]
        pytest.fail(f"{cmd[:4]} failed ({done.returncode}); end of {log}:\n{tail}")


def _build_and_install(base: pathlib.Path) -> None:
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    _run(
        [sys.executable, "-m", "build", "--outdir", str(base / "dist"), str(ROOT)],
        base / "build.log",
    )
    _run([sys.executable, "-m", "venv", str(base / "venv")], base / "install.log")
    (wheel,) = (base / "dist").glob("*.whl")
    py = str(base / "venv" / "bin" / "python")
    _run([py, "-m", "pip", "install", f"{wheel}[pandas]"], base / "install.log", cwd=base)
    (base / "ok").write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))


def _prune_old(keep: pathlib.Path) -> None:
    """Builds of other sources that nobody touched for a day."""
    for other in CACHE.iterdir():
        if other.is_dir() and other != keep and time.time() - other.stat().st_mtime > 86_400:
            shutil.rmtree(other, ignore_errors=True)


@pytest.fixture(scope="module")
def installed() -> pathlib.Path:
    """The cache directory: dist/ (sdist and wheel), venv/, build.log, install.log."""
    CACHE.mkdir(parents=True, exist_ok=True)
    base = CACHE / source_key()
    with (CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, e.g. two checkouts' suites
        if not (base / "ok").exists():
            _build_and_install(base)
            _prune_old(base)
    os.utime(base)
    return base


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A working directory with no ssfile/ beside it (the checkout's package cannot leak in)."""
    d = tmp_path_factory.mktemp("user")
    assert not str(d).startswith(str(ROOT))
    return d


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.pop("SSFILE_PURE", None)
    env.pop("SSFILE_VIEWER_DIR", None)
    return env


def user(
    installed: pathlib.Path, cwd: pathlib.Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``args[0]`` from the venv's bin/ (``ssfile``, ``python``) in ``cwd``."""
    exe = str(installed / "venv" / "bin" / args[0])
    return subprocess.run(
        [exe, *args[1:]], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def demo(installed: pathlib.Path, outside: pathlib.Path) -> pathlib.Path:
    done = user(installed, outside, "ssfile", "demo", "demo-out", "--messages", "3000")
    assert done.returncode == 0, done.stderr
    assert "recorded 3000 messages" in done.stdout and "seek to" in done.stdout
    return outside / "demo-out" / "demo.ss"


def test_the_wheel_holds_the_package_data(installed: pathlib.Path) -> None:
    (wheel,) = (installed / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("index.html", "app.js", "style.css"):
        assert f"ssfile/view/static/{name}" in names
    assert "ssfile/py.typed" in names
    assert any(n.startswith("ssfile/_speedups.") and n.endswith(".so") for n in names)
    assert {n.rsplit("/", 1)[-1] for n in names if "/licenses/" in n} == {
        "LICENSE-MIT",
        "LICENSE-APACHE",
    }
    assert not any(n.startswith(("tests/", "bench/", "viewer/")) for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: MIT OR Apache-2.0" in text
    assert "Project-URL: Source, " in text and "Classifier: Typing :: Typed" in text


def test_the_sdist_keeps_notebook_spec_and_sources(installed: pathlib.Path) -> None:
    (sdist,) = (installed / "dist").glob("*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    wanted = {
        "examples/analysis.ipynb",
        "spec/ss-format.md",
        "spec/streamer.md",
        "ssfile/_speedups.c",
        "ssfile/view/static/index.html",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "CHANGELOG.md",
        "README.md",
    }
    assert wanted <= names, wanted - names


def test_no_setuptools_deprecation_in_the_build_log(installed: pathlib.Path) -> None:
    log = (installed / "build.log").read_text("utf-8", "replace")
    assert "Successfully built" in log
    for needle in ("BuildBackendWarning", "SetuptoolsDeprecationWarning", "is deprecated"):
        assert needle not in log, needle


def test_installed_from_the_wheel_not_the_checkout(installed: pathlib.Path, outside) -> None:
    code = "import ssfile, ssfile.codec.accel as a; print(ssfile.__file__); print(a.speedups)"
    done = user(installed, outside, "python", "-c", code)
    assert done.returncode == 0, done.stderr
    where, accel = done.stdout.splitlines()
    assert where.startswith(str(installed / "venv")) and "site-packages" in where
    assert accel != "None"  # the C accelerator was built into the wheel and loads
    direct = list((installed / "venv").rglob("ssfile-*.dist-info/direct_url.json"))
    assert direct and '"editable": true' not in direct[0].read_text()


def test_version_names_the_c_accelerator(installed: pathlib.Path, outside) -> None:
    done = user(installed, outside, "ssfile", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ssfile 0.1.0 (codec: C accelerator)"


def test_to_pandas(installed: pathlib.Path, outside, demo: pathlib.Path) -> None:
    code = (
        "import sys, ssfile\n"
        "df = ssfile.to_pandas(sys.argv[1])\n"
        "print(len(df), sorted(df['stream_key'].unique()))\n"
    )
    done = user(installed, outside, "python", "-c", code, str(demo))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3000 ['clock', 'orders', 'sensors']"


def test_view_answers_its_page_in_chromium(installed: pathlib.Path, outside, demo) -> None:
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run scripts/bootstrap"
    from playwright.sync_api import sync_playwright

    server = subprocess.Popen(
        [str(installed / "venv" / "bin" / "ssfile"), "view", str(demo), "--no-browser"],
        cwd=outside,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        assert " at http://127.0.0.1:" in line, (line, server.stderr.read())  # type: ignore[union-attr]
        url = line.split(" at ", 1)[1].split()[0]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url)
                page.wait_for_selector("#messages tbody tr.msg", timeout=20_000)
                assert page.text_content("#file-name") == "demo.ss"
                assert page.locator("#messages tbody tr.msg").count() > 0
                assert not errors, errors
            finally:
                browser.close()
    finally:
        server.send_signal(2)  # Ctrl-C: the command stops cleanly, exit 130 (spec/cli.md)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 130, server.stderr.read() if server.stderr else ""
