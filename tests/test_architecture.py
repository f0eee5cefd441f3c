"""The package's layout rules, checked on every run (docs/architecture.md explains them).

- no import cycle between modules, counting imports inside functions and under TYPE_CHECKING:
  a cycle hidden in a function still ties two modules together;
- no module over 400 lines, at most 12 modules directly in pytest_deeplab/;
- TensorFlow is imported only inside runtime/, and importing the plugin imports neither
  TensorFlow, numpy nor Pillow (`pytest --help` must not pay for them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_deeplab"
MAX_LINES = 400
MAX_TOP_LEVEL = 12


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Every module of ours that `path` imports, wherever the import statement sits."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports pkg.mod when that is a module, else a name of pkg
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES
                     else node.module for a in node.names]
        else:
            continue
        found.update(n for n in names if n in MODULES)
    return found


GRAPH = {name: imported_modules(path) - {name} for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_imports_inside_functions() -> None:
    assert "pytest_deeplab.session" in GRAPH["pytest_deeplab.stash"]  # imported lazily there


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_400_lines(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines: split it by concern"


def test_few_modules_directly_in_the_package() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_LEVEL, top


def test_tensorflow_is_imported_only_inside_runtime() -> None:
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("pytest_deeplab.runtime"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m == "tensorflow" or m.startswith("tensorflow.") for m in modules):
                offenders.append(f"{path}:{node.lineno}")
    assert offenders == []


def test_importing_the_plugin_loads_no_heavy_library() -> None:
    code = ("import sys, pytest_deeplab.plugin; "
            "print([m for m in ('tensorflow', 'numpy', 'PIL') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def format_comparisons(source: str) -> list[int]:
    """Lines that compare something with a format's name (`fmt == "tflite"`, `in (...)`)."""
    from pytest_deeplab.runtime.formats import format_names

    names = set(format_names())
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            texts = {c.value for side in sides for c in ast.walk(side)
                     if isinstance(c, ast.Constant) and isinstance(c.value, str)}
            if texts & names:
                lines.append(node.lineno)
    return lines


def test_the_format_comparison_finder_finds_one() -> None:
    assert format_comparisons('if fmt == "tflite":\n    pass\n') == [1]
    assert format_comparisons('ok = spec.format in ("frozen_graph", "saved_model")\n') == [1]
    assert format_comparisons('fmt = "tflite"\n') == []


def test_no_module_outside_runtime_formats_compares_format_names() -> None:
    """A model format is one class (runtime/formats/): everything else asks it, never `==`."""
    formats = PACKAGE / "runtime" / "formats"
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if formats not in path.parents
        and (lines := format_comparisons(path.read_text(encoding="utf-8")))
    }
    assert found == {}
