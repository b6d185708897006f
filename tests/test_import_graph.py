"""The import graph of gateway/, schema/ and plugins/: no circles, parts tied one way, layers one way.

Built from the source (AST), so it sees what Python would import: top-level imports and imports
inside functions both count (a circle hidden in a function is still a circle); imports under
``if TYPE_CHECKING:`` do not (they are never executed). Tests and migration revisions are left out.

Run as a script to print the graph's circles and two-way part ties:
    python tests/test_import_graph.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "schema", "plugins")
LAYER = {"gateway": 0, "schema": 1, "plugins": 2}  # a module may import its own layer or a lower one

# Two-way ties between core parts that are not broken yet, each with the reason. The test fails when
# a listed tie is gone, so the list only shrinks.
KNOWN_PART_TIES: dict[frozenset[str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT / package).parts
            if "tests" in relative or (package != "gateway" and "migrations" in relative):
                continue
            if package == "gateway" and relative[:2] == ("migrations", "versions"):
                continue
            found[_module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports at run time (``from a import b`` gives ``a.b``)."""
    names: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.orelse:
                    visit_one(statement)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.update(f"{base}.{alias.name}" for alias in node.names)
        visit(node)

    visit(ast.parse(path.read_text(), str(path)))
    return names


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = project_modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {resolve(name) for name in _imported_names(module, path)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles: groups of two or more nodes that reach each other (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def part_of(module: str) -> str | None:
    """``schema.<part>`` for a module inside a core part's package, ``plugins.<name>`` for a plugin's."""
    pieces = module.split(".")
    if len(pieces) > 1 and pieces[0] in ("schema", "plugins") and (ROOT / pieces[0] / pieces[1]).is_dir():
        return ".".join(pieces[:2])
    return None


def part_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    parts: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = part_of(module)
        if source is None:
            continue
        parts.setdefault(source, set())
        for target in targets:
            other = part_of(target)
            if other is not None and other != source:
                parts[source].add(other)
    return parts


def edges_between(graph: dict[str, set[str]], parts: set[str]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                  if part_of(a) in parts and part_of(b) in parts and part_of(a) != part_of(b))


def two_way_ties(parts: dict[str, set[str]]) -> set[frozenset[str]]:
    return {frozenset({a, b}) for a, targets in parts.items() for b in targets if a in parts.get(b, ())}


# ---------------------------------------------------------------- tests
def test_the_graph_sees_function_level_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("from typing import TYPE_CHECKING\nimport gateway.db\nif TYPE_CHECKING:\n"
                      "    from gateway.runtime import Runtime\n"
                      "def f():\n    from gateway.relay import encode_id\n")
    names = _imported_names("gateway.sample", source)
    assert "gateway.relay.encode_id" in names and "gateway.db" in names
    assert not any(name.startswith("gateway.runtime") for name in names)
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles_between_modules() -> None:
    graph = import_graph()
    circles = strongly_connected(graph)
    described = ["; ".join(f"{a} -> {b}" for a in circle for b in sorted(graph[a]) if b in circle)
                 for circle in circles]
    assert not circles, "import circles (move the shared thing down):\n" + "\n".join(described)


def test_core_parts_depend_on_each_other_one_way() -> None:
    graph = import_graph()
    parts = {name: targets for name, targets in part_graph(graph).items() if name.startswith("schema.")}
    ties = two_way_ties(parts)
    unexpected = ties - set(KNOWN_PART_TIES)
    assert not unexpected, "two-way ties between parts:\n" + "\n".join(
        f"{' <-> '.join(sorted(tie))}: {edges_between(graph, set(tie))}" for tie in unexpected)
    gone = set(KNOWN_PART_TIES) - ties
    assert not gone, f"these ties are broken now: remove them from KNOWN_PART_TIES: {sorted(map(sorted, gone))}"
    # longer circles among parts (a -> b -> c -> a) once the known two-way ties are set aside
    loose = {a: {b for b in targets if frozenset({a, b}) not in KNOWN_PART_TIES} for a, targets in parts.items()}
    assert strongly_connected(loose) == []


def test_layers_point_one_way_and_no_plugin_imports_another() -> None:
    wrong = []
    for module, targets in import_graph().items():
        layer = module.split(".")[0]
        for target in targets:
            if LAYER[target.split(".")[0]] > LAYER[layer]:
                wrong.append(f"{module} -> {target} (plugins -> schema -> gateway, never back)")
            elif layer == "plugins" and target.startswith("plugins.") and part_of(target) not in (None, part_of(module)):
                wrong.append(f"{module} -> {target} (a plugin imports no other plugin; use a hook)")
    assert not wrong, "\n".join(sorted(wrong))


if __name__ == "__main__":  # pragma: no cover
    graph = import_graph()
    for circle in strongly_connected(graph):
        print("circle:", " ".join(circle))
        for a in circle:
            for b in sorted(graph[a]):
                if b in circle:
                    print(f"    {a} -> {b}")
    for tie in sorted(map(sorted, two_way_ties(part_graph(graph)))):
        print("two-way part tie:", " <-> ".join(tie))
        for edge in edges_between(graph, set(tie)):
            print("   ", edge)
    sys.exit(0)
