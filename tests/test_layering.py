"""The layering of docs/architecture.md, checked on the real import graph: every import statement
of every module (those inside functions too, relative ones resolved; `if TYPE_CHECKING:` blocks
excepted, they never run), so a lazy import cannot hide a dependency or a cycle."""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from tests.paths import REPO

FOLDERS = ("codecs", "machines", "components", "pipelines")
# Lowest first: a module may import its own layer and the layers below, never one above.
LAYERS = ("fcbench.codecs.common", "fcbench.codecs.chain", "fcbench.codecs", "fcbench.machines", "fcbench.components",
          "fcbench.pipelines")
# The pure layers never talk to the platform (KFP, MLflow, object storage).
BANNED = {"fcbench.codecs": ("kfp", "mlflow", "minio"), "fcbench.machines": ("kfp", "mlflow", "minio")}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(["fcbench", *(parts[:-1] if parts[-1] == "__init__" else parts)])


@cache
def modules(root: Path = REPO) -> dict[str, Path]:
    return {_module_name(root, p): p for folder in FOLDERS for p in sorted((root / folder).rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imported_names(module: str, root: Path = REPO) -> set[str]:
    """Every name `module` imports at run time, as absolute dotted names (x and x.y for `from x import y`)."""
    path = modules(root)[module]
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@cache
def graph(root: Path = REPO) -> dict[str, frozenset[str]]:
    """Module -> the fcbench modules it imports (its own ancestor packages left out: Python imports
    those first whatever the module says)."""
    known = modules(root)
    edges: dict[str, frozenset[str]] = {}
    for module in known:
        targets = set()
        for name in imported_names(module, root):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                targets.add(name)
        edges[module] = frozenset(targets)
    return edges


def layer_of(module: str) -> int:
    return max(i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + "."))


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "codecs" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import fcbench.pipelines.cli\n"
                              "def f():\n    from . import b\n    import fcbench.components.coding\n")
    (pkg / "b.py").write_text("def g():\n    from .a import f\n")
    assert imported_names("fcbench.codecs.pkg.a", tmp_path) == {"fcbench.codecs.pkg", "fcbench.codecs.pkg.b",
                                                                 "fcbench.components.coding", "typing", "typing.TYPE_CHECKING"}
    assert imported_names("fcbench.codecs.pkg.b", tmp_path) == {"fcbench.codecs.pkg.a", "fcbench.codecs.pkg.a.f"}
    assert graph(tmp_path)["fcbench.codecs.pkg.a"] == {"fcbench.codecs.pkg.b"}  # components.coding: not in this tree
    assert cycles(dict(graph(tmp_path))) == [["fcbench.codecs.pkg.a", "fcbench.codecs.pkg.b"]]


def test_no_module_imports_a_layer_above_its_own():
    wrong = [f"{module} ({LAYERS[layer_of(module)]}) imports {target} ({LAYERS[layer_of(target)]})"
             for module, targets in graph().items() for target in sorted(targets) if layer_of(target) > layer_of(module)]
    assert not wrong, "\n".join(wrong)


def test_the_shared_utilities_import_nothing_else_of_fcbench():
    for module, targets in graph().items():
        if layer_of(module) == 0:
            assert all(layer_of(t) == 0 for t in targets), f"{module} imports {sorted(targets)}"


def test_no_import_cycles_even_through_lazy_imports():
    assert cycles(dict(graph())) == []


@pytest.mark.parametrize("layer", sorted(BANNED))
def test_pure_layers_never_import_the_platform(layer):
    banned = BANNED[layer]
    for module in modules():
        if module == layer or module.startswith(layer + "."):
            bad = [n for n in imported_names(module) if any(n == b or n.startswith(b + ".") for b in banned)]
            assert not bad, f"{module} imports {bad}"
