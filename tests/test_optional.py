"""ssfile.optional: a missing optional dependency names its extra; a Ctrl-C while one loads
stays a Ctrl-C, however a library or the interpreter wrapped it (found by test_sigint)."""

from __future__ import annotations

import sys
import types

import pytest

from ssfile.cli import EXIT_INTERRUPTED, main
from ssfile.errors import MissingDependency
from ssfile.optional import interrupted, require


class _Loader:
    """Makes the module ``name`` by running ``body`` (a function of the new module)."""

    def __init__(self, name: str, body) -> None:  # type: ignore[no-untyped-def]
        self.name, self.body = name, body

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        from importlib.machinery import ModuleSpec

        return ModuleSpec(name, self) if name == self.name else None

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        self.body(module)


def _install(monkeypatch, name: str, body) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Loader(name, body), *sys.meta_path])


def _interrupted_c_init(module: types.ModuleType) -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:  # PyCapsule_Import: the import's failure becomes this
        raise ImportError('PyCapsule_Import could not import module "datetime"') from None


def _interrupted_class_body(module: types.ModuleType) -> None:
    class Interrupting:
        def __set_name__(self, owner, name):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt  # the interpreter wraps it in a RuntimeError

    class Client:  # like redis-py's Redis with its cached_property
        dispatcher = Interrupting()


def _missing(module: types.ModuleType) -> None:
    raise ModuleNotFoundError(f"No module named {module.__name__!r}", name=module.__name__)


def _broken_inside(module: types.ModuleType) -> None:
    raise ModuleNotFoundError("No module named 'its_own_dependency'", name="its_own_dependency")


@pytest.mark.parametrize("body", [_interrupted_c_init, _interrupted_class_body])
def test_a_ctrl_c_while_a_library_loads_is_a_ctrl_c(monkeypatch, body):
    _install(monkeypatch, "ssfile_test_lib", body)
    with pytest.raises(KeyboardInterrupt):
        require("ssfile_test_lib", "redis")


def test_a_missing_library_names_the_extra(monkeypatch):
    _install(monkeypatch, "ssfile_test_lib", _missing)
    with pytest.raises(MissingDependency, match=r"pip install 'ssfile\[kafka\]'"):
        require("ssfile_test_lib", "kafka")


def test_a_library_whose_own_import_fails_shows_that(monkeypatch):
    _install(monkeypatch, "ssfile_test_lib", _broken_inside)
    with pytest.raises(ModuleNotFoundError, match="its_own_dependency") as info:
        require("ssfile_test_lib", "kafka")
    assert not isinstance(info.value, MissingDependency)


def test_interrupted_follows_causes_and_contexts():
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise RuntimeError("wrapped") from ki
    except RuntimeError as err:
        assert interrupted(err)
    assert not interrupted(RuntimeError("plain"))


def test_a_command_interrupted_inside_a_library_exits_130(monkeypatch, tmp_path, capsys):
    # `ssfile dump redis://...` interrupted while redis-py loaded: the interpreter's
    # RuntimeError around the KeyboardInterrupt was a traceback with exit 1
    import ssfile.cli.dump as dump

    def run(args):  # type: ignore[no-untyped-def]
        require("ssfile_test_lib", "redis")

    _install(monkeypatch, "ssfile_test_lib", _interrupted_class_body)
    monkeypatch.setattr(dump, "run", run)
    code = main(["dump", "redis://127.0.0.1:1/k", "--output", str(tmp_path / "o.ss")])
    assert code == EXIT_INTERRUPTED
    assert "Traceback" not in capsys.readouterr().err


def test_a_command_whose_library_wraps_a_ctrl_c_exits_130(monkeypatch, tmp_path, capsys):
    import ssfile.cli.dump as dump

    def run(args):  # type: ignore[no-untyped-def]
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise RuntimeError("a library's own wrapping") from ki

    monkeypatch.setattr(dump, "run", run)
    code = main(["dump", "redis://127.0.0.1:1/k", "--output", str(tmp_path / "o.ss")])
    assert code == EXIT_INTERRUPTED
    assert "Traceback" not in capsys.readouterr().err
