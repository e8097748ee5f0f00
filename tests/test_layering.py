"""The import contract, read off the ast of every module in ssfile/:

* imports point downwards: types/errors <- format <- codec <- file <- streamer
  <- adapters/export <- cli (same-layer imports are fine);
* ``construct`` is imported only in ssfile/format/;
* optional third-party modules are imported only inside functions (or for type checking);
* no import cycles between the modules of ssfile/, counting every import (module level,
  inside functions and for type checking): a cycle means two modules that cannot be
  understood, tested or moved one without the other.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "ssfile"

RANKS = {
    "ssfile.types": 0,
    "ssfile.errors": 0,
    "ssfile.timefmt": 0,
    "ssfile.lines": 0,
    "ssfile.redact": 0,  # secrets masked in every message: imports nothing internal
    "ssfile.display": 0,  # repr/HTML of results: duck-typed, imports only types/errors
    "ssfile._speedups": 0,  # the C accelerator (ssfile/_speedups.c): imports nothing internal
    "ssfile.optional": 0,  # lazy imports of optional dependencies: imports only errors
    "ssfile.platform": 0,  # what differs between operating systems: imports only errors
    "ssfile.format": 1,
    "ssfile.codec": 2,
    "ssfile.file": 3,
    "ssfile.check": 3,
    "ssfile.streamer": 4,
    "ssfile.adapters": 5,
    "ssfile.export": 5,
    "ssfile": 5.5,  # the public facade (ssfile/__init__.py): above every layer it re-exports
    "ssfile.view": 5.8,  # the viewer: below the CLI that starts it (`ssfile view`)
    "ssfile.cli": 6,
    "ssfile.__main__": 7,
}

# upward imports allowed on purpose, each inside a function only
LAZY_UPWARD = {
    # the URI -> backend registry builds adapter backends on demand
    ("ssfile.streamer.registry", "ssfile.adapters"),
}

OPTIONAL = {
    "redis",
    "confluent_kafka",
    "numpy",
    "pandas",
    "aiofiles",
    "playwright",
    "pyarrow",
    "fsspec",
    "s3fs",
    "dask",
    "distributed",
}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> list[pathlib.Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer(name: str) -> str:
    parts = name.split(".")
    for n in (2, 1):
        key = ".".join(parts[:n])
        if key in RANKS:
            return key
    raise AssertionError(f"{name} is in no layer: add it to RANKS in tests/test_layering.py")


def is_module(dotted: str) -> bool:
    rel = pathlib.Path(*dotted.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").is_file() or (
        PACKAGE.parent / rel / "__init__.py"
    ).is_file()


def imports(path: pathlib.Path):
    """(target module, line, inside a function or TYPE_CHECKING block) for each import."""
    return imports_of(path.read_text("utf-8"), module_name(path), path.name == "__init__.py")


def imports_of(source: str, name: str, is_package: bool):
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(source, name)
    found = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (
                lazy
                or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            )
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, lazy) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(up + ([child.module] if child.module else []))
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    found.append((sub if is_module(sub) else base, child.lineno, lazy))
            visit(child, inner)

    visit(tree, False)
    return found


def test_every_module_is_found():
    names = {module_name(p) for p in modules()}
    assert {"ssfile", "ssfile.format.schema", "ssfile.codec.decoder", "ssfile.file.writer"} <= names


@pytest.mark.parametrize("path", modules(), ids=lambda p: module_name(p))
def test_imports_point_downwards(path):
    name = module_name(path)
    mine = layer(name)
    for target, line, lazy in imports(path):
        if not (target == "ssfile" or target.startswith("ssfile.")):
            continue
        theirs = layer(target)
        if RANKS[theirs] <= RANKS[mine]:
            continue
        assert lazy and (name, theirs) in LAZY_UPWARD, (
            f"{path.relative_to(PACKAGE.parent)}:{line}: {mine} imports {target} ({theirs}), "
            "a higher layer"
        )


@pytest.mark.parametrize("path", modules(), ids=lambda p: module_name(p))
def test_construct_only_in_format(path):
    name = module_name(path)
    for target, line, _ in imports(path):
        if target.split(".")[0] == "construct":
            assert name.startswith("ssfile.format."), f"{name}:{line} imports construct"


@pytest.mark.parametrize("path", modules(), ids=lambda p: module_name(p))
def test_optional_dependencies_only_inside_functions(path):
    for target, line, lazy in imports(path):
        if target.split(".")[0] in OPTIONAL:
            assert lazy, f"{module_name(path)}:{line} imports {target} at module level"


def test_the_walker_sees_every_kind_of_import():
    source = (
        "import numpy\nimport construct\nfrom ..file import reader\nfrom . import fast\n"
        "from ..format.crc import crc16\n"
        "def f():\n    import pandas\nif TYPE_CHECKING:\n    import redis\n"
    )
    found = imports_of(source, "ssfile.codec.probe", False)
    assert found == [
        ("numpy", 1, False),
        ("construct", 2, False),
        ("ssfile.file.reader", 3, False),
        ("ssfile.codec.fast", 4, False),
        ("ssfile.format.crc", 5, False),
        ("pandas", 7, True),
        ("redis", 9, True),
    ]
    assert RANKS[layer("ssfile.file.reader")] > RANKS[layer("ssfile.codec.probe")]


def import_graph() -> dict[str, set[str]]:
    """module -> the ssfile modules it imports (every kind of import)."""
    graph: dict[str, set[str]] = {}
    for path in modules():
        targets = graph.setdefault(module_name(path), set())
        for target, _, _ in imports(path):
            if target == "ssfile" or target.startswith("ssfile."):
                targets.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, and self-imports
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"a"}}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
