"""The import graph points one way (cli -> stages -> train/eval -> families -> models/accel ->
trace/ops) and has no circles, counting imports inside functions too (they hide circles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seqbench"

# Lowest first; a module may import its own layer or any below, never one above. The longest
# matching prefix decides a module's layer.
LAYERS: list[tuple[str, ...]] = [
    # 0: the foundation every layer uses
    (
        "seqbench",
        "seqbench.errors",
        "seqbench.paths",
        "seqbench.progress",
        "seqbench.atomic",
        "seqbench.registry",
        "seqbench.ops",
        "seqbench.trace",
    ),
    # 1: data and numbers with no model in them
    (
        "seqbench.config",
        "seqbench.data",
        "seqbench.metrics",
        "seqbench.search",
        "seqbench.results",
        "seqbench.suites",
        "seqbench.user_tasks",
        "seqbench.run_log",
    ),
    # 2: models and accelerators, each over ops/trace only
    ("seqbench.models", "seqbench.accel", "seqbench.decode", "seqbench.external"),
    # 3: task families (and checkpoints and their bundles, which rebuild registered models)
    ("seqbench.families", "seqbench.checkpoints", "seqbench.bundle", "seqbench.bundle_verify"),
    # 4: what a stage calls: training, evaluation, the executor, the leaderboards
    (
        "seqbench.train",
        "seqbench.evaluate",
        "seqbench.earlier_records",
        "seqbench.executor",
        "seqbench.report",
        "seqbench.price",
        "seqbench.score",
    ),
    # 5: the stages decide what runs (portable: the export/import/eval --checkpoint stages)
    ("seqbench.stages", "seqbench.portable", "seqbench.sweep"),
    # 6: the command line
    ("seqbench.cli",),
]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the seqbench modules it imports anywhere in its source."""
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` imports the submodule when it is one, else pkg itself.
                subs = {f"{node.module}.{alias.name}" for alias in node.names}
                found = subs & set(paths)
                targets |= found or {node.module}
                if found != subs:
                    targets.add(node.module)
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def layer_of(module: str) -> int:
    best = (-1, -1)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), index))
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_circle_and_an_upward_edge(tmp_path: Path) -> None:
    pkg = tmp_path / "seqbench"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "ops.py").write_text("def f():\n    from seqbench.cli import main\n")
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "cli" / "main.py").write_text("from seqbench import ops\n")
    graph = import_graph(pkg)
    assert graph["seqbench.ops"] == {"seqbench.cli.main"}
    assert cycles(graph) == [["seqbench.cli.main", "seqbench.ops"]]
    assert layer_of("seqbench.ops") < layer_of("seqbench.cli.main")


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_no_module_imports_a_layer_above_it() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(source)
    ]
    assert upward == []


@pytest.mark.parametrize("module", ["seqbench.executor", "seqbench.evaluate"])
def test_the_layers_below_stages_do_not_call_up(module: str) -> None:
    assert "seqbench.stages" not in import_graph()[module]
