"""The data's path is the code's path: imports point one way, and no module imports itself back.

config → clients (db, kafka, s3) → stack runtime → domain (schema, catalogue, geo, generators, fraud,
maps) → pipelines (cdc, warehouse, lake) → what uses them all (the composition root, the lessons'
checks, the course runner, the CLI). A module may import its own layer or a lower one, never a
higher one, and the import graph has no cycle. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "jornada"
LAYERS = [
    {"config", "waits", "versions", "kernel"},
    {"db", "kafka", "s3"},
    {"stack"},
    {"catalog", "geo", "schema", "generators", "fraud", "fraud_metrics", "maps", "browser"},
    {"cdc", "warehouse", "lake"},
    {"services", "checks", "course", "exercises", "cli", "orchestration", "lab", "scratch"},
]


def module_name(path: Path) -> str:
    parts = ["jornada", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every jornada module this file imports, resolved to a full dotted name."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "jornada"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "jornada":
                continue
            found.add(target)
            for alias in node.names:  # `from . import cdc` imports the module jornada.cdc
                candidate = f"{target}.{alias.name}"
                if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or \
                        (PACKAGE.parent / candidate.replace(".", "/")).is_dir():
                    found.add(candidate)
    return found - {name}


def layer_of(module: str) -> int | None:
    top = module.split(".")[1] if module.count(".") else None
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    return None


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_every_module_has_a_layer():
    missing = sorted(m for m in GRAPH if m != "jornada" and layer_of(m) is None)
    assert not missing, f"add these to LAYERS in tests/test_architecture.py: {missing}"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in graph.items():
        if module == "jornada":
            continue
        for target in targets:
            if target != "jornada" and layer_of(target) > layer_of(module):
                found.append(f"{module} (layer {layer_of(module)}) imports {target} "
                             f"(layer {layer_of(target)})")
    return sorted(found)


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            # importing a submodule runs its package's __init__ first: not an edge of its own
            if w not in graph or v.startswith(w + "."):
                continue
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
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_module_imports_a_higher_layer():
    found = upward_imports(GRAPH)
    assert not found, "upward imports:\n  " + "\n  ".join(found)


def test_the_import_graph_has_no_cycle():
    assert not cycles_in(GRAPH), f"import cycles: {cycles_in(GRAPH)}"


def test_the_checks_find_what_they_look_for(tmp_path):
    """A planted upward import (inside a function) and a planted cycle are both reported."""
    fake = PACKAGE / "stack" / "_planted_for_test.py"
    fake.write_text("def f():\n    from .. import cdc\n")
    try:
        planted = imports_of(fake)
    finally:
        fake.unlink()
    assert "jornada.cdc" in planted
    assert upward_imports({"jornada.stack._planted_for_test": planted})
    assert cycles_in({"jornada.geo": {"jornada.maps"}, "jornada.maps": {"jornada.geo"}}) == [
        ["jornada.geo", "jornada.maps"]]
