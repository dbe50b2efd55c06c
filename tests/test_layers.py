"""The package's layers, read from the source: no import cycle, and every import points down.

Imports inside functions count (they are how heavy modules load lazily, and a lazy import
still ties two modules together). `from P import name` imports P.name when that is a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own layer or lower ones; report and integrations
# (both 5) may not import each other.
LAYERS = {
    "base": 0,
    "model": 1,
    "runner": 2,
    "store": 3,
    "analysis": 4,
    "report": 5,
    "integrations": 5,
    "workflows": 6,
    "cli": 7,
}
BASE = {"mlci", "mlci.errors", "mlci.redact", "mlci.resources", "mlci.faults"}


def modules(package_dir: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the mlci modules it imports, anywhere in its body."""

    def resolve(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges |= {resolve(a.name) for a in node.names if a.name.split(".")[0] == "mlci"}
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = (base + ("." + node.module if node.module else "")) if node.level else (node.module or "")
                if source.split(".")[0] != "mlci":
                    continue
                edges |= {f"{source}.{a.name}" if f"{source}.{a.name}" in mods else resolve(source) for a in node.names}
        graph[name] = edges - {name, ""}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> str:
    if module in BASE or module == "mlci.__main__":
        return "base" if module in BASE else "cli"
    return module.split(".")[1]


def violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            a, b = layer(src), layer(dst)
            if LAYERS[b] > LAYERS[a] or (LAYERS[a] == LAYERS[b] and a != b):
                out.append(f"{src} ({a}) imports {dst} ({b})")
    return out


def test_every_module_is_in_a_layer():
    assert {layer(m) for m in modules(ROOT / "mlci")} <= set(LAYERS)


def test_mlci_has_no_import_cycle():
    assert cycles(imports(modules(ROOT / "mlci"))) == []


def test_every_import_points_down_the_layers():
    assert violations(imports(modules(ROOT / "mlci"))) == []


def test_the_checker_sees_cycles_and_upward_imports_inside_functions(tmp_path):
    pkg = tmp_path / "mlci"
    for rel, text in {
        "__init__.py": "",
        "store/__init__.py": "",
        "store/a.py": "def f():\n    from mlci.store import b\n",
        "store/b.py": "from mlci.store.a import f\n",
        "model/__init__.py": "",
        "model/v.py": "def g():\n    import mlci.workflows.w\n",
        "workflows/__init__.py": "",
        "workflows/w.py": "from mlci.model import v\n",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    graph = imports(modules(pkg))
    assert sorted(cycles(graph)) == [["mlci.model.v", "mlci.workflows.w"], ["mlci.store.a", "mlci.store.b"]]
    assert violations(graph) == ["mlci.model.v (model) imports mlci.workflows.w (workflows)"]
